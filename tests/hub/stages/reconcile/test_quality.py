"""Reconciliation quality against the simulator's ground truth, at scale and with the default dirt.

No broker: simulated records become ``confluent_kafka.Message`` objects with Avro values and go
through ``ReconcileStage.process`` in batches, as the stage loop would feed them. The true citizen
of each record is recovered by undoing the dirt the simulator says it applied.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

import pytest
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.kafka.stage import OutMessage
from hub.metrics import HubMetrics
from hub.province import known_province_codes, load_province
from hub.registry import RegistrySnapshot
from hub.stages.reconcile.stage import ReconcileStage
from hub.topics import DEPARTMENT_TOPICS, RECONCILED, REJECTED, Department
from producers.population import Population, generate_population
from producers.simulate import BundleProfile, DirtProfile, SimulatedRecord, Simulator

CITIZENS = 300_000
RECORDS = 200_000
BATCH = 2000
MIN_PRECISION = 0.999
MIN_RECALL = 0.99

RECONCILED_ID = 100
SCHEMA_IDS = {department: 101 + i for i, department in enumerate(Department)}


@dataclass
class Tally:
    """Decisions against the ground truth."""

    repairable: int = 0
    matched: int = 0  # matched decisions, repairable or not
    correct: int = 0  # matched to the true citizen, on a record whose truth is a match
    wrong_citizen: list[str] = field(default_factory=list)
    false_matches: list[str] = field(default_factory=list)  # matched, though the truth is a rejection
    wrong_reason: list[str] = field(default_factory=list)  # unrepairable, rejected for another reason
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)  # (expected, got)

    @property
    def precision(self) -> float:
        return self.correct / self.matched if self.matched else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.repairable if self.repairable else 1.0

    def table(self) -> str:
        rows = [f"{'expected':<26} {'got':<26} {'records':>8}"]
        rows += [f"{e:<26} {g:<26} {n:>8}" for (e, g), n in sorted(self.confusion.items())]
        return "\n".join(rows)


def _codec() -> AvroCodec:
    catalog = get_catalog()
    texts = {sid: catalog.text(DEPARTMENT_TOPICS[d].value_schema or "") for d, sid in SCHEMA_IDS.items()}
    texts[RECONCILED_ID] = catalog.text(RECONCILED.value_schema or "")
    return AvroCodec(texts.get)


def _true_number(simulated: SimulatedRecord, legacy_owner: dict[str, str]) -> str | None:
    """The number of the citizen a record is really about, undoing the dirt applied to it."""
    if simulated.raw is not None:
        return None
    declared = simulated.record["citizen"]
    if simulated.dirt == "legacy_instead":
        return legacy_owner[declared["SoCMND"]]
    number = declared["SoDinhDanh"]
    if simulated.dirt == "lost_leading_zero":
        return "0" + number
    if simulated.dirt == "separators":
        return "".join(ch for ch in number if ch.isdigit())
    return str(number)


def _messages(
    records: list[SimulatedRecord], codec: AvroCodec, first_offset: int
) -> Iterator[tuple[Message, SimulatedRecord]]:
    for i, simulated in enumerate(records):
        offset = first_offset + i
        value = simulated.raw
        if value is None:
            value = codec.encode(SCHEMA_IDS[simulated.department], simulated.record)
        message = Message(
            topic=DEPARTMENT_TOPICS[simulated.department].name,
            partition=offset % 3,
            offset=offset,
            key=simulated.record_id.encode(),
            value=value,
        )
        yield message, simulated


@pytest.fixture(scope="module")
def population() -> Population:
    return generate_population(load_province("74"), CITIZENS, seed=74)


def test_reconciliation_quality_on_default_dirt(population: Population) -> None:
    started = time.perf_counter()
    citizens = list(population)
    legacy_owner = {c.legacy_id: c.citizen_id for c in citizens if c.legacy_id}
    registry = RegistrySnapshot(citizens)
    codec = _codec()
    stage = ReconcileStage(
        codec, lambda: registry, known_province_codes(), RECONCILED_ID, HubMetrics(CollectorRegistry())
    )
    records = Simulator(population, seed=2026, dirt=DirtProfile(), bundles=BundleProfile()).records()
    tally, dirt = Tally(), Counter[str]()
    prepared = time.perf_counter()
    for first in range(0, RECORDS, BATCH):
        pairs = list(_messages(list(islice(records, BATCH)), codec, first))
        outputs = stage.process([m for m, _ in pairs])
        stage.committed()
        assert len(outputs) == len(pairs), "every input yields exactly one output"
        for (message, simulated), out in zip(pairs, outputs, strict=True):
            dirt[simulated.dirt] += 1
            _judge(simulated, out, message, codec, _true_number(simulated, legacy_owner), tally)
    elapsed = time.perf_counter() - prepared

    print(
        f"\nreconcile quality: {RECORDS} records, {len(population)} citizens, "
        f"{RECORDS / elapsed:,.0f} records/s through ReconcileStage.process "
        f"(setup {prepared - started:.1f} s, run {elapsed:.1f} s)\n"
        f"precision {tally.precision:.6f} ({tally.correct}/{tally.matched} matched decisions correct)\n"
        f"recall    {tally.recall:.6f} ({tally.correct}/{tally.repairable} repairable records matched)\n"
        f"dirt: {dict(sorted(dirt.items()))}\n{tally.table()}"
    )
    assert tally.repairable > 0.95 * RECORDS
    assert tally.precision >= MIN_PRECISION, (
        f"precision {tally.precision:.6f}; wrong citizen for {tally.wrong_citizen[:10]}, "
        f"false matches {tally.false_matches[:10]}\n{tally.table()}"
    )
    assert tally.recall >= MIN_RECALL, f"recall {tally.recall:.6f}\n{tally.table()}"
    assert not tally.wrong_reason, (
        f"{len(tally.wrong_reason)} unrepairable records without their expected rejection, "
        f"e.g. {tally.wrong_reason[:10]}\n{tally.table()}"
    )


def _judge(
    simulated: SimulatedRecord,
    out: OutMessage,
    message: Message,
    codec: AvroCodec,
    true_number: str | None,
    tally: Tally,
) -> None:
    topic = out.topic
    if topic == RECONCILED.name:
        _, reconciled = codec.decode(out.value)
        got = reconciled["reason"]
        assert reconciled["source"] == {
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
        }
        tally.matched += 1
        if not simulated.matched:
            tally.false_matches.append(simulated.record_id)
        elif reconciled["citizen"]["SoDinhDanh"] == true_number:
            tally.correct += 1
        else:
            tally.wrong_citizen.append(simulated.record_id)
    else:
        assert topic == REJECTED.name
        headers = dict(out.headers)
        got = headers["__hub.errors.reason"].decode()
        assert out.value == message.value()
        assert headers["__hub.errors.offset"] == str(message.offset()).encode()
    tally.repairable += simulated.matched
    if not simulated.matched and got != simulated.expected:
        tally.wrong_reason.append(f"{simulated.record_id} ({simulated.dirt}): {got}")
    tally.confusion[(str(simulated.expected), got)] += 1
