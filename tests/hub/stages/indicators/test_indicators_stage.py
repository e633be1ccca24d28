"""Unit tests for hub.stages.indicators.stage: dossiers in, reuse-rate snapshots out, on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.db import connect
from hub.metrics import HubMetrics
from hub.stages.indicators import DossierStore, IndicatorStage
from hub.topics import DEPARTMENT_TOPICS, INDICATORS, INDICATORS_DEAD_LETTERS, Department

LAND_ID, SNAPSHOT_ID = 1, 2
LAND = DEPARTMENT_TOPICS[Department.LAND].name
RECEIVED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def codec() -> AvroCodec:
    catalog = get_catalog()
    return AvroCodec(
        {
            LAND_ID: catalog.text("vn.lgsp.LandRecord"),
            SNAPSHOT_ID: catalog.text(INDICATORS.value_schema or ""),
        }.get
    )


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'hub.db'}")
    yield engine
    engine.dispose()


def land(codec: AvroCodec, record_id: str, reuses: bool) -> bytes:
    record: dict[str, Any] = {
        "record_id": record_id,
        "agency": "STNMT",
        "occurred_at": RECEIVED,
        "citizen": {
            "SoDinhDanh": "074085001234",
            "SoCMND": None,
            "HoVaTen": "Nguyễn Văn An",
            "NgayThangNamSinh": date(1985, 3, 14),
            "GioiTinh": "MALE",
            "MaHuyen": None,
            "MaXa": None,
        },
        "dossier": {
            "MaHoSo": f"HS-{record_id}",
            "MaTTHC": "1.2345",
            "NgayTiepNhan": RECEIVED,
            "KenhThucHien": 2,
            "HoSoCoThanhPhanSoHoa": reuses,
        },
        "transaction_type": "MORTGAGE",
        "map_sheet_number": 3,
        "parcel_number": 77,
        "area_m2": 250.0,
    }
    return codec.encode(LAND_ID, record)


def test_an_unreadable_record_is_dead_lettered_and_the_rest_counted(
    codec: AvroCodec, engine: sa.Engine
) -> None:
    metrics = HubMetrics(CollectorRegistry())
    stage = IndicatorStage(codec, DossierStore(engine), SNAPSHOT_ID, metrics)
    values = [land(codec, "a", True), b"\x00\x00\x00\x00\x63rest", b"{json}", land(codec, "b", False)]
    batch = [Message(topic=LAND, partition=0, offset=i, key=b"k", value=v) for i, v in enumerate(values)]
    outputs = stage.process(batch)
    snapshots = [codec.decode(o.value)[1] for o in outputs if o.topic == INDICATORS.name]
    assert {(s["department"], s["numerator"], s["denominator"]) for s in snapshots} == {
        ("land", 1, 2),
        ("all", 1, 2),
    }
    dead = [o for o in outputs if o.topic == INDICATORS_DEAD_LETTERS.name]
    assert [o.value for o in dead] == values[1:3]
    assert [dict(o.headers)["__hub.errors.reason"] for o in dead] == [b"UNKNOWN_SCHEMA_ID", b"BAD_MAGIC_BYTE"]
    assert all(dict(o.headers)["__hub.errors.stage"] == b"indicators" for o in dead)
    stage.committed()
    assert (
        metrics.registry.get_sample_value(
            "hub_indicator_rate", {"indicator": "reuse_rate", "department": "land"}
        )
        == 0.5
    )


def test_a_batch_processed_again_counts_each_record_once(codec: AvroCodec, engine: sa.Engine) -> None:
    stage = IndicatorStage(codec, DossierStore(engine), SNAPSHOT_ID, HubMetrics(CollectorRegistry()))
    batch = [Message(topic=LAND, partition=0, offset=0, key=b"k", value=land(codec, "a", True))]
    stage.process(batch)
    stage.discard()
    outputs = stage.process(batch)
    assert {codec.decode(o.value)[1]["denominator"] for o in outputs} == {1}
