"""Registry changes reach a running reconciliation stage: a birth, a death, with no restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hub.kafka.broker import EmbeddedBroker
from hub.metrics import HubMetrics
from hub.province import load_province
from hub.registry import ChangeKind, RegistryChange, RegistryCitizen, RegistryStore
from hub.runtime import Runtime
from hub.service import Service, publishers_for
from hub.settings import Settings
from hub.topics import Department
from producers.population import Population, generate_population
from producers.simulate import DirtProfile, generate_records

pytestmark = pytest.mark.integration

PROVINCE = load_province("74")
NEWBORN = RegistryCitizen("074326000123", None, "Lê Thị Bình An", date(2026, 10, 20), "F", "718", "25708")


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def _outcome(metrics: HubMetrics, outcome: str, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "hub_reconcile_outcomes_total", {"department": "health", "outcome": outcome, "reason": reason}
    )
    return value or 0.0


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the reconciliation stage")
        time.sleep(0.1)


def _records_about(citizen: RegistryCitizen, seed: int, count: int = 1) -> list[dict[str, object]]:
    only = Population.from_citizens(PROVINCE, [citizen])
    return [
        s.record for s in generate_records(only, Department.HEALTH, count, seed, dirt=DirtProfile.clean())
    ]


def test_a_birth_and_a_death_are_used_without_a_restart(broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        registry_poll_seconds=0.3,
    )
    metrics = HubMetrics(CollectorRegistry())
    with Runtime(settings) as runtime:
        runtime.prepare()
        store = RegistryStore(runtime.engine)
        population = generate_population(PROVINCE, 500, seed=3)
        store.upsert(population)
        living = next(c for c in population if c.deceased_on is None)
        health = publishers_for(runtime)[Department.HEALTH]
        runtime.exchange_url = "http://127.0.0.1:9"
        with Service(runtime, metrics, ("reconcile",)) as pipeline:
            consumed = pipeline.runners["reconcile"].stats

            # Not yet registered: the record is rejected.
            health.publish(_records_about(NEWBORN, seed=1)[0])
            health.flush()
            _wait_for(lambda: consumed.consumed >= 1)
            assert _outcome(metrics, "rejected", "UNKNOWN_CITIZEN") == 1

            # The birth is registered while the stage runs; the next record about her matches.
            store.apply(RegistryChange(ChangeKind.BIRTH, NEWBORN))
            time.sleep(1.0)  # a few polling intervals
            health.publish(_records_about(NEWBORN, seed=2)[0])
            health.flush()
            _wait_for(lambda: consumed.consumed >= 2)
            assert _outcome(metrics, "reconciled", "MATCHED") == 1

            # A death is registered; a record of an event after it is now refused.
            record = _records_about(living, seed=3)[0]
            occurred = record["occurred_at"]
            assert hasattr(occurred, "date")
            died = occurred.date().replace(day=1)  # type: ignore[union-attr]
            died = max(died, living.date_of_birth)
            store.apply(RegistryChange(ChangeKind.DEATH, living._replace(deceased_on=died)))
            time.sleep(1.0)
            health.publish(record)
            health.flush()
            _wait_for(lambda: consumed.consumed >= 3)
            assert _outcome(metrics, "rejected", "EVENT_AFTER_DEATH") == 1


def test_bad_input_is_rejected_counted_and_the_stage_keeps_running(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        max_record_bytes=4000,
    )
    metrics = HubMetrics(CollectorRegistry())
    with Runtime(settings) as runtime:
        runtime.prepare()
        store = RegistryStore(runtime.engine)
        store.upsert([NEWBORN])
        good = _records_about(NEWBORN, seed=5, count=2)
        schema_id = runtime.schema_id("vn.lgsp.HealthRecord")
        valid = runtime.codec.encode(schema_id, good[0])
        no_number = dict(good[0], citizen={**good[0]["citizen"], "SoDinhDanh": None})  # type: ignore[dict-item]
        cases = {
            "NOT_AVRO": valid[:5] + b"\xff" * 40,
            "BAD_MAGIC_BYTE": b"SoDinhDanh,HoVaTen\r\n",
            "UNKNOWN_SCHEMA_ID": b"\x00\x00\x00\x7f\x7f" + valid[5:],
            "TRUNCATED_RECORD": valid[: len(valid) // 2],
            "OVERSIZED_RECORD": valid + b"\x00" * 5000,
            "MISSING_ID": runtime.codec.encode(schema_id, no_number),
        }
        producer = runtime.clients.producer()
        for value in cases.values():
            producer.produce("lgsp.health.records", value, b"bad")
        producer.flush(10)
        health = publishers_for(runtime)[Department.HEALTH]
        health.publish(good[1])
        health.flush()
        runtime.exchange_url = "http://127.0.0.1:9"
        with Service(runtime, metrics, ("reconcile",)) as pipeline:
            _wait_for(lambda: pipeline.runners["reconcile"].stats.consumed >= len(cases) + 1)
        for reason in cases:
            assert _outcome(metrics, "rejected", reason) == 1, reason
        assert _outcome(metrics, "reconciled", "MATCHED") == 1  # the good record after them all
