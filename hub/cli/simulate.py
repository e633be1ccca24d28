"""``hub simulate``: a province's population registry and department records, with ground truth."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.table import Table

    from producers.simulation import SimulationSummary

__all__ = ["simulate"]


def simulate(
    citizens: Annotated[
        int, typer.Option(min=1, help="Citizens in the population registry (the province has ~2.7 M).")
    ] = 2_700_000,
    records: Annotated[
        int, typer.Option(min=0, help="Department records to simulate, all departments.")
    ] = 500_000,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same registry and records.")] = 74,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Directory for registry.csv, ground_truth.csv and exports. Default: HUB_DATA_DIR/simulation."
        ),
    ] = None,
    publish: Annotated[bool, typer.Option(help="Publish the records to the hub's department topics.")] = True,
    export_records: Annotated[
        bool,
        typer.Option(help="Also write each department's records as JSON lines (input for `hub publish`)."),
    ] = False,
    dirt: Annotated[
        float,
        typer.Option(min=0.0, help="Scale the default dirt mix (0 gives clean records, 2 twice as dirty)."),
    ] = 1.0,
    bundles: Annotated[bool, typer.Option(help="Include Đề án 06 birth and death bundles.")] = True,
    start: Annotated[
        str, typer.Option(help="First day of the simulated period (YYYY-MM-DD).")
    ] = "2026-11-01",
    days: Annotated[int, typer.Option(min=1, max=366, help="Length of the simulated period in days.")] = 7,
) -> None:
    """Simulate a province: population registry, dirty records, ground truth.

    Writes OUT/registry.csv (the population registry) and OUT/ground_truth.csv
    (record id → the outcome reconciliation should reach), then publishes the
    records to the hub: HUB_KAFKA_BOOTSTRAP, or, unset, an embedded broker
    that lives only as long as this command (a publishing benchmark).

    Prints what was produced and how fast.
    """
    from contextlib import ExitStack

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hub.cli.console import err, print_table, signals_set
    from hub.errors import InputError
    from hub.metrics import HubMetrics, MetricsServer
    from hub.province import load_province
    from hub.runtime import Runtime
    from hub.service import publishers_for
    from hub.settings import get_settings
    from producers.simulate import BundleProfile, DirtProfile
    from producers.simulation import SimulationPlan, run_simulation

    try:
        first_day = date.fromisoformat(start)
    except ValueError:
        raise InputError(f"--start must be a date like 2026-11-01, not {start!r}") from None
    settings = get_settings()
    plan = SimulationPlan(
        province=load_province(settings.province_code),
        citizens=citizens,
        records=records,
        seed=seed,
        dirt=DirtProfile().scaled(dirt),
        bundles=BundleProfile() if bundles else BundleProfile(0.0, 0.0),
        start=first_day,
        days=days,
        out_dir=(out or settings.data_dir / "simulation").resolve(),  # printed whole, usable from anywhere
        export_records=export_records,
    )
    with ExitStack() as stack, signals_set(threading.Event()) as interrupted:
        publishers = None
        if publish:
            runtime = stack.enter_context(Runtime(settings))
            runtime.prepare()
            metrics = HubMetrics()
            server = stack.enter_context(MetricsServer(metrics, settings.metrics_host, settings.metrics_port))
            publishers = publishers_for(runtime, metrics)
            where = runtime.clients.bootstrap
            note = "" if settings.kafka_bootstrap else " (embedded: gone when this command ends)"
            err.print(
                f"publishing to [bold]{where}[/]{note}; database {settings.database_description}; "
                f"metrics {server.url}",
                soft_wrap=True,
            )
        bar = stack.enter_context(
            Progress(
                TextColumn("{task.description:<22}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=False,
            )
        )
        tasks = {
            "population": bar.add_task("population", total=citizens),
            "registry": bar.add_task("registry.csv", total=citizens),
            "records": bar.add_task("records", total=records),
        }
        summary = run_simulation(plan, publishers, lambda what, n: bar.advance(tasks[what], n), interrupted)
    for table in simulation_tables(summary):
        print_table(table, whole=(3,) if table.title == "hub simulate" else ())


def simulation_tables(summary: SimulationSummary) -> tuple[Table, Table, Table]:
    """What ``hub simulate`` produced: files, records by department and dirt, publishing rate."""
    from rich.table import Table

    from producers.simulate import EXPECTED

    files = Table(title="hub simulate", show_header=True)
    files.add_column("what")
    files.add_column("how many", justify="right")
    files.add_column("seconds", justify="right")
    files.add_column("where / rate")
    files.add_row(
        "population registry",
        f"{summary.citizens:,}",
        f"{summary.population_seconds + summary.registry_seconds:.1f}",
        str(summary.registry_file or "(not written)"),
    )
    files.add_row(
        "department records",
        f"{summary.records:,}",
        f"{summary.records_seconds:.1f}",
        f"{summary.records_per_second:,.0f} records/s",
    )
    files.add_row("  in Đề án 06 bundles", f"{summary.bundled:,}", "", "")
    files.add_row(
        "ground truth", f"{summary.records:,}", "", str(summary.ground_truth_file or "(not written)")
    )
    for department, path in summary.record_files.items():
        files.add_row(f"  {department} export", f"{summary.by_department[department]:,}", "", str(path))

    departments = Table(title="records by department")
    departments.add_column("department")
    departments.add_column("records", justify="right")
    departments.add_column("published", justify="right")
    departments.add_column("delivered", justify="right")
    departments.add_column("failed", justify="right")
    for department, count in sorted(summary.by_department.items()):
        sent = summary.published.get(department)
        departments.add_row(
            department,
            f"{count:,}",
            f"{sent.sent:,}" if sent else "-",
            f"{sent.delivered:,}" if sent else "-",
            f"{sent.failed:,}" if sent else "-",
        )

    dirt = Table(title="dirt and expected outcome (ground truth)")
    dirt.add_column("dirt")
    dirt.add_column("records", justify="right")
    dirt.add_column("share", justify="right")
    dirt.add_column("expected outcome")
    for kind, count in summary.by_dirt.most_common():
        dirt.add_row(kind, f"{count:,}", f"{count / max(summary.records, 1):.2%}", EXPECTED[kind])
    return files, departments, dirt
