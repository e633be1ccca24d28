"""Unit tests for hub.stages.reconcile.batch: the batch path decides only what the per-record path
(:func:`hub.stages.reconcile.stage.reconcile_message`) decides the same, to the byte."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Message

from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec, frame
from hub.province import known_province_codes, load_province
from hub.registry import RegistryCitizen, RegistrySnapshot
from hub.stages.reconcile.batch import BatchReconciler, BatchResult
from hub.stages.reconcile.stage import _DEPARTMENT_OF, reconcile_message
from hub.topics import DEPARTMENT_TOPICS, RECONCILED, Department
from producers.population import Population, generate_population
from producers.simulate import BundleProfile, DirtProfile, Simulator

CITIZENS, RECORDS = 40_000, 16_000
RECONCILED_ID, OLD_RECONCILED_ID = 100, 99
SCHEMA_IDS = {department: 101 + i for i, department in enumerate(Department)}
NOW = datetime(2026, 11, 5, 1, 2, 3, 456000, tzinfo=UTC)
PROVINCES = known_province_codes()
LAND = DEPARTMENT_TOPICS[Department.LAND].name


def _codec() -> AvroCodec:
    catalog = get_catalog()
    texts = {sid: catalog.text(DEPARTMENT_TOPICS[d].value_schema or "") for d, sid in SCHEMA_IDS.items()}
    texts[RECONCILED_ID] = catalog.text(RECONCILED.value_schema or "")
    texts[OLD_RECONCILED_ID] = catalog.text("vn.lgsp.Citizen")  # not a reconciled record at all
    return AvroCodec(texts.get)


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return _codec()


@pytest.fixture(scope="module")
def population() -> Population:
    return generate_population(load_province("74"), CITIZENS, seed=7)


@pytest.fixture(scope="module")
def registry(population: Population) -> RegistrySnapshot:
    return RegistrySnapshot.from_rows([tuple(c) for c in population])


@pytest.fixture(scope="module")
def messages(population: Population, codec: AvroCodec) -> list[Message]:
    """Simulated department messages with three times the default dirt."""
    simulator = Simulator(population, seed=11, dirt=DirtProfile().scaled(3), bundles=BundleProfile())
    out = []
    for offset, simulated in enumerate(islice(simulator.records(), RECORDS)):
        value = simulated.raw
        if value is None:
            value = codec.encode(SCHEMA_IDS[simulated.department], simulated.record)
        out.append(_message(value, DEPARTMENT_TOPICS[simulated.department].name, offset))
    return out


def _message(value: bytes | None, topic: str = LAND, offset: int = 0) -> Message:
    return Message(topic=topic, partition=offset % 3, offset=offset, key=b"k", value=value)


def _run(reconciler: BatchReconciler, batch: list[Message], registry: Any) -> BatchResult:
    return reconciler.run(
        [m.value() or b"" for m in batch],
        [m.topic() for m in batch],
        np.array([m.partition() for m in batch], np.int64),
        np.array([m.offset() for m in batch], np.int64),
        registry,
        NOW,
    )


def _reconciler(codec: AvroCodec, reconciled_id: int = RECONCILED_ID) -> BatchReconciler:
    return BatchReconciler(codec, reconciled_id, dict(_DEPARTMENT_OF))


def _assert_as_one_by_one(
    result: BatchResult, batch: list[Message], codec: AvroCodec, registry: RegistrySnapshot
) -> None:
    """Every record the batch path decided, the per-record path decides the same."""
    assert len(set(result.rows)) == len(result.rows)
    assert len(result.values) == len(result.keys) == len(result.reasons) == len(result.rows)
    for row, value, key, reason in zip(result.rows, result.values, result.keys, result.reasons, strict=True):
        verdict = reconcile_message(batch[row], codec, registry, PROVINCES, RECONCILED_ID, NOW)
        assert verdict.matched and verdict.reason == reason, (row, verdict.reason, reason)
        assert verdict.output.key == key and verdict.output.value == value, row
    counted = Counter[tuple[str, str]]()
    for row, reason in zip(result.rows, result.reasons, strict=True):
        counted[batch[row].topic() or "", reason] += 1
    assert result.counts == counted


@pytest.mark.parametrize("size", [1, 7, 500, 4000])
def test_decides_as_the_per_record_path_in_batches_of_any_size(
    size: int, codec: AvroCodec, registry: RegistrySnapshot, messages: list[Message]
) -> None:
    reconciler = _reconciler(codec)
    decided = 0
    sample = messages[: max(4000, size)] if size > 1 else messages[:300]
    for first in range(0, len(sample), size):
        batch = sample[first : first + size]
        result = _run(reconciler, batch, registry)
        _assert_as_one_by_one(result, batch, codec, registry)
        decided += len(result.rows)
    matched = sum(
        reconcile_message(m, codec, registry, PROVINCES, RECONCILED_ID, NOW).matched for m in sample
    )
    assert decided >= 0.95 * matched  # the common case is decided here: nothing else is fast


def test_every_kind_of_match_is_decided_here(
    codec: AvroCodec, registry: RegistrySnapshot, messages: list[Message]
) -> None:
    result = _run(_reconciler(codec), messages, registry)
    _assert_as_one_by_one(result, messages, codec, registry)
    assert set(result.reasons) == {
        "MATCHED",
        "MATCHED_REPAIRED_ID",
        "MATCHED_LEGACY_ID",
        "MATCHED_NORMALIZED_NAME",
    }


def _damaged(value: bytes, rng: random.Random) -> bytes:
    data = bytearray(value)
    kind = rng.randrange(5) if len(data) > 8 else 2
    if kind == 0:  # a byte or two changed
        for _ in range(rng.randint(1, 2)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:  # cut short
        del data[rng.randrange(1, len(data)) :]
    elif kind == 2:  # bytes after the record
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
    elif kind == 3:  # a bit flipped in the head
        data[rng.randrange(5, min(len(data), 80))] ^= 1 << rng.randrange(8)
    else:  # a byte inserted
        data.insert(rng.randrange(5, len(data)), rng.randrange(256))
    return bytes(data)


def test_damaged_records_are_decided_as_one_by_one_or_left_to_it(
    codec: AvroCodec, registry: RegistrySnapshot, messages: list[Message]
) -> None:
    rng = random.Random(2026)
    batch = [_message(_damaged(m.value() or b"", rng), m.topic() or "", m.offset()) for m in messages[:6000]]
    result = _run(_reconciler(codec), batch, registry)
    _assert_as_one_by_one(result, batch, codec, registry)
    assert 0 < len(result.rows) < len(batch)


def _land(codec: AvroCodec, citizen: RegistryCitizen, **declared: Any) -> bytes:
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    record = {
        "record_id": "STNMT-1",
        "agency": "STNMT",
        "occurred_at": at,
        "citizen": {**citizen.as_citizen_record(), **declared},
        "dossier": {"MaHoSo": "HS-1", "MaTTHC": "1.2345", "NgayTiepNhan": at, "KenhThucHien": 2},
        "transaction_type": "MORTGAGE",
        "map_sheet_number": 3,
        "parcel_number": 77,
        "area_m2": 250.0,
    }
    return codec.encode(SCHEMA_IDS[Department.LAND], record)


def test_what_it_leaves_to_the_per_record_path(codec: AvroCodec, population: Population) -> None:
    alive, dead, renamed, moved, other = islice(iter(population), 5)
    snapshot = RegistrySnapshot([alive, dead._replace(deceased_on=date(2026, 1, 1)), renamed, moved, other])
    snapshot.update([renamed._replace(full_name="Tên Mới"), other._replace(legacy_id="123456789")])
    cases = {
        "alive": _land(codec, alive),
        "deceased": _land(codec, dead),
        "changed since the snapshot": _land(codec, renamed),
        "non-ASCII in another string": _land(codec, alive, MaXa="Xã Đông"),
        "unknown schema id": frame(999, _land(codec, alive)[5:]),
        "not the wire format": b"\x01" + _land(codec, alive)[1:],
        "empty": b"",
        "a different birth date": _land(codec, alive, NgayThangNamSinh=date(1901, 1, 1)),
        "a different name": _land(codec, alive, HoVaTen="Ai Đó Khác"),
        "unknown number": _land(codec, alive, SoDinhDanh="074999999999"),
    }
    batch = [_message(value, LAND, i) for i, value in enumerate(cases.values())]
    batch.append(_message(_land(codec, alive), "some.other.topic", 99))
    result = _run(_reconciler(codec), batch, snapshot)
    assert result.rows == [0]  # only the living citizen, unchanged, in a plain record
    _assert_as_one_by_one(result, batch, codec, snapshot)


def test_a_legacy_number_moved_since_the_snapshot_is_left_to_the_per_record_path(
    codec: AvroCodec, population: Population
) -> None:
    giver = next(c for c in population if c.legacy_id)
    taker = next(c for c in population if not c.legacy_id)
    snapshot = RegistrySnapshot([giver, taker])
    value = _land(codec, giver, SoDinhDanh=None, SoCMND=giver.legacy_id)
    assert _run(_reconciler(codec), [_message(value)], snapshot).rows == [0]
    snapshot.update([giver._replace(legacy_id=None), taker._replace(legacy_id=giver.legacy_id)])
    assert _run(_reconciler(codec), [_message(value)], snapshot).rows == []
    verdict = reconcile_message(_message(value), codec, snapshot, PROVINCES, RECONCILED_ID, NOW)
    assert verdict.reason == "NAME_MISMATCH"  # the number now leads to the taker, not to this name


def test_nothing_is_decided_without_a_columnar_registry_or_with_another_reconciled_schema(
    codec: AvroCodec, registry: RegistrySnapshot, messages: list[Message]
) -> None:
    class Dicts:
        def by_id(self, citizen_id: str) -> RegistryCitizen | None:
            return registry.by_id(citizen_id)

        def by_legacy(self, legacy_id: str) -> RegistryCitizen | None:
            return registry.by_legacy(legacy_id)

    assert _run(_reconciler(codec), messages[:50], Dicts()).rows == []
    assert _run(_reconciler(codec, OLD_RECONCILED_ID), messages[:50], registry).rows == []
    assert _run(_reconciler(codec), [], registry).rows == []
