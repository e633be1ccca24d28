"""Every Prometheus metric the hub exposes, declared once, on a registry of the caller's choice."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any, cast
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.exposition import ThreadingWSGIServer

from hub.errors import PortInUseError
from hub.reasons import Reason
from hub.topics import Department

__all__ = ["EXCHANGE_STATUSES", "HubMetrics", "MetricsServer", "TablesMetrics"]

# The ``status`` labels of hub_exchange_requests_total that exist, at 0, from the start.
EXCHANGE_STATUSES = ("200", "401", "403", "429", "500", "502", "503", "504", "timeout", "transport_error")


class _Off:
    """A metric that counts nothing (``HUB_METRICS_ENABLED=false``): what the metrics cost is
    measured against."""

    def labels(self, *values: Any, **labels: Any) -> _Off:
        return self

    def inc(self, amount: float = 1) -> None: ...

    def dec(self, amount: float = 1) -> None: ...

    def set(self, value: float) -> None: ...

    def set_to_current_time(self) -> None: ...

    def observe(self, value: float) -> None: ...

    def collect(self) -> list[Any]:
        return []


class HubMetrics:
    """The hub's metrics; tests pass a fresh :class:`CollectorRegistry`. ``enabled`` False: every
    metric counts nothing (the registry stays empty), to measure what they cost."""

    def __init__(self, registry: CollectorRegistry | None = None, enabled: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.published = Counter(
            "hub_records_published", "Records published by department systems.", ["department"], registry=r
        )
        self.publish_failures = Counter(
            "hub_publish_failures",
            "Records the broker did not accept from a publisher.",
            ["department"],
            registry=r,
        )
        self.stage_consumed = Counter(
            "hub_stage_records_consumed",
            "Records a stream processor consumed.",
            ["stage", "topic"],
            registry=r,
        )
        self.stage_produced = Counter(
            "hub_stage_records_produced",
            "Records a stream processor produced.",
            ["stage", "topic"],
            registry=r,
        )
        self.stage_failures = Counter(
            "hub_stage_batch_failures", "Batches a stream processor had to retry.", ["stage"], registry=r
        )
        self.dead_letters = Counter(
            "hub_dead_letters",
            "Records a stage could not process and sent to its dead-letter topic, by reason.",
            ["stage", "reason"],
            registry=r,
        )
        self.stage_batch_seconds = Histogram(
            "hub_stage_batch_seconds",
            "Time to process one batch, produce and commit.",
            ["stage"],
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.consumer_lag = Gauge(
            "hub_consumer_lag_records",
            "Records on a partition a stage has not read yet (the partition's end minus its position).",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.end_to_end_seconds = Histogram(
            "hub_end_to_end_latency_seconds",
            "From the agency's publish to the national exchange's acknowledgement, per record.",
            registry=r,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
        )
        self.reconciled = Counter(
            "hub_reconcile_outcomes",
            "Reconciliation outcomes by department and reason.",
            ["department", "outcome", "reason"],
            registry=r,
        )
        self.reconcile_paths = Counter(
            "hub_reconcile_records",
            "Records reconciled by the batch path (array operations) or one by one; "
            "'fallback' counts batches the batch path failed on and left whole to the per-record path.",
            ["path"],
            registry=r,
        )
        self.reconcile_batch_path = Gauge(
            "hub_reconcile_batch_path_enabled",
            "1 while reconciliation's batch path decides the common case; 0 when it turned itself off "
            "(the log says why) and every record goes one by one.",
            registry=r,
        )
        self.registry_citizens = Gauge(
            "hub_registry_citizens", "Citizens in the reconciler's registry view.", registry=r
        )
        self.registry_synced = Gauge(
            "hub_registry_synced_timestamp_seconds",
            "When the reconciler's registry view last caught up with the registry's changes "
            "(its age: time() - this).",
            registry=r,
        )
        self.indicator_ratio = Gauge(
            "hub_indicator_ratio",
            "A scored indicator (0..1) in the latest day, ISO week or month of receipt (event time), "
            "for the province (dimension province, value all), a department or a district.",
            ["indicator", "dimension", "value", "period"],
            registry=r,
        )
        self.indicator_exclusions = Counter(
            "hub_indicator_exclusions",
            "Dossiers (or parts of them) left out of an indicator, by reason (README: Indicators).",
            ["reason"],
            registry=r,
        )
        self.indicator_late = Counter(
            "hub_indicator_late_records",
            "Dossiers published after the allowed lateness: not counted, kept on lgsp.indicators.late.",
            ["department"],
            registry=r,
        )
        self.forwarded = Counter(
            "hub_exchange_acks",
            "Records acknowledged by the national exchange, by status.",
            ["status"],
            registry=r,
        )
        self.forward_failures = Counter(
            "hub_exchange_failures", "Failed calls to the national exchange (after retries).", registry=r
        )
        self.exchange_requests = Counter(
            "hub_exchange_requests",
            "Requests to the national exchange by outcome: the HTTP status, or timeout / transport_error.",
            ["status"],
            registry=r,
        )
        self.exchange_retries = Counter(
            "hub_exchange_retries",
            "Requests to the national exchange tried again after a transient failure.",
            registry=r,
        )
        self.exchange_circuit_open = Gauge(
            "hub_exchange_circuit_open",
            "1 while the forwarder's circuit breaker keeps it from calling a failing national exchange.",
            registry=r,
        )
        # A labelled counter has no series until its first increment, and an alert on
        # increase(...) cannot see a zero: the children alerts and dashboards read exist from
        # the start. (A stage's hub_stage_batch_failures_total: when its StageRunner is made.)
        for department in Department:
            self.published.labels(department.value)
            self.publish_failures.labels(department.value)
            for reason in Reason:  # what HubRejectedShareHigh divides
                outcome = "reconciled" if reason.startswith("MATCHED") else "rejected"
                self.reconciled.labels(department.value, outcome, reason.value)
        for status in EXCHANGE_STATUSES:
            self.exchange_requests.labels(status)
        if not enabled:
            for name, value in list(vars(self).items()):
                if isinstance(value, Counter | Gauge | Histogram):
                    self.registry.unregister(value)
                    setattr(self, name, _Off())


class TablesMetrics:
    """The indicators' faust tables worker's metrics (its own process, served on its /metrics)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.applied_offset = Gauge(
            "hub_indicator_tables_applied_offset",
            "Offset on lgsp.indicators.counts of the last event the tables hold (-1: none).",
            registry=r,
        )
        self.lag = Gauge(
            "hub_indicator_tables_lag",
            "Counts events on the topic the tables have not applied yet.",
            registry=r,
        )
        self.events = Counter("hub_indicator_tables_events", "Counts events the tables applied.", registry=r)
        self.recovered = Counter(
            "hub_indicator_tables_changelog_records_recovered",
            "Changelog records the tables were rebuilt from after a start.",
            registry=r,
        )
        self.recovery_seconds = Gauge(
            "hub_indicator_tables_recovery_seconds",
            "How long the last recovery from the changelog took.",
            registry=r,
        )
        self.applied_offset.set(-1)


Health = Callable[[], tuple[bool, dict[str, Any]]]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not news."""


class MetricsServer:
    """Serves ``/metrics`` (and ``/health``, when given a check) over HTTP in a background thread.

    ``health`` returns whether all is well and what each part says; ``/health`` answers 200 or
    503 with that as JSON (in the spirit of X-Road's health check: a probe needs no parsing).
    """

    def __init__(self, metrics: HubMetrics, host: str, port: int, health: Health | None = None) -> None:
        self.metrics, self.host, self.port = metrics, host, port
        self.health = health
        self._server: WSGIServer | None = None

    def _app(self) -> Callable[..., Iterable[bytes]]:
        metrics_app = make_wsgi_app(self.metrics.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") != "/health":
                return cast(Iterable[bytes], metrics_app(environ, start_response))
            ok, checks = self.health() if self.health is not None else (True, {})
            body = json.dumps({"status": "ok" if ok else "failing", "checks": checks}).encode()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]

        return app

    def __enter__(self) -> MetricsServer:
        try:
            server = make_server(self.host, self.port, self._app(), ThreadingWSGIServer, handler_class=_Quiet)
        except OSError as exc:
            raise PortInUseError(
                f"metrics endpoint: cannot listen on {self.host}:{self.port} ({exc.strerror}); "
                "set HUB_METRICS_PORT to another port (0 picks a free one)"
            ) from exc
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        self._server = server
        self.port = server.server_port
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def health_url(self) -> str:
        return f"http://{self.host}:{self.port}/health"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"


class _Collected:
    """A collector whose families come from a function, at every scrape."""

    def __init__(self, collect: Callable[[], Iterable[Any]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Any]:
        return self._collect()


def collected(registry: CollectorRegistry, collect: Callable[[], Iterable[Any]]) -> None:
    """Register ``collect`` (yielding metric families) to run at each scrape of ``registry``."""
    registry.register(_Collected(collect))


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """``registry`` in Prometheus' text format, and its content type: a ``/metrics`` answer."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
