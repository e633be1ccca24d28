"""hub.stages.indicators.batch: the batch path reads reconciled records exactly as the
per-record path does: the same dossiers in the store, the same exclusions, the same late and
dead-lettered records, the same counts, on clean, dirty and damaged input."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.bench.forward import reconciled_record
from hub.db import connect
from hub.metrics import HubMetrics
from hub.province import load_province
from hub.stages.indicators import DossierStore, IndicatorStage
from hub.stages.indicators.batch import BatchRead, BatchReader
from hub.stages.indicators.store import dossiers
from hub.topics import INDICATORS, RECONCILED, REJECTED

RECONCILED_ID, OTHER_ID, ACK_ID, SNAPSHOT_ID = 1, 2, 3, 4
PROVINCE = load_province("74")
PUBLISHED = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)


@pytest.fixture
def codec() -> AvroCodec:
    catalog = get_catalog()
    texts = {
        RECONCILED_ID: "vn.lgsp.ReconciledRecord",
        OTHER_ID: "vn.lgsp.LandRecord",
        ACK_ID: "vn.lgsp.ExchangeAck",
        SNAPSHOT_ID: "vn.lgsp.IndicatorSnapshot",
    }
    return AvroCodec({n: catalog.text(name) for n, name in texts.items()}.get)


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    batch, single = (connect(f"sqlite:///{tmp_path / name}") for name in ("batch.db", "single.db"))
    yield batch, single
    batch.dispose()
    single.dispose()


def _stage(codec: AvroCodec, engine: sa.Engine) -> IndicatorStage:
    metrics = HubMetrics(CollectorRegistry())
    return IndicatorStage(codec, DossierStore(engine), SNAPSHOT_ID, metrics, PROVINCE)


def _message(value: bytes | None, offset: int, published: datetime | None) -> Message:
    stamp = (0, -1) if published is None else (1, int(published.timestamp() * 1000))
    return Message(topic=RECONCILED.name, partition=0, offset=offset, key=b"k", value=value, timestamp=stamp)


ODD_LINKS = [" ", "\t", " https://kq.vn/2", "\u00a0", "\u00a0x", "kết-quả"]  # for the per-record path
ODD_CODES = ["١.٠٠١", "1." + "1" * 40]


def _dirty(rng: random.Random, i: int) -> tuple[dict[str, Any], datetime | None]:
    """A reconciled record with every oddity the formulas and exclusions care about, and when it
    was published (None: no timestamp)."""
    record = reconciled_record(i)
    dossier, citizen = record["dossier"], record["citizen"]
    received = PUBLISHED - timedelta(days=rng.choice([0, 1, 5, 30, 31, 32, 40]), minutes=rng.randrange(2000))
    dossier["NgayTiepNhan"] = rng.choice([received] * 6 + [None, PUBLISHED + timedelta(days=1, seconds=1)])
    dossier["NgayHenTra"] = rng.choice([None, received + timedelta(days=rng.randrange(-2, 9))])
    dossier["NgayKetThucXuLy"] = rng.choice([None, received + timedelta(hours=rng.randrange(-30, 200))])
    dossier["KenhThucHien"] = rng.choice([1, 2, 3])
    dossier["PhiLePhi"] = rng.choice([0, 0, 15000, -1])
    dossier["DuocThanhToanTrucTuyen"] = rng.choice([0, 1, 2, 3])
    links = [None, "", "https://kq.vn/1"]
    dossier["DuongDanTepTinKetQua"] = rng.choice(links + ODD_LINKS if rng.random() < 0.2 else links)
    for flag in ("HoSoCoThanhPhanSoHoa", "DuocLayTuKhoDMQG", "TaiKhoanDuocXacThucVoiVNeID"):
        dossier[flag] = rng.random() < 0.5
    dossier["MaTTHC"] = rng.choice(["1.001234", "2.002179", "1.2345", "abc", "1.001\n", ""] * 8 + ODD_CODES)
    district = rng.choice(PROVINCE.districts)
    other = rng.choice(PROVINCE.districts)
    citizen["MaHuyen"] = rng.choice([district.code] * 12 + [None, "999", "71Ắ"])
    citizen["MaXa"] = rng.choice([district.communes[0], other.communes[-1], None, "00000"])
    citizen["HoVaTen"] = rng.choice(["Nguyễn Văn An", "Tran Thi B", "Lê Ánh"])
    record["record_id"] = rng.choice([record["record_id"]] * 20 + [f"{record['record_id']}-é"])
    record["agency"] = rng.choice(["STNMT", "Sở Tư pháp"])  # not read: never sends a record away
    record["reason"] = rng.choice(["MATCHED", "MATCHED_NORMALIZED_NAME", "khớp"])
    record["department"] = rng.choice([record["department"], "land"] * 15 + ["x" * 40])
    published = rng.choice([PUBLISHED] * 20 + [None, PUBLISHED + timedelta(days=3)])
    return record, published


def _damaged(rng: random.Random, value: bytes) -> bytes | None:
    data = bytearray(value)
    what = rng.randrange(6)
    if what == 0:
        return bytes(data[: rng.randrange(len(data))])
    if what == 1:
        return bytes(data) + b"\x00"
    if what == 2:
        return None
    if what == 3:  # a name that is not UTF-8
        at = bytes(data).find("ễ".encode())
        if at >= 0:
            data[at] = 0xFF
        return bytes(data)
    for _ in range(rng.randint(1, 3)):
        data[rng.randrange(5, len(data))] = rng.randrange(256)
    return bytes(data)


def _batch(codec: AvroCodec, seed: int, size: int = 600) -> list[Message]:
    rng = random.Random(seed)
    batch = []
    for i in range(size):
        record, published = _dirty(rng, i)
        value: bytes | None = codec.encode(RECONCILED_ID, record)
        if rng.random() < 0.15:
            value = _damaged(rng, value or b"")
        batch.append(_message(value, i, published))
    batch[0] = _message(codec.encode(RECONCILED_ID, reconciled_record(0)), 0, PUBLISHED)
    batch[1] = _message(batch[1].value(), 1, PUBLISHED)
    batch.append(batch[5])  # one record twice in a batch
    return batch


def _single_path(stage: IndicatorStage) -> IndicatorStage:
    stage.reader.read = lambda values, published: BatchRead()  # type: ignore[method-assign,assignment]
    return stage


def _held(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(dossiers).order_by(dossiers.c.record_id))]


def _outputs(codec: AvroCodec, outputs: list[Any]) -> list[Any]:
    """Outputs as comparable values: snapshots without their computation time."""
    found: list[Any] = []
    for out in outputs:
        if out.topic == INDICATORS.name:
            snapshot = codec.decode(out.value)[1]
            snapshot.pop("computed_at")
            found.append((out.topic, out.key, snapshot))
        else:
            found.append((out.topic, out.key, out.value, out.headers))
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_batch_path_counts_exactly_as_the_per_record_path(
    codec: AvroCodec, engines: tuple[sa.Engine, sa.Engine], seed: int
) -> None:
    batch = _batch(codec, seed)
    fast, slow = _stage(codec, engines[0]), _single_path(_stage(codec, engines[1]))
    decided = fast.reader.read(
        [m.value() or b"" for m in batch], np.array([m.timestamp()[1] for m in batch], np.int64)
    )
    assert len(batch) // 3 < len(decided.rows) < len(batch)  # both paths have work here
    assert decided.late and decided.excluded
    assert _outputs(codec, fast.process(batch)) == _outputs(codec, slow.process(batch))
    assert fast._excluded == slow._excluded
    assert _held(engines[0]) == _held(engines[1])
    assert fast.live.counts == slow.live.counts


def test_a_batch_of_reconciled_and_other_records(
    codec: AvroCodec, engines: tuple[sa.Engine, sa.Engine]
) -> None:
    """Rows of the batch path keep their place among records it does not read (other topics)."""
    batch = _batch(codec, 7, 200)
    land = reconciled_record(900)
    rejected = Message(
        topic=REJECTED.name,
        partition=0,
        offset=1,
        key=b"k",
        value=codec.encode(
            OTHER_ID,
            {
                **{k: land[k] for k in ("record_id", "agency", "occurred_at", "citizen", "dossier")},
                "transaction_type": "MORTGAGE",
                "map_sheet_number": 3,
                "parcel_number": 77,
                "area_m2": 250.0,
            },
        ),
        headers=[("__hub.errors.topic", b"lgsp.land.records")],
        timestamp=(1, int(PUBLISHED.timestamp() * 1000)),
    )
    mixed = [*batch[:50], rejected, *batch[50:]]
    fast, slow = _stage(codec, engines[0]), _single_path(_stage(codec, engines[1]))
    assert _outputs(codec, fast.process(mixed)) == _outputs(codec, slow.process(mixed))
    assert _held(engines[0]) == _held(engines[1])
    assert fast._excluded == slow._excluded


def test_a_reconciled_schema_of_another_shape_is_left_to_the_per_record_path(codec: AvroCodec) -> None:
    reader = BatchReader(codec, PROVINCE, timedelta(days=31))
    assert reader.plan(RECONCILED_ID) is not None
    assert reader.plan(OTHER_ID) is None  # a department record
    assert reader.plan(99) is None  # an unknown schema id
    value = codec.encode(OTHER_ID, {**reconciled_record(1), "transaction_type": "MORTGAGE"} | _LAND)
    assert reader.read([value], np.array([0], np.int64)).rows == []


_LAND = {"map_sheet_number": 3, "parcel_number": 77, "area_m2": 250.0}


def _code_values(values: list[bytes]) -> tuple[Any, Any]:
    from hub.avro.scan import BatchBuffer
    from hub.stages.indicators.batch import _codes

    buffer = BatchBuffer(values)
    return _codes(buffer, buffer.starts, buffer.lengths)


def test_codes_are_the_distinct_values(monkeypatch: pytest.MonkeyPatch) -> None:
    values = [b"718", b"land", b"718", b"", b"social_insurance", b"x" * 33, "Ắ".encode(), b"land"]
    codes, ok = _code_values(values)
    names = [codes.distinct[c] for c in codes.code.tolist()]
    assert [n for n, good in zip(names, ok.tolist(), strict=True) if good] == [
        "718",
        "land",
        "718",
        "",
        "social_insurance",
        "land",
    ]
    assert ok.tolist() == [True, True, True, True, True, False, False, True]  # too long; not ASCII
    monkeypatch.setattr("hub.stages.indicators.batch._MIX", np.uint64(0))  # every hash collides...
    codes, ok = _code_values([b"aaaaaaaaX", b"bbbbbbbbX", b"aaaaaaaaX"])
    assert ok.tolist() == [True, False, True]  # ...and a collision goes to the per-record path
    assert codes.distinct[codes.code[0]] == "aaaaaaaaX"
