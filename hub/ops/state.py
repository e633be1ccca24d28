"""What the operations page shows, read from the hub's own metrics (the same numbers Prometheus
scrapes): per stage its total, rate and records waiting; reconciliation's outcomes and
rejections by reason; the exchange's acknowledgements, requests and circuit; the indicators by
department and district; and the health check's verdict.

Rates are the change of a counter over the last few seconds of the page's own polls, kept here,
so the page needs no Prometheus to run.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry

__all__ = ["OpsState"]

_WINDOW = 10.0  # seconds a rate is measured over
Health = Callable[[], tuple[bool, dict[str, Any]]]


Samples = dict[str, list[tuple[dict[str, str], float]]]


def _read(registry: CollectorRegistry, wanted: frozenset[str]) -> Samples:
    """The samples named in ``wanted``, by name: one pass over the registry per snapshot."""
    found: Samples = {name: [] for name in wanted}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name in wanted:
                found[sample.name].append((sample.labels, sample.value))
    return found


def _sum_by(samples: Samples, name: str, label: str, **where: str) -> dict[str, float]:
    totals: dict[str, float] = {}
    for labels, value in samples[name]:
        if all(labels.get(k) == v for k, v in where.items()):
            key = labels.get(label, "")
            totals[key] = totals.get(key, 0.0) + value
    return totals


_WANTED = frozenset(
    {
        "hub_stage_records_consumed_total",
        "hub_stage_records_produced_total",
        "hub_consumer_lag_records",
        "hub_exchange_acks_total",
        "hub_reconcile_outcomes_total",
        "hub_dead_letters_total",
        "hub_exchange_requests_total",
        "hub_exchange_circuit_open",
        "hub_exchange_retries_total",
        "hub_exchange_failures_total",
        "hub_indicator_ratio",
    }
)


class OpsState:
    """The page's figures, from ``registry``; ``health`` is the service's check (optional)."""

    def __init__(
        self, registry: CollectorRegistry, health: Health | None = None, stages: tuple[str, ...] = ()
    ) -> None:
        self.registry = registry
        self.health = health
        self.stages = stages
        self._seen: deque[tuple[float, dict[str, float]]] = deque()
        self._lock = threading.Lock()

    def _rates(self, totals: dict[str, float]) -> dict[str, float]:
        """Per second over the last ``_WINDOW`` seconds of calls (0 until there are two)."""
        now = time.monotonic()
        with self._lock:
            self._seen.append((now, totals))
            while len(self._seen) > 2 and now - self._seen[1][0] >= _WINDOW:
                self._seen.popleft()
            then, before = self._seen[0]
        elapsed = now - then
        if elapsed <= 0:
            return dict.fromkeys(totals, 0.0)
        return {k: max(v - before.get(k, 0.0), 0.0) / elapsed for k, v in totals.items()}

    def snapshot(self) -> dict[str, Any]:
        r = _read(self.registry, _WANTED)
        consumed = _sum_by(r, "hub_stage_records_consumed_total", "stage")
        produced = _sum_by(r, "hub_stage_records_produced_total", "stage")
        lag = _sum_by(r, "hub_consumer_lag_records", "group")
        acks = _sum_by(r, "hub_exchange_acks_total", "status")
        counters = {f"stage:{k}": v for k, v in consumed.items()} | {"acks": sum(acks.values())}
        rates = self._rates(counters)
        names = list(self.stages) or sorted(consumed)
        stages = [
            {
                "name": name,
                "consumed": int(consumed.get(name, 0)),
                "produced": int(produced.get(name, 0)),
                "rate": round(rates.get(f"stage:{name}", 0.0), 1),
                "waiting": int(lag.get(f"hub.{name}", 0)),
            }
            for name in names
        ]
        outcomes = _sum_by(r, "hub_reconcile_outcomes_total", "outcome")
        rejected = {
            k: int(v)
            for k, v in _sum_by(r, "hub_reconcile_outcomes_total", "reason", outcome="rejected").items()
            if v
        }
        dead = {k: int(v) for k, v in _sum_by(r, "hub_dead_letters_total", "reason").items() if v}
        requests = {k: int(v) for k, v in _sum_by(r, "hub_exchange_requests_total", "status").items() if v}
        circuit = sum(value for _, value in r["hub_exchange_circuit_open"])
        healthy, checks = self.health() if self.health is not None else (True, {})
        return {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "health": {"ok": healthy, "reasons": checks.get("reasons", [])},
            "stages": stages,
            "reconciliation": {
                "reconciled": int(outcomes.get("reconciled", 0)),
                "rejected": int(outcomes.get("rejected", 0)),
                "rejected_by_reason": dict(sorted(rejected.items(), key=lambda kv: -kv[1])),
            },
            "dead_letters": dead,
            "exchange": {
                "circuit": "open" if circuit else "closed",
                "acks": {k: int(v) for k, v in acks.items()},
                "ack_rate": round(rates.get("acks", 0.0), 1),
                "requests": requests,
                "retries": int(sum(value for _, value in r["hub_exchange_retries_total"])),
                "failures": int(sum(value for _, value in r["hub_exchange_failures_total"])),
            },
            "indicators": {
                dimension: {
                    labels["value"]: round(value, 6)
                    for labels, value in r["hub_indicator_ratio"]
                    if labels.get("indicator") == "reuse_rate"
                    and labels.get("dimension") == dimension
                    and labels.get("period") == "month"
                }
                for dimension in ("province", "department", "district")
            },
        }
