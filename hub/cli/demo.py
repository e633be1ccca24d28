"""``hub demo``: the whole flow on a small province sample, ending with a summary."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from hub.cli.console import err, out, signals_set
from hub.errors import HubError, Interrupted

if TYPE_CHECKING:  # the flow's own imports are made when it runs, so `hub --help` stays fast
    from pathlib import Path

    from hub.metrics import HubMetrics
    from hub.runtime import Runtime
    from hub.service import Service
    from hub.settings import Settings
    from hub.stages.indicators.formulas import Ratio
    from producers.population import Population

__all__ = ["DemoSummary", "demo", "run_demo", "summary_table"]


def demo(
    citizens: Annotated[int, typer.Option(min=10, help="Citizens in the sample registry.")] = 3000,
    records: Annotated[int, typer.Option(min=1, help="Records per department.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same data.")] = 74,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 90.0,
) -> None:
    """Run the whole flow on a small province sample and print a summary.

    Starts the embedded broker (unless HUB_KAFKA_BOOTSTRAP is set), the mock national
    exchange (unless HUB_EXCHANGE_URL is set) and a /metrics endpoint; publishes simulated
    records for all four departments; reconciles them against the population registry;
    computes the reuse rate; forwards reconciled records to the exchange. Ctrl-C stops
    everything it started.
    """
    from hub.settings import get_settings

    with signals_set(threading.Event()) as interrupted:
        summary = run_demo(
            get_settings(), citizens, records, seed, console=err, timeout=timeout, interrupted=interrupted
        )
    out.print(summary_table(summary))


@dataclass
class DemoSummary:
    """What the demo did, per department and overall."""

    published: dict[str, int] = field(default_factory=dict)
    reconciled: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    reuse: dict[str, Ratio] = field(default_factory=dict)
    forwarded: int = 0  # reconciled records the forward stage consumed
    acknowledged: dict[str, int] = field(default_factory=dict)  # by status: ACCEPTED, DUPLICATE, REJECTED
    dead_lettered: int = 0  # by the forward stage: refused by the exchange, or unreadable
    exchange_ledger: int | None = None  # records in the mock exchange's ledger, when the demo started it
    live_reuse: Ratio | None = None  # the province's reuse rate as the indicators' faust tables hold it
    archive: str | None = None  # what `hub audit verify` says of the archive after the demo
    seconds: float = 0.0
    bootstrap: str = ""
    metrics_url: str = ""


def _sample(metrics: HubMetrics, name: str, labels: dict[str, str]) -> int:
    return int(metrics.registry.get_sample_value(name, labels) or 0)


def run_demo(
    settings: Settings,
    citizens: int = 3000,
    per_department: int = 500,
    seed: int = 74,
    console: Console | None = None,
    timeout: float = 90.0,
    interrupted: threading.Event | None = None,
) -> DemoSummary:
    """Start what is needed, publish, reconcile, compute, forward; return the summary."""
    from contextlib import ExitStack

    from hub.cli.ops import start_page
    from hub.metrics import HubMetrics, MetricsServer
    from hub.province import load_province
    from hub.registry import RegistryStore
    from hub.runtime import Runtime
    from hub.service import Service
    from hub.topics import DEPARTMENT_TOPICS, Department
    from producers.population import generate_population

    console = console or Console(stderr=True)
    interrupted = interrupted or threading.Event()
    started = time.monotonic()
    metrics = HubMetrics()  # the summary reads them, whatever HUB_METRICS_ENABLED says
    summary = DemoSummary()
    with ExitStack() as stack:
        runtime = stack.enter_context(Runtime(settings))
        runtime.prepare()
        summary.bootstrap = runtime.clients.bootstrap
        server = stack.enter_context(MetricsServer(metrics, settings.metrics_host, settings.metrics_port))
        summary.metrics_url = server.url

        province = load_province(settings.province_code)
        population = generate_population(province, citizens, seed)
        RegistryStore(runtime.engine).upsert(population)

        service = stack.enter_context(Service(runtime, metrics))
        server.health = service.health
        page = start_page(stack, settings, metrics, service)
        for what, where in (
            ("broker", summary.bootstrap),
            ("database", settings.database_description),
            ("exchange", runtime.exchange_url or "-"),
            ("metrics", summary.metrics_url),
            ("page", page or "-"),
            ("live", f"{service.tables.url} (the indicators' faust tables)" if service.tables else "-"),
            ("archive", str(settings.resolved_archive_dir) if "archive" in service.runners else "-"),
        ):
            console.print(f"{what:<9}{where}", highlight=False, soft_wrap=True)
        console.print(f"population registry: {len(population):,} citizens of {province.name}")
        _publish(runtime, metrics, population, per_department, seed, summary, interrupted)
        published = {DEPARTMENT_TOPICS[Department(d)].name: n for d, n in summary.published.items()}
        _wait(service, metrics, published, console, timeout, interrupted)
        if service.tables is not None:
            summary.live_reuse = _live_reuse(runtime, service.tables.url, timeout=30.0)
        archiving = "archive" in service.runners
        service.close()  # the archiver seals its open segment

        _collect(metrics, summary, runtime)
        if archiving:
            summary.archive = _archive_verdict(settings.resolved_archive_dir)
        if service.exchange is not None:
            summary.exchange_ledger = service.exchange.ledger.count()
    summary.seconds = time.monotonic() - started
    return summary


def _publish(
    runtime: Runtime,
    metrics: HubMetrics,
    population: Population,
    per_department: int,
    seed: int,
    summary: DemoSummary,
    interrupted: threading.Event,
) -> None:
    from datetime import datetime, timedelta

    from hub.province import VIETNAM
    from hub.service import publishers_for
    from producers.simulate import generate_records

    # Dossiers received over the week before today, published now: within the indicators' allowed
    # lateness whatever the day the demo runs.
    start = datetime.now(VIETNAM).date() - timedelta(days=8)
    for department, publisher in publishers_for(runtime, metrics).items():
        records = generate_records(population, department, per_department, seed, start=start)
        for n, simulated in enumerate(records):
            if n % 1000 == 0 and interrupted.is_set():
                raise Interrupted("demo interrupted while publishing")
            simulated.send(publisher)
        report = publisher.flush()
        summary.published[department.value] = report.delivered


def _wait(
    service: Service,
    metrics: HubMetrics,
    published: dict[str, int],
    console: Console,
    timeout: float,
    interrupted: threading.Event,
) -> None:
    """Until every stage has consumed what was written to its inputs: the published records,
    or what the stages before it produced."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    deadline = time.monotonic() + timeout
    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        tasks = {name: progress.add_task(name, total=None) for name in service.runners}
        while True:
            behind = {}
            for name, runner in service.runners.items():
                expected = sum(
                    published.get(t) or _total(metrics, "hub_stage_records_produced", topic=t)
                    for t in runner.stage.inputs
                )
                progress.update(tasks[name], completed=runner.stats.consumed, total=expected or None)
                if runner.stats.consumed < expected:
                    behind[name] = f"{name} {runner.stats.consumed:,} of {expected:,}"
            if not behind:
                return
            if interrupted.is_set():
                raise Interrupted("demo interrupted")
            if service.stop.is_set():
                errors = [
                    f"{n}: {r.stats.last_error}" for n, r in service.runners.items() if r.stats.last_error
                ]
                raise HubError("demo stopped: " + "; ".join(errors or ["a stage stopped"]))
            if time.monotonic() > deadline:
                raise HubError(f"demo timed out after {timeout:.0f} s: " + ", ".join(behind.values()))
            time.sleep(0.2)


def _archive_verdict(directory: Path) -> str:
    """``hub audit verify``'s verdict on the archive, in one line."""
    from hub.archive import verify

    verdict = verify(directory)
    if not verdict.ok:
        return f"archive {directory}: BROKEN at {verdict.where}: {verdict.problem}"
    return (
        f"archived {verdict.records:,} records in {verdict.segments:,} segments of {directory}, "
        "every digest verified (hub audit verify)"
    )


def _live_reuse(runtime: Runtime, url: str, timeout: float) -> Ratio | None:
    """The province's reuse rate over every month the faust tables hold, once they have applied
    every counts event; None if they have not within ``timeout``."""
    import httpx
    from confluent_kafka import TopicPartition

    from hub.stages.indicators.formulas import REUSE_RATE, Ratio
    from hub.topics import INDICATORS_COUNTS

    consumer = runtime.clients.consumer("hub.demo.counts-end")
    try:
        _, end = consumer.get_watermark_offsets(TopicPartition(INDICATORS_COUNTS.name, 0), timeout=10)
    finally:
        consumer.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "progress/", timeout=5).json()["applied_offset"] >= end - 1:
                query = {"dimension": "province", "indicator": REUSE_RATE, "period": "month"}
                rows = httpx.get(url, params=query, timeout=10).json()["indicators"]
                return Ratio(sum(r["numerator"] for r in rows), sum(r["denominator"] for r in rows))
        except (httpx.HTTPError, ValueError, KeyError):
            pass  # not answering yet
        time.sleep(0.2)
    return None


def _total(metrics: HubMetrics, family: str, **match: str) -> int:
    """The sum of counter ``family``'s series whose labels match ``match`` (any other labels)."""
    return sum(
        int(sample.value)
        for metric in metrics.registry.collect()
        if metric.name == family
        for sample in metric.samples
        if sample.name.endswith("_total") and all(sample.labels.get(k) == v for k, v in match.items())
    )


def _collect(metrics: HubMetrics, summary: DemoSummary, runtime: Runtime) -> None:
    from hub.stages.indicators import DossierStore
    from hub.stages.indicators.formulas import ALL, REUSE_RATE, Ratio
    from hub.stages.indicators.report import report
    from hub.topics import RECONCILED

    for metric in metrics.reconciled.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_total"):
                continue
            dept, outcome, reason = (sample.labels[k] for k in ("department", "outcome", "reason"))
            if outcome == "reconciled":
                summary.reconciled[dept] = summary.reconciled.get(dept, 0) + int(sample.value)
            else:
                reasons = summary.rejected.setdefault(dept, {})
                reasons[reason] = reasons.get(reason, 0) + int(sample.value)
    store = DossierStore(runtime.engine)
    for row in report(store, None, "department", [REUSE_RATE]) + report(
        store, None, "province", [REUSE_RATE]
    ):
        summary.reuse[ALL if row.dimension == "province" else row.value] = Ratio(
            row.numerator, row.denominator
        )
    consumed = {"stage": "forward", "topic": RECONCILED.name}
    summary.forwarded = _sample(metrics, "hub_stage_records_consumed_total", consumed)
    summary.dead_lettered = _total(metrics, "hub_dead_letters", stage="forward")
    for status in ("ACCEPTED", "DUPLICATE", "REJECTED"):
        summary.acknowledged[status] = _sample(metrics, "hub_exchange_acks_total", {"status": status})


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"


def summary_table(summary: DemoSummary) -> Group:
    """Per department: published, reconciled, rejected, reuse rate; then outcomes by reason."""
    from hub.stages.indicators.formulas import ALL, REUSE_TARGET

    departments = list(summary.published)
    main = Table(title=f"hub demo: {summary.seconds:.1f} s", show_footer=True)
    main.add_column("department", footer="all")
    main.add_column("published", justify="right", footer=str(sum(summary.published.values())))
    main.add_column("reconciled", justify="right", footer=str(sum(summary.reconciled.values())))
    main.add_column(
        "rejected", justify="right", footer=str(sum(sum(r.values()) for r in summary.rejected.values()))
    )
    reuse_all = summary.reuse.get(ALL)
    main.add_column("reuse rate", justify="right", footer=_pct(reuse_all.rate if reuse_all else None))
    for department in departments:
        reuse = summary.reuse.get(department)
        main.add_row(
            department,
            str(summary.published[department]),
            str(summary.reconciled.get(department, 0)),
            str(sum(summary.rejected.get(department, {}).values())),
            _pct(reuse.rate if reuse else None),
        )
    acks = ", ".join(f"{status.lower()} {n}" for status, n in summary.acknowledged.items())
    unread = summary.dead_lettered - summary.acknowledged.get("REJECTED", 0)  # dead letters never sent
    main.caption = (
        f"forwarded to the national exchange: {summary.forwarded} = acknowledged ({acks})"
        + (f" + {unread} unreadable" if unread else "")
        + f"; dead-lettered {summary.dead_lettered}"
        + (
            ""
            if summary.exchange_ledger is None
            else f"; the exchange's ledger holds {summary.exchange_ledger}"
        )
    )
    live = summary.live_reuse
    if live is not None:
        same = "the same as" if reuse_all is not None and live == reuse_all else "NOT the same as"
        main.caption += (
            f"; live from the indicators' faust tables: province reuse rate {_pct(live.rate)} "
            f"({live.numerator}/{live.denominator}), {same} the SQL store's"
        )
    if summary.archive:
        main.caption += f"; {summary.archive}"
    about_reuse = (
        "reuse rate: dossiers received with at least one component that reuses already-digitized "
        f"data ÷ dossiers received (766/QĐ-TTg; full points at ≥ {REUSE_TARGET:.0%}). The simulator "
        "draws it at Bình Dương's published 6.98–7.32 %, so the demo shows a province far from its "
        "target, as the real one is; reconciliation is what makes reuse possible, not what raises it. "
        "Every indicator, by district, department, commune or procedure: hub report --by district"
    )

    reasons = Table(title="rejected, by reason")
    reasons.add_column("reason")
    for department in departments:
        reasons.add_column(department, justify="right")
    every = sorted({r for per in summary.rejected.values() for r in per})
    for reason in every:
        reasons.add_row(reason, *(str(summary.rejected.get(d, {}).get(reason, 0)) for d in departments))
    return Group(main, reasons, Text(about_reuse, style="dim"))
