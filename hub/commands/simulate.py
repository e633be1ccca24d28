"""``hub simulate``: a province's population registry and department records, with ground truth."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

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

    from hub.cli import _signals_set, err
    from hub.cli import out as stdout
    from hub.errors import InputError
    from hub.province import load_province
    from hub.report import simulation_table
    from hub.runtime import Runtime
    from hub.settings import get_settings
    from producers.publisher import publishers_for
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
        out_dir=out or settings.data_dir / "simulation",
        export_records=export_records,
    )
    with ExitStack() as stack, _signals_set(threading.Event()) as interrupted:
        publishers = None
        if publish:
            runtime = stack.enter_context(Runtime(settings, need_database=True))
            runtime.prepare()
            publishers = publishers_for(runtime)
            where = runtime.clients.bootstrap
            note = "" if settings.kafka_bootstrap else " (embedded: gone when this command ends)"
            err.print(f"publishing to [bold]{where}[/]{note}")
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
    stdout.print(simulation_table(summary))
