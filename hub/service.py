"""The composition root: the hub's stages, built from one list and run together.

Every stage lives in its own folder (``hub/stages/<name>/`` for the hub's own, ``consumers/``
for what delivers outside the hub) and exposes ``build(runtime, metrics) -> Stage``. This
module is the one place that knows them all: adding a stage is one folder and one line in
:data:`STAGES`. ``hub run``, ``hub demo`` and ``hub bench`` all run stages through
:class:`Service`, so there is no second wiring.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

import consumers.archive
import consumers.forward
import hub.stages.indicators
import hub.stages.reconcile
from consumers.forward.credentials import Credential
from hub.errors import HubError
from hub.exchange.clients import agency_scope
from hub.exchange.server import ExchangeServer
from hub.kafka.loop import StageRunner
from hub.kafka.stage import Stage
from hub.metrics import HubMetrics
from hub.runtime import Runtime
from hub.settings import Settings
from hub.stages.indicators.tables import TablesProcess
from hub.topics import DEPARTMENT_TOPICS, Department
from producers.publisher import DepartmentPublisher

__all__ = ["STAGES", "STAGE_NAMES", "Service", "StageSpec", "publishers_for", "stage_names"]

_log = logging.getLogger("hub.service")


@dataclass(frozen=True, slots=True)
class StageSpec:
    """How to build one stage, and how many records it takes per batch."""

    name: str
    build: Callable[[Runtime, HubMetrics], Stage]
    batch_size: Callable[[Settings], int] = lambda s: s.consumer_batch_size
    needs_exchange: bool = False  # the mock national exchange is started for it when none is configured
    poll_seconds: float = 0.5  # the longest a partial batch waits to fill: the stage's added latency


STAGES: tuple[StageSpec, ...] = (
    StageSpec("reconcile", hub.stages.reconcile.build, lambda s: s.reconcile_batch_size),
    StageSpec("indicators", hub.stages.indicators.build),
    # Forward: a batch of four chunks of a full request per agency, so the exchange works on one
    # chunk while the forwarder decodes the next (consumers.forward.stage).
    StageSpec(
        "forward",
        consumers.forward.build,
        lambda s: s.exchange_request_size * len(Department) * 4,
        needs_exchange=True,
        poll_seconds=0.1,
    ),
    StageSpec("archive", consumers.archive.build),
)
STAGE_NAMES = tuple(spec.name for spec in STAGES)


def stage_names(chosen: Sequence[str] | None) -> tuple[str, ...]:
    """The stages to run, in pipeline order; every stage when ``chosen`` is empty."""
    if not chosen:
        return STAGE_NAMES
    unknown = sorted(set(chosen) - set(STAGE_NAMES))
    if unknown:
        raise HubError(f"unknown stage {', '.join(unknown)}; stages are {', '.join(STAGE_NAMES)}")
    return tuple(name for name in STAGE_NAMES if name in chosen)


_LAST = "archive"  # the stage that stops last: it keeps what the others produced
_PROBE_SECONDS = 2.0  # how long /health trusts its last look at the broker and the database


class Service:
    """Builds the chosen stages on a :class:`Runtime` and runs each in its own thread until stopped.

    When a chosen stage talks to the national exchange and ``HUB_EXCHANGE_URL`` is unset, the
    mock exchange is started first and its address given to the runtime.
    """

    def __init__(self, runtime: Runtime, metrics: HubMetrics, stages: Sequence[str] | None = None) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.specs = [spec for spec in STAGES if spec.name in stage_names(stages)]
        self.stop = threading.Event()
        self.exchange: ExchangeServer | None = None
        self.tables: TablesProcess | None = None  # the indicators' faust tables, when they run
        self.runners: dict[str, StageRunner] = {}
        self.failed: dict[str, str] = {}  # stage → why it stopped on its own
        self._threads: list[threading.Thread] = []
        self._stack = ExitStack()
        self._probed: tuple[float, dict[str, dict[str, Any]]] | None = None

    def start(self) -> None:
        rt = self.runtime
        if any(spec.needs_exchange for spec in self.specs) and not rt.exchange_url:
            self.exchange = self._stack.enter_context(ExchangeServer(rt.engine))
            rt.exchange_url = self.exchange.url
            rt.exchange_credentials = _mock_credentials(self.exchange)
        if rt.settings.indicator_tables and any(spec.name == "indicators" for spec in self.specs):
            self.tables = TablesProcess(rt.settings, rt.clients.bootstrap)
            self._stack.callback(self.tables.close)
            watch = threading.Thread(
                target=self._watch_tables, args=(self.tables,), name="tables", daemon=True
            )
            watch.start()
        for spec in self.specs:
            stage = spec.build(rt, self.metrics)
            self._stack.callback(stage.close)
            self.runners[spec.name] = StageRunner(
                stage,
                rt.clients,
                stop=threading.Event() if spec.name == _LAST else self.stop,
                metrics=self.metrics,
                batch_size=spec.batch_size(rt.settings),
                poll_seconds=spec.poll_seconds,
            )
        for name, runner in self.runners.items():
            thread = threading.Thread(target=self._run, args=(name, runner), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self, name: str, runner: StageRunner) -> None:
        try:
            runner.run()
        except Exception as exc:
            runner.stats.last_error = self.failed[name] = f"{type(exc).__name__}: {exc}"
            _log.exception("stage %s stopped: %s", name, exc)
            self.stop.set()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether all is well, and what each part says; ``/health`` answers 503 with the reasons
        when a stage stopped on its own (an archive that cannot be written, say), has more than
        ``HUB_HEALTH_MAX_LAG`` records waiting, when the broker or the database does not answer,
        or the forwarder's circuit to the exchange is open."""
        reasons: list[str] = []
        checks: dict[str, Any] = {}
        lag = self._lag()
        for name, runner in self.runners.items():
            stats = runner.stats
            waiting = lag.get(runner.stage.group, 0)
            checks[name] = {
                "state": "stopped" if name in self.failed else "running",
                "consumed": stats.consumed,
                "waiting": waiting,
                "caught_up": stats.caught_up,
                "retries": stats.failures,
                "last_error": self.failed.get(name) or stats.last_error,
            }
            if name in self.failed:
                reasons.append(f"stage {name} stopped: {self.failed[name]}")
            elif waiting > self.runtime.settings.health_max_lag:
                reasons.append(f"stage {name} has {waiting:,} records waiting (HUB_HEALTH_MAX_LAG)")
        for name, why in self.failed.items():
            if name not in checks:
                checks[name] = {"state": "stopped", "last_error": why}
                reasons.append(f"{name} stopped: {why}")
        for name, found in self._probes().items():
            checks[name] = found
            if "error" in found:
                reasons.append(found["error"])
        if "forward" in self.runners:
            circuit = self.metrics.registry.get_sample_value("hub_exchange_circuit_open") or 0
            checks["exchange"] = {
                "circuit": "open" if circuit else "closed",
                "url": self.runtime.exchange_url,
            }
            if circuit:
                reasons.append("the forwarder's circuit to the national exchange is open: it keeps failing")
        if reasons:
            checks["reasons"] = reasons
        return not reasons, checks

    def _probes(self) -> dict[str, dict[str, Any]]:
        """Whether the broker and the database answer: asked at most every few seconds."""
        now = time.monotonic()
        if self._probed is not None and now - self._probed[0] < _PROBE_SECONDS:
            return self._probed[1]
        found: dict[str, dict[str, Any]] = {}
        try:
            self.runtime.clients.check_reachable(timeout=2.0)
            found["broker"] = {"state": "reachable", "at": self.runtime.clients.bootstrap}
        except HubError as exc:
            found["broker"] = {"state": "unreachable", "error": str(exc)}
        try:
            with self.runtime.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            found["database"] = {"state": "reachable"}
        except Exception as exc:  # any driver's failure: the database does not answer
            found["database"] = {
                "state": "unreachable",
                "error": f"the database does not answer ({type(exc).__name__})",
            }
        self._probed = (now, found)
        return found

    def _lag(self) -> dict[str, int]:
        """Records waiting per consumer group, as the stages last reported them."""
        waiting: dict[str, int] = {}
        for family in self.metrics.consumer_lag.collect():
            for sample in family.samples:
                group = sample.labels["group"]
                waiting[group] = waiting.get(group, 0) + int(sample.value)
        return waiting

    def _watch_tables(self, tables: TablesProcess) -> None:
        """The tables' worker is part of the service: if it exits on its own, the service stops."""
        tables.process.wait()
        if not self.stop.is_set():
            self.failed["indicator-tables"] = tables.problem() or "exited"
            _log.error("%s", self.failed["indicator-tables"])
            self.stop.set()

    def close(self, timeout: float = 20.0, drain: float = 30.0) -> None:
        """Stop every stage, wait for them, and close what they opened. The archiver stops last,
        once it has read what the others produced (at most ``drain`` seconds): an embedded
        broker's records are gone when it stops, and only what is archived can be restored."""
        self.stop.set()
        last = self.runners.get(_LAST)
        archiving = [t for t in self._threads if t.name == _LAST and t.is_alive()]
        for thread in self._threads:
            if thread.name != _LAST:
                thread.join(timeout)
        if last is not None:
            if archiving and _LAST not in self.failed:  # (a second close finds it stopped)
                self._drain(last, drain)
            last.stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self._stack.close()

    @staticmethod
    def _drain(runner: StageRunner, seconds: float) -> None:
        """Wait until ``runner`` has read every partition to its end and nothing more comes."""
        deadline, seen, quiet = time.monotonic() + seconds, -1, 0
        while time.monotonic() < deadline:
            consumed = runner.stats.consumed
            quiet = quiet + 1 if runner.stats.caught_up and consumed == seen else 0
            if quiet >= 5:  # half a second at the end, and nothing new
                return
            seen = consumed
            time.sleep(0.1)
        _log.warning("%s: stopped before it had read everything (%.0f s)", runner.stage.name, seconds)

    def __enter__(self) -> Service:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def publishers_for(
    runtime: Runtime, metrics: HubMetrics | None = None
) -> dict[Department, DepartmentPublisher]:
    """One publisher per department, sharing one producer, with the schemas the hub registered."""
    producer = runtime.clients.producer(**{"delivery.report.only.error": True})
    publishers = {}
    for department in Department:
        registered = runtime.schema_ids[DEPARTMENT_TOPICS[department].value_schema or ""]
        publishers[department] = DepartmentPublisher(
            department, producer, runtime.codec, registered.schema_id, registered.version, metrics
        )
    return publishers


def _mock_credentials(exchange: ExchangeServer) -> dict[str, Credential]:
    """Fresh credentials for every agency at the mock exchange this process started; in memory only."""
    credentials = {}
    for department in Department:
        agency, secret = department.agency, secrets.token_urlsafe(32)
        exchange.clients.set(agency, secret, {agency_scope(agency)})
        credentials[agency] = Credential(agency, SecretStr(secret))
    return credentials
