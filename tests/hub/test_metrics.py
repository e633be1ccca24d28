"""Unit tests for hub.metrics: the series alerts and dashboards read exist, at zero, from the start."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from hub.metrics import HubMetrics
from hub.topics import Department


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    HubMetrics(registry)
    return registry


@pytest.mark.parametrize("department", list(Department))
@pytest.mark.parametrize("name", ["hub_records_published_total", "hub_publish_failures_total"])
def test_department_counters_start_at_zero(
    registry: CollectorRegistry, name: str, department: Department
) -> None:
    assert registry.get_sample_value(name, {"department": department.value}) == 0.0


@pytest.mark.parametrize("status", ["429", "503", "timeout"])
def test_exchange_request_outcomes_start_at_zero(registry: CollectorRegistry, status: str) -> None:
    assert registry.get_sample_value("hub_exchange_requests_total", {"status": status}) == 0.0
    assert registry.get_sample_value("hub_exchange_circuit_open") == 0.0


def test_unlabelled_failure_counter_starts_at_zero(registry: CollectorRegistry) -> None:
    assert registry.get_sample_value("hub_exchange_failures_total") == 0.0


def test_every_department_s_outcome_series_exist_at_zero_for_the_rejected_share_alert() -> None:
    registry = CollectorRegistry()
    HubMetrics(registry)
    for department in ("civil_status", "land", "health", "social_insurance"):
        labels = {"department": department, "outcome": "rejected", "reason": "UNKNOWN_CITIZEN"}
        assert registry.get_sample_value("hub_reconcile_outcomes_total", labels) == 0.0
        labels = {"department": department, "outcome": "reconciled", "reason": "MATCHED"}
        assert registry.get_sample_value("hub_reconcile_outcomes_total", labels) == 0.0


def test_metrics_off_count_nothing_and_the_registry_is_empty() -> None:
    registry = CollectorRegistry()
    metrics = HubMetrics(registry, enabled=False)
    metrics.reconciled.labels("land", "reconciled", "MATCHED").inc(5)
    metrics.consumer_lag.labels("hub.reconcile", "t", "0").set(3)
    metrics.stage_batch_seconds.labels("reconcile").observe(0.1)
    assert [family for family in registry.collect() if family.name.startswith("hub_")] == []
