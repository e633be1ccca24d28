"""The hub's stream processors wired together, each running in its own thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from consumers.forwarder import ForwardStage
from hub.dossier_store import DossierStore
from hub.exchange.client import ExchangeClient
from hub.kafka.loop import Stage, StageRunner
from hub.metrics import HubMetrics
from hub.processors.indicators import IndicatorStage
from hub.processors.live_registry import LiveRegistry
from hub.processors.reconciler import ReconcileStage
from hub.province import known_province_codes
from hub.registry import RegistryStore
from hub.runtime import Runtime

__all__ = ["STAGES", "Pipeline"]

_log = logging.getLogger("hub.pipeline")
STAGES = ("reconcile", "indicators", "forward")


class Pipeline:
    """Builds the chosen stages on a :class:`Runtime` and runs them until stopped."""

    def __init__(
        self,
        runtime: Runtime,
        metrics: HubMetrics,
        exchange_url: str,
        stages: tuple[str, ...] = STAGES,
    ) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.stop = threading.Event()
        self.exchange = ExchangeClient(
            exchange_url,
            timeout=runtime.settings.exchange_timeout,
            max_attempts=runtime.settings.exchange_max_attempts,
        )
        builders: dict[str, Callable[[], Stage]] = {
            "reconcile": self._reconcile,
            "indicators": self._indicators,
            "forward": self._forward,
        }
        self.runners = {
            name: StageRunner(
                builders[name](),
                runtime.clients,
                stop=self.stop,
                metrics=metrics,
                batch_size=(
                    runtime.settings.reconcile_batch_size
                    if name == "reconcile"
                    else runtime.settings.consumer_batch_size
                ),
            )
            for name in stages
        }
        self._threads: list[threading.Thread] = []
        self.failed: dict[str, str] = {}  # stage → why it stopped on its own

    def _reconcile(self) -> Stage:
        rt = self.runtime
        registry = LiveRegistry(RegistryStore(rt.engine), rt.settings.registry_poll_seconds, self.metrics)
        return ReconcileStage(
            rt.codec, registry, known_province_codes(), rt.schema_id("vn.lgsp.ReconciledRecord"), self.metrics
        )

    def _indicators(self) -> Stage:
        rt = self.runtime
        return IndicatorStage(
            rt.codec, DossierStore(rt.engine), rt.schema_id("vn.lgsp.IndicatorSnapshot"), self.metrics
        )

    def _forward(self) -> Stage:
        rt = self.runtime
        return ForwardStage(rt.codec, self.exchange, rt.schema_id("vn.lgsp.ExchangeAck"), self.metrics)

    def start(self) -> None:
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

    def close(self, timeout: float = 20.0) -> None:
        """Stop every stage, wait for them, and close the exchange client."""
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self.exchange.close()

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
