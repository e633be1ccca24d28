"""``hub bench``: measure the hub's speed targets and print the figures."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["bench"]

_SUITES = (
    "registry",
    "encode",
    "publish",
    "registry-load",
    "reconcile",
    "indicators",
    "forward",
    "archive",
    "metrics-cost",
)


def bench(
    only: Annotated[
        list[str] | None, typer.Option(help=f"Run only these benchmarks ({', '.join(_SUITES)}); repeatable.")
    ] = None,
    citizens: Annotated[int, typer.Option(min=1, help="Population size.")] = 2_700_000,
    records: Annotated[int, typer.Option(min=1000, help="Records to simulate and publish.")] = 500_000,
    seed: Annotated[int, typer.Option(help="Seed for the simulated data.")] = 74,
    processes: Annotated[
        int, typer.Option(min=1, help="Reconciliation processes in one consumer group.")
    ] = 2,
    reconcile_records: Annotated[int, typer.Option(min=1000, help="Records to reconcile.")] = 1_000_000,
    faust_records: Annotated[
        int, typer.Option(min=0, help="Records for the per-record faust baseline (0: skip it).")
    ] = 20_000,
    forward_records: Annotated[
        int, typer.Option(min=1000, help="Records to forward to the exchange.")
    ] = 100_000,
    postgres_url: Annotated[
        str, typer.Option(help="PostgreSQL for the exchange's ledger in the forward benchmark ('' to skip).")
    ] = "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    outage_seconds: Annotated[
        float,
        typer.Option(min=1.0, help="Length of the steady-rate and outage phases of the forward benchmark."),
    ] = 10.0,
    archive_records: Annotated[
        int, typer.Option(min=1000, help="Department records to publish and archive, then replay a week of.")
    ] = 400_000,
    repeat: Annotated[
        int,
        typer.Option(
            min=1,
            help="Publishing runs, forwarding windows and archiver runs; the best and the median are shown.",
        ),
    ] = 3,
) -> None:
    """Run the benchmarks and print each figure with its target.

    registry: generate the population registry, write registry.csv (< 60 s).

    encode: Avro encoding per record, fastavro against the compiled encoder.

    registry-load: `hub registry load` of the registry file into the database
    (HUB_DATABASE_URL, or a temporary SQLite file), and the snapshot (< 60 s).

    reconcile: reconciliation processes through records already published,
    against the full registry; the per-record faust agent for comparison.

    indicators: the indicators stage, alone, through the reconciled and
    rejected records of --reconcile-records (reconciled first, not timed);
    `hub report` over the month of them (< 2 s each).

    forward: reconciled records to the national exchange (its own process,
    its ledger on SQLite, then PostgreSQL); latency at a steady 2,000
    records/s; the forwarder's memory through an outage, and the drain after.

    archive: the archiver (its own process) through --archive-records
    department records, and its CPU per record (>= 80,000 records/s); `verify`
    of that archive (>= 1 GB/min); the same records stamped over a week, and
    one day of them replayed by time range (in seconds).

    metrics-cost: the reconcile benchmark with metrics on and off
    (HUB_METRICS_ENABLED=false: every metric counts nothing), twice each,
    alternating; what the metrics cost (<= 3 %).

    publish: simulate and publish records from this one process, validation
    and Avro encoding included, into the broker (embedded unless
    HUB_KAFKA_BOOTSTRAP is set); target ≥ 50,000 records/s.

    Noise only slows a run down: the publishing run is repeated (--repeat)
    and the best run is checked against the target, the median shown too; the
    forwarder goes through --repeat windows of --forward-records in one run,
    and its best window is checked, the median shown too; the archiver reads
    the same records --repeat times, each into a fresh archive.
    """
    from rich.table import Table

    from hub.bench.publish import Figure, bench_encoding, bench_publish, bench_registry
    from hub.cli.console import err, print_table
    from hub.errors import InputError
    from hub.province import load_province
    from hub.settings import get_settings

    chosen = tuple(only or _SUITES)
    unknown = sorted(set(chosen) - set(_SUITES))
    if unknown:
        raise InputError(f"unknown benchmark {', '.join(unknown)}; benchmarks are {', '.join(_SUITES)}")
    settings = get_settings()
    province = load_province(settings.province_code)
    figures: list[Figure] = []
    if "registry" in chosen:
        err.print("registry: generating the population and writing registry.csv ...")
        figures += bench_registry(province, citizens, seed)
    if "encode" in chosen:
        err.print("encode: fastavro against the compiled encoder ...")
        figures += bench_encoding(province, 50_000, seed)
    if "registry-load" in chosen:
        import tempfile

        from hub.bench.registry import bench_registry_load

        with tempfile.TemporaryDirectory() as tmp:
            url = settings.database_url or f"sqlite:///{tmp}/registry.db"
            err.print(
                f"registry-load: {citizens:,} rows into {url.split('@')[-1]} (replacing the registry there)"
            )
            figures += bench_registry_load(url, citizens, seed)
    if "reconcile" in chosen:
        from hub.bench.reconcile import bench_reconcile

        err.print(f"reconcile: {processes} process(es) through {reconcile_records:,} records ...")
        figures += bench_reconcile(
            settings, province, citizens, reconcile_records, seed, processes, faust_records
        )
    if "indicators" in chosen:
        from hub.bench.indicators import bench_indicators

        err.print(f"indicators: {reconcile_records:,} records reconciled, then counted ...")
        figures += bench_indicators(settings, province, citizens, reconcile_records, seed)
    if "forward" in chosen:
        from hub.bench.forward import bench_forward

        err.print(f"forward: {forward_records:,} reconciled records to the exchange's ledger ...")
        figures += bench_forward(settings, forward_records, postgres_url or None, outage_seconds, repeat)
    if "archive" in chosen:
        from hub.bench.archive import bench_archive

        err.print(f"archive: {archive_records:,} department records archived, verified, replayed ...")
        figures += bench_archive(settings, province, citizens, archive_records, seed, repeat)
    if "metrics-cost" in chosen:
        from hub.bench.reconcile import bench_metrics_cost

        err.print(f"metrics-cost: reconcile {reconcile_records:,} records with metrics on, off, on, off ...")
        figures += bench_metrics_cost(settings, province, citizens, reconcile_records, seed, processes)
    if "publish" in chosen:
        err.print(f"publish: simulating and publishing {records:,} records ...")
        figures += bench_publish(settings, province, citizens, records, seed, repeat)
    table = Table(title="hub bench")
    for column in ("figure", "value", "unit", "target", "met"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for f in figures:
        met = "" if f.met is None else ("yes" if f.met else "NO")
        table.add_row(
            f.name, f"{f.value:,.2f}" if f.value < 100 else f"{f.value:,.0f}", f.unit, f.target, met
        )
    print_table(table)  # piped (`| tee`), plain tab-separated lines that keep every figure's name whole
