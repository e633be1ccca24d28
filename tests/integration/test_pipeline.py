"""Records pushed through the real slice: embedded broker, SQL, HTTP exchange, /metrics."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.audit.replay import replay_json as replay
from hub.kafka.broker import EmbeddedBroker
from hub.metrics import HubMetrics, MetricsServer
from hub.province import load_province
from hub.registry import RegistryStore
from hub.runtime import Runtime
from hub.service import Service
from hub.settings import Settings
from hub.topics import (
    DEPARTMENT_TOPICS,
    EXCHANGE_ACKS,
    INDICATORS,
    RECONCILED,
    REJECTED,
    Department,
)
from producers.population import generate_population
from producers.publisher import DepartmentPublisher
from producers.simulate import generate_records

pytestmark = pytest.mark.integration

PER_DEPARTMENT = 150


def _wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the pipeline"
        time.sleep(0.2)


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """These tests count everything on the topics: each gets its own broker, no other test's records."""
    with EmbeddedBroker() as running:
        yield running


def test_records_flow_end_to_end(broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(kafka_bootstrap=broker.bootstrap, database_url=f"sqlite:///{tmp_path / 'hub.db'}")
    metrics = HubMetrics()
    with (
        Runtime(settings) as runtime,
        MetricsServer(metrics, "127.0.0.1", 0) as metrics_server,
    ):
        runtime.prepare()
        population = generate_population(load_province("74"), 800, seed=5)
        RegistryStore(runtime.engine).upsert(population)
        expected: dict[str, Counter[str]] = {}
        ids: set[str] = set()
        producer = runtime.clients.producer()
        for department in Department:
            registered = runtime.schema_ids[DEPARTMENT_TOPICS[department].value_schema or ""]
            publisher = DepartmentPublisher(
                department, producer, runtime.codec, registered.schema_id, registered.version, metrics
            )
            outcomes: Counter[str] = Counter()
            for simulated in generate_records(population, department, PER_DEPARTMENT, seed=501):
                simulated.send(publisher)
                outcomes[simulated.expected] += 1
                ids.add(simulated.record["record_id"])
            assert publisher.flush().delivered == PER_DEPARTMENT
            expected[department.value] = outcomes

        with Service(runtime, metrics) as pipeline:  # starts the mock exchange, with fresh credentials
            exchange = pipeline.exchange
            assert exchange is not None
            assert {n: r.poll_seconds for n, r in pipeline.runners.items()} == {
                "reconcile": 0.5,
                "indicators": 0.5,
                "forward": 0.1,  # a partial batch waits less: the exchange sees records sooner
                "archive": 0.5,
            }
            total = PER_DEPARTMENT * len(Department)
            matched = sum(n for c in expected.values() for r, n in c.items() if r.startswith("MATCHED"))
            _wait_for(
                lambda: (
                    pipeline.runners["reconcile"].stats.consumed >= total
                    and pipeline.runners["indicators"].stats.consumed >= total
                    and exchange.ledger.count() >= matched
                )
            )
            scraped = httpx.get(metrics_server.url).text

        # Nothing lost, every outcome as the ground truth says, per department.
        for department, outcomes in expected.items():
            got = Counter()
            for reason in outcomes:
                outcome = "reconciled" if reason.startswith("MATCHED") else "rejected"
                got[reason] = int(
                    metrics.registry.get_sample_value(
                        "hub_reconcile_outcomes_total",
                        {"department": department, "outcome": outcome, "reason": reason},
                    )
                    or 0
                )
            assert got == outcomes, department
            ledger = exchange.ledger.record_ids()
        assert ledger <= ids
        assert len(ledger) == matched
        assert 'hub_reconcile_outcomes_total{department="land"' in scraped
        assert "hub_indicator_ratio" in scraped

        # The output topics hold what the metrics say, decoded by replay.
        reconciled = [
            r for r in replay(runtime.clients, RECONCILED, runtime.codec) if r["value"]["record_id"] in ids
        ]
        rejected = [
            r
            for r in replay(runtime.clients, REJECTED, runtime.codec)
            if r["headers"].get("hub.record_id") in ids
        ]
        assert len(reconciled) == matched
        assert len(reconciled) + len(rejected) == total
        assert all(r["headers"]["__hub.errors.stage"] == "reconcile" for r in rejected)
        acks = [
            a for a in replay(runtime.clients, EXCHANGE_ACKS, runtime.codec) if a["value"]["record_id"] in ids
        ]
        assert {a["value"]["status"] for a in acks} == {"ACCEPTED"}
        assert len({a["value"]["record_id"] for a in acks}) == matched
        snapshots = list(replay(runtime.clients, INDICATORS, runtime.codec))
        assert any(s["value"]["dimension"] == "province" and s["value"]["denominator"] > 0 for s in snapshots)


def test_forwarder_retries_when_the_exchange_fails(broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With the exchange failing half its requests, every record still arrives exactly once."""
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        exchange_max_attempts=20,
        exchange_request_size=5,  # the forward stage's batches: 5 × 4 agencies × 4 chunks
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
    )
    metrics = HubMetrics()
    with Runtime(settings) as runtime:
        runtime.prepare()
        population = generate_population(load_province("74"), 300, seed=9)
        RegistryStore(runtime.engine).upsert(population)
        registered = runtime.schema_ids["vn.lgsp.HealthRecord"]
        publisher = DepartmentPublisher(
            Department.HEALTH, runtime.clients.producer(), runtime.codec, registered.schema_id
        )
        matched = 0
        for simulated in generate_records(population, Department.HEALTH, 100, seed=902):
            simulated.send(publisher)
            matched += simulated.matched
        publisher.flush()
        with Service(runtime, metrics, ("reconcile", "forward")) as service:
            exchange = service.exchange
            assert exchange is not None
            exchange.set_faults(error_rate=0.5)
            _wait_for(lambda: exchange.ledger.count() >= matched)
            time.sleep(1)
            assert exchange.stats.by_status.get(200, 0) > 0
            failed = sum(n for status, n in exchange.stats.by_status.items() if status >= 500)
            assert failed > 0
            assert exchange.ledger.count() == matched
        sample = metrics.registry.get_sample_value
        assert sample("hub_exchange_retries_total") > 0
        assert (
            sum(sample("hub_exchange_requests_total", {"status": s}) or 0 for s in ("500", "502", "503"))
            == failed
        )
