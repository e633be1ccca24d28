"""hub.stages.indicators.stage on SQLite: reconciled, rejected and acknowledged records in,
every changed indicator out; once per record id, in any order, after a restart too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
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
from hub.stages.indicators.counts import LIVE_DIMENSIONS, facts_key, fold, group_rows
from hub.stages.indicators.formulas import INDICATOR_NAMES
from hub.topics import (
    DEPARTMENT_TOPICS,
    EXCHANGE_ACKS,
    INDICATORS,
    INDICATORS_COUNTS,
    INDICATORS_DEAD_LETTERS,
    INDICATORS_LATE,
    RECONCILED,
    REJECTED,
    Department,
)

RECONCILED_ID, LAND_ID, ACK_ID, SNAPSHOT_ID = 1, 2, 3, 4
PUBLISHED = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)


@pytest.fixture
def codec() -> AvroCodec:
    catalog = get_catalog()
    texts = {
        RECONCILED_ID: "vn.lgsp.ReconciledRecord",
        LAND_ID: "vn.lgsp.LandRecord",
        ACK_ID: "vn.lgsp.ExchangeAck",
        SNAPSHOT_ID: "vn.lgsp.IndicatorSnapshot",
    }
    return AvroCodec({n: catalog.text(name) for n, name in texts.items()}.get)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'hub.db'}")
    yield engine
    engine.dispose()


def stage_on(
    codec: AvroCodec, engine: sa.Engine, registry: CollectorRegistry | None = None
) -> IndicatorStage:
    metrics = HubMetrics(registry or CollectorRegistry())
    return IndicatorStage(codec, DossierStore(engine), SNAPSHOT_ID, metrics, load_province("74"))


def message(
    topic: str, value: bytes, offset: int = 0, headers: Any = None, at: datetime = PUBLISHED
) -> Message:
    millis = int(at.timestamp() * 1000)
    return Message(
        topic=topic, partition=0, offset=offset, key=b"k", value=value, headers=headers, timestamp=(1, millis)
    )


def reconciled(codec: AvroCodec, i: int, **dossier: Any) -> Message:
    record = reconciled_record(i)
    record["dossier"].update(dossier)
    return message(RECONCILED.name, codec.encode(RECONCILED_ID, record), i)


def rejected(codec: AvroCodec, i: int) -> Message:
    record = reconciled_record(i)
    land = {
        **{k: record[k] for k in ("record_id", "agency", "occurred_at", "citizen", "dossier")},
        "transaction_type": "MORTGAGE",
        "map_sheet_number": 3,
        "parcel_number": 77,
        "area_m2": 250.0,
    }
    where = [("__hub.errors.topic", DEPARTMENT_TOPICS[Department.LAND].name.encode())]
    return message(REJECTED.name, codec.encode(LAND_ID, land), i, where)


def ack(codec: AvroCodec, i: int, status: str = "ACCEPTED") -> Message:
    record_id = reconciled_record(i)["record_id"]
    value = {"record_id": record_id, "status": status, "attempts": 1, "acked_at": PUBLISHED}
    return message(EXCHANGE_ACKS.name, codec.encode(ACK_ID, value), i)


def snapshots(codec: AvroCodec, outputs: list[Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for out in outputs:
        if out.topic == INDICATORS.name:
            found[out.key.decode()] = codec.decode(out.value)[1]
    return found


def test_every_indicator_of_every_changed_key_is_published(codec: AvroCodec, engine: sa.Engine) -> None:
    stage = stage_on(codec, engine)
    out = stage.process(
        [reconciled(codec, 0), reconciled(codec, 1, HoSoCoThanhPhanSoHoa=False), rejected(codec, 2)]
    )
    found = snapshots(codec, out)
    day = reconciled_record(0)["dossier"]["NgayTiepNhan"].astimezone(UTC).date().isoformat()
    reuse = found[f"reuse_rate/province/all/{day}"]
    assert (reuse["numerator"], reuse["denominator"], reuse["period_kind"]) == (1, 3, "day")
    population = found[f"population_data_rate/province/all/{day}"]
    assert (population["numerator"], population["denominator"]) == (2, 3)  # the rejected one: not matched
    assert found[f"reuse_rate/district/unverified/{day}"]["denominator"] == 1
    assert {key.split("/")[0] for key in found} == set(INDICATOR_NAMES)
    assert {key.split("/")[1] for key in found} == {"province", "department", "district"}


def test_the_same_input_twice_or_in_another_order_counts_once(
    codec: AvroCodec, engine: sa.Engine, tmp_path: Path
) -> None:
    batch = [reconciled(codec, i) for i in range(6)] + [ack(codec, 1), ack(codec, 2, "REJECTED")]
    once = stage_on(codec, engine)
    first = snapshots(codec, once.process(batch))
    assert snapshots(codec, once.process(batch)) == {}  # nothing new: nothing changed
    other = connect(f"sqlite:///{tmp_path / 'other.db'}")
    reordered = stage_on(codec, other)
    reordered.process(list(reversed(batch[3:])))
    reordered.process(list(reversed(batch[:3])))
    assert _values(once) == _values(reordered)
    synced = [v for k, v in first.items() if k.startswith("sync_rate/province/all/")]
    assert sum(v["numerator"] for v in synced if v["period_kind"] == "month") == 1  # ACCEPTED only
    other.dispose()


def test_a_restart_reads_the_counts_back(codec: AvroCodec, engine: sa.Engine) -> None:
    before = stage_on(codec, engine)
    before.process([reconciled(codec, i) for i in range(5)] + [ack(codec, 3)])
    after = stage_on(codec, engine)
    assert _values(after) == _values(before)
    assert after.live.touched()  # everything is published again after a restart


def test_late_unreadable_and_impossible_records(codec: AvroCodec, engine: sa.Engine) -> None:
    registry = CollectorRegistry()
    stage = stage_on(codec, engine, registry)
    late = reconciled(codec, 0)
    late = message(RECONCILED.name, late.value(), 0, at=PUBLISHED + timedelta(days=60))
    out = stage.process(
        [
            late,
            message(RECONCILED.name, b"\x00\x00\x00\x00\x63rest", 1),
            message(REJECTED.name, b"garbage", 2),
            reconciled(
                codec, 3, NgayKetThucXuLy=reconciled_record(3)["dossier"]["NgayTiepNhan"] - timedelta(days=1)
            ),
        ]
    )
    topics = [o.topic for o in out if o.topic not in (INDICATORS.name, INDICATORS_COUNTS.name)]
    assert sorted(topics) == sorted([INDICATORS_LATE.name, INDICATORS_DEAD_LETTERS.name])
    stage.committed()
    sample = registry.get_sample_value
    assert sample("hub_indicator_exclusions_total", {"reason": "TOO_LATE"}) == 1
    assert sample("hub_indicator_exclusions_total", {"reason": "UNREADABLE"}) == 1
    assert sample("hub_indicator_exclusions_total", {"reason": "FINISHED_BEFORE_RECEIVED"}) == 1
    assert sample("hub_indicator_late_records_total", {"department": reconciled_record(0)["department"]}) == 1
    assert DossierStore(engine).count() == 1


def test_discard_counts_again_from_the_store(codec: AvroCodec, engine: sa.Engine) -> None:
    stage = stage_on(codec, engine)
    batch = [reconciled(codec, i) for i in range(4)]
    stage.process(batch)
    expected = _values(stage)
    stage.discard()  # the outputs were not delivered; the batch will be read again
    stage.process(batch)
    assert _values(stage) == expected


def test_gauges_show_the_latest_periods(codec: AvroCodec, engine: sa.Engine) -> None:
    registry = CollectorRegistry()
    stage = stage_on(codec, engine, registry)
    stage.process([reconciled(codec, i) for i in range(13)])
    stage.committed()
    labels = {"indicator": "reuse_rate", "dimension": "province", "value": "all", "period": "month"}
    assert registry.get_sample_value("hub_indicator_ratio", labels) == pytest.approx(1 / 13)


def counts_events(outputs: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(out.value) for out in outputs if out.topic == INDICATORS_COUNTS.name]


def folded(events: list[dict[str, Any]]) -> dict[Any, dict[str, int]]:
    """What a faust table holds after ``events``, in order: the rule of hub.stages.indicators.counts."""
    return {key: value["counts"] for key, value in fold(events).items() if value["counts"]}


def store_state(engine: sa.Engine) -> dict[Any, dict[str, int]]:
    store = DossierStore(engine)
    return {
        (day.isoformat(), dimension, value): {facts_key(f): n for f, n in tally.items() if n}
        for dimension in LIVE_DIMENSIONS
        for (day, value), tally in store.tallies(dimension).items()
        if day is not None
    }


def test_counts_events_fold_into_the_stores_counts(codec: AvroCodec, engine: sa.Engine) -> None:
    stage = stage_on(codec, engine)
    first = counts_events(stage.process([reconciled(codec, i) for i in range(6)]))
    second = counts_events(stage.process([reconciled(codec, i) for i in range(4, 9)] + [ack(codec, 2)]))
    again = counts_events(stage.process([reconciled(codec, i) for i in range(3)]))  # read twice
    assert [e["kind"] for e in first + second + again] == ["state", "delta", "delta"]
    assert first[0]["seq"] < second[0]["seq"] < again[0]["seq"]
    assert again[0]["rows"] == []
    day = reconciled_record(2)["dossier"]["NgayTiepNhan"].astimezone(UTC).date().isoformat()
    changed = group_rows(second[0]["rows"])[day, "province", "all"]
    assert [n for key, n in changed.items() if key.endswith("1")] == [1]  # synced: the last fact
    assert folded(first + second + again) == store_state(engine)
    assert sum(sum(c.values()) for (_, dim, _), c in folded(first + second).items() if dim == "province") == 9


def test_a_lost_counts_event_is_made_good_by_the_state_after_a_discard(
    codec: AvroCodec, engine: sa.Engine
) -> None:
    stage = stage_on(codec, engine)
    kept = counts_events(stage.process([reconciled(codec, i) for i in range(3)]))
    stage.process([reconciled(codec, i) for i in range(3, 7)])  # its outputs never delivered
    stage.discard()
    kept += counts_events(stage.process([reconciled(codec, i) for i in range(3, 8)]))
    assert kept[-1]["kind"] == "state"
    assert folded(kept) == store_state(engine)
    restarted = stage_on(codec, engine)  # a restart sends the state too
    assert counts_events(restarted.process([reconciled(codec, 1)]))[0]["kind"] == "state"


def _values(stage: IndicatorStage) -> dict[Any, Any]:
    return {key: dict(counts) for key, counts in stage.live.counts.items() if sum(counts.values())}
