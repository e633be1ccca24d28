"""``hub demo``: the whole flow on a small province sample, ending with a summary."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.dossier_store import DossierStore
from hub.errors import HubError, Interrupted
from hub.exchange.server import ExchangeServer
from hub.indicators import Ratio
from hub.metrics import HubMetrics, MetricsServer
from hub.pipeline import Pipeline
from hub.province import load_province
from hub.registry import RegistryStore
from hub.runtime import Runtime
from hub.settings import Settings
from hub.topics import RECONCILED
from producers.population import Population, generate_population
from producers.publisher import publishers_for
from producers.simulate import generate_records

__all__ = ["DemoSummary", "run_demo"]


@dataclass
class DemoSummary:
    """What the demo did, per department and overall."""

    published: dict[str, int] = field(default_factory=dict)
    reconciled: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    reuse: dict[str, Ratio] = field(default_factory=dict)
    forwarded: int = 0
    acknowledged: dict[str, int] = field(default_factory=dict)
    exchange_accepted: int = 0
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
    console = console or Console(stderr=True)
    interrupted = interrupted or threading.Event()
    started = time.monotonic()
    metrics = HubMetrics()
    summary = DemoSummary()
    with ExitStack() as stack:
        runtime = stack.enter_context(Runtime(settings))
        runtime.prepare()
        summary.bootstrap = runtime.clients.bootstrap
        exchange = None
        if settings.exchange_url is None:
            exchange = stack.enter_context(ExchangeServer())
        exchange_url = settings.exchange_url or (exchange.url if exchange else "")
        summary.metrics_url = stack.enter_context(
            MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
        ).url
        console.print(
            f"broker [bold]{summary.bootstrap}[/]  exchange [bold]{exchange_url}[/]  "
            f"metrics [bold]{summary.metrics_url}[/]"
        )

        province = load_province(settings.province_code)
        population = generate_population(province, citizens, seed)
        RegistryStore(runtime.engine).upsert(population)
        console.print(f"population registry: {len(population):,} citizens of {province.name}")

        pipeline = stack.enter_context(Pipeline(runtime, metrics, exchange_url))
        total = _publish(runtime, metrics, population, per_department, seed, summary, interrupted)
        _wait(pipeline, metrics, total, console, timeout, interrupted)
        pipeline.close()

        _collect(metrics, summary, runtime)
        if exchange is not None:
            summary.exchange_accepted = len(exchange.ledger.accepted)
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
) -> int:
    total = 0
    for department, publisher in publishers_for(runtime, metrics).items():
        for n, simulated in enumerate(generate_records(population, department, per_department, seed)):
            if n % 1000 == 0 and interrupted.is_set():
                raise Interrupted("demo interrupted while publishing")
            simulated.send(publisher)
        report = publisher.flush()
        summary.published[department.value] = report.delivered
        total += report.delivered
    return total


def _wait(
    pipeline: Pipeline,
    metrics: HubMetrics,
    total: int,
    console: Console,
    timeout: float,
    interrupted: threading.Event,
) -> None:
    reconcile = pipeline.runners["reconcile"].stats
    indicators = pipeline.runners["indicators"].stats
    forward = pipeline.runners["forward"].stats
    deadline = time.monotonic() + timeout
    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        tasks = {name: progress.add_task(name, total=total) for name in pipeline.runners}
        while True:
            reconciled = _sample(
                metrics, "hub_stage_records_produced_total", {"stage": "reconcile", "topic": RECONCILED.name}
            )
            progress.update(tasks["reconcile"], completed=reconcile.consumed)
            progress.update(tasks["indicators"], completed=indicators.consumed)
            progress.update(tasks["forward"], completed=forward.consumed, total=reconciled or total)
            done = (
                reconcile.consumed >= total
                and indicators.consumed >= total
                and forward.consumed >= reconciled
            )
            if done:
                return
            if interrupted.is_set():
                raise Interrupted("demo interrupted")
            if pipeline.stop.is_set():
                errors = [
                    f"{n}: {r.stats.last_error}" for n, r in pipeline.runners.items() if r.stats.last_error
                ]
                raise HubError("demo stopped: " + "; ".join(errors or ["a stage stopped"]))
            if time.monotonic() > deadline:
                raise HubError(
                    f"demo timed out after {timeout:.0f} s: reconciled {reconcile.consumed}, "
                    f"indicators {indicators.consumed}, forwarded {forward.consumed} of {total}"
                )
            time.sleep(0.2)


def _collect(metrics: HubMetrics, summary: DemoSummary, runtime: Runtime) -> None:
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
    summary.reuse = DossierStore(runtime.engine).reuse_rate_totals()
    summary.forwarded = sum(summary.reconciled.values())
    for status in ("ACCEPTED", "DUPLICATE", "REJECTED"):
        summary.acknowledged[status] = _sample(metrics, "hub_exchange_acks_total", {"status": status})
