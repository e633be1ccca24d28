"""Unit tests for hub.stages.reconcile.stage, with confluent_kafka.Message objects built by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec, DecodeReason
from hub.errors import TopicError
from hub.kafka.stage import dead_letter
from hub.metrics import HubMetrics
from hub.province import known_province_codes, load_province
from hub.registry import RegistryCitizen, RegistrySnapshot
from hub.stages.reconcile.stage import ReconcileStage, reconcile_message
from hub.topics import DEPARTMENT_TOPICS, RECONCILED, REJECTED, Department
from producers.population import generate_population

PROVINCES = known_province_codes()
LAND = DEPARTMENT_TOPICS[Department.LAND].name
CIVIL = DEPARTMENT_TOPICS[Department.CIVIL_STATUS].name
CITIZEN_ID, LAND_ID, CIVIL_ID, RECONCILED_ID = 1, 2, 3, 4
NOW = datetime(2026, 11, 3, 1, 2, 3, tzinfo=UTC)

AN = RegistryCitizen("074085001234", "280123456", "Nguyễn Văn An", date(1985, 3, 14), "M", "718", "25700")
HOA = RegistryCitizen(
    "079150000007",
    None,
    "Lê Thị Hoa",
    date(1950, 1, 20),
    "F",
    "720",
    "25730",
    deceased_on=date(2024, 5, 10),
)
REGISTRY = RegistrySnapshot([AN, HOA])


@pytest.fixture
def codec() -> AvroCodec:
    catalog = get_catalog()
    return AvroCodec(
        {
            CITIZEN_ID: catalog.text("vn.lgsp.Citizen"),
            LAND_ID: catalog.text("vn.lgsp.LandRecord"),
            CIVIL_ID: catalog.text("vn.lgsp.CivilStatusRecord"),
            RECONCILED_ID: catalog.text(RECONCILED.value_schema or ""),
        }.get
    )


def citizen(row: RegistryCitizen = AN, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "SoDinhDanh": row.citizen_id,
        "SoCMND": None,
        "HoVaTen": row.full_name,
        "NgayThangNamSinh": row.date_of_birth,
        "GioiTinh": "MALE" if row.gender == "M" else "FEMALE",
        "MaHuyen": None,
        "MaXa": None,
    }
    fields.update(overrides)
    return fields


def dossier(received: datetime) -> dict[str, Any]:
    return {
        "MaHoSo": "HS-1",
        "MaTTHC": "1.2345",
        "NgayTiepNhan": received,
        "NgayHenTra": None,
        "NgayKetThucXuLy": None,
        "KenhThucHien": 2,
        "PhiLePhi": 0,
        "DuocThanhToanTrucTuyen": 0,
        "MaKetQua": None,
        "DuongDanTepTinKetQua": None,
        "HoSoCoThanhPhanSoHoa": True,
        "DuocLayTuKhoDMQG": False,
        "TaiKhoanDuocXacThucVoiVNeID": False,
    }


def land_value(codec: AvroCodec, declared: dict[str, Any], record_id: str = "STNMT-1") -> bytes:
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    return codec.encode(
        LAND_ID,
        {
            "record_id": record_id,
            "agency": "STNMT",
            "occurred_at": at,
            "citizen": declared,
            "dossier": dossier(at),
            "transaction_type": "MORTGAGE",
            "map_sheet_number": 3,
            "parcel_number": 77,
            "area_m2": 250.0,
        },
    )


def civil_value(
    codec: AvroCodec,
    declared: dict[str, Any],
    occurred: datetime,
    event_date: date,
    event_type: str = "MARRIAGE",
) -> bytes:
    return codec.encode(
        CIVIL_ID,
        {
            "record_id": "STP-1",
            "agency": "STP",
            "occurred_at": occurred,
            "citizen": declared,
            "dossier": dossier(occurred),
            "event_type": event_type,
            "registration_number": "000001/2024",
            "event_date": event_date,
        },
    )


def message(
    value: bytes | None,
    topic: str = LAND,
    key: bytes | None = b"the-key",
    headers: list[tuple[str, bytes]] | None = None,
    offset: int = 42,
) -> Message:
    return Message(
        topic=topic,
        partition=2,
        offset=offset,
        key=key,
        value=value,
        headers=headers if headers is not None else [("traceparent", b"00-abc")],
    )


def decide(codec: AvroCodec, msg: Message) -> Any:
    return reconcile_message(msg, codec, REGISTRY, PROVINCES, RECONCILED_ID, NOW)


# --- matched ---------------------------------------------------------------------------------


def test_matched_record_goes_to_reconciled(codec: AvroCodec) -> None:
    value = land_value(codec, citizen())
    verdict = decide(codec, message(value))
    assert verdict.matched
    assert verdict.department == "land"
    assert verdict.reason == "MATCHED"
    out = verdict.output
    assert out.topic == RECONCILED.name
    assert out.key == AN.citizen_id.encode()
    assert out.headers == []  # the source position leads to the original message and its headers
    schema_id, record = codec.decode(out.value)
    assert schema_id == RECONCILED_ID
    assert record["original"] == value  # the department's bytes, unaltered
    assert record["original_schema_id"] == LAND_ID
    assert record["source"] == {"topic": LAND, "partition": 2, "offset": 42}
    assert record["record_id"] == "STNMT-1"
    assert record["agency"] == "STNMT"
    assert record["department"] == "land"
    assert record["reconciled_at"] == NOW
    assert record["dossier"]["HoSoCoThanhPhanSoHoa"] is True


def test_reconciled_record_carries_the_registry_citizen(codec: AvroCodec) -> None:
    declared = citizen(SoDinhDanh="74 085 001234", HoVaTen="NGUYEN VAN AN", MaXa="99999")
    value = land_value(codec, declared)
    verdict = decide(codec, message(value))
    assert verdict.reason == "MATCHED_REPAIRED_ID"
    _, record = codec.decode(verdict.output.value)
    assert record["reason"] == "MATCHED_REPAIRED_ID"
    assert record["citizen"] == {
        "SoDinhDanh": "074085001234",
        "SoCMND": "280123456",
        "HoVaTen": "Nguyễn Văn An",
        "NgayThangNamSinh": date(1985, 3, 14),
        "GioiTinh": "MALE",
        "MaHuyen": "718",
        "MaXa": "25700",
    }
    _, original = codec.decode(record["original"])
    assert original["citizen"] == declared  # what the department declared is kept as it was


def test_matched_by_legacy_number_is_keyed_by_the_verified_number(codec: AvroCodec) -> None:
    value = land_value(codec, citizen(SoDinhDanh=None, SoCMND="280123456"))
    verdict = decide(codec, message(value, key=b"280123456"))
    assert verdict.reason == "MATCHED_LEGACY_ID"
    assert verdict.output.key == b"074085001234"


def test_message_without_headers(codec: AvroCodec) -> None:
    msg = Message(topic=LAND, partition=0, offset=1, key=None, value=land_value(codec, citizen()))
    verdict = decide(codec, msg)
    assert verdict.matched
    assert verdict.output.headers == []


# --- rejected --------------------------------------------------------------------------------


def headers_of(verdict: Any) -> dict[str, bytes]:
    return dict(verdict.output.headers)


def test_rejected_record_goes_to_dead_letter_topic_with_error_headers(codec: AvroCodec) -> None:
    value = land_value(codec, citizen(SoDinhDanh="074085999999"))
    verdict = decide(codec, message(value, offset=314))
    assert not verdict.matched
    assert verdict.reason == "UNKNOWN_CITIZEN"
    out = verdict.output
    assert out.topic == REJECTED.name
    assert out.key == b"the-key"
    assert out.value == value
    assert out.headers[0] == ("traceparent", b"00-abc")  # the original headers come first
    headers = headers_of(verdict)
    assert headers["__hub.errors.topic"] == LAND.encode()
    assert headers["__hub.errors.partition"] == b"2"
    assert headers["__hub.errors.offset"] == b"314"
    assert headers["__hub.errors.stage"] == b"reconcile"
    assert headers["__hub.errors.reason"] == b"UNKNOWN_CITIZEN"
    assert headers["__hub.errors.message"] == b"no citizen with this number in the registry"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"HoVaTen": "Trần Văn Bình"}, "NAME_MISMATCH"),
        ({"NgayThangNamSinh": date(1985, 3, 15)}, "DOB_MISMATCH"),
        ({"SoDinhDanh": "099085001234"}, "ID_INCONSISTENT"),
        ({"SoDinhDanh": None}, "MISSING_ID"),
        ({"SoDinhDanh": "#REF!"}, "MALFORMED_ID"),
    ],
)
def test_each_rejection_reason_reaches_the_headers(
    codec: AvroCodec, overrides: dict[str, Any], reason: str
) -> None:
    verdict = decide(codec, message(land_value(codec, citizen(**overrides))))
    assert verdict.reason == reason
    assert verdict.output.topic == REJECTED.name
    headers = headers_of(verdict)
    assert headers["__hub.errors.reason"] == reason.encode()
    assert headers["__hub.errors.message"]


def test_civil_status_event_date_decides_event_after_death(codec: AvroCodec) -> None:
    registered = datetime(2024, 5, 10, 8, 0, tzinfo=UTC)  # before the event date below
    value = civil_value(codec, citizen(HOA), registered, date(2024, 5, 11))
    verdict = decide(codec, message(value, topic=CIVIL))
    assert verdict.department == "civil_status"
    assert verdict.reason == "EVENT_AFTER_DEATH"
    assert headers_of(verdict)["__hub.errors.message"] == b"event on 2024-05-11, citizen died 2024-05-10"


def test_a_death_registration_after_the_death_is_not_an_event_after_death(codec: AvroCodec) -> None:
    value = civil_value(codec, citizen(HOA), datetime(2024, 5, 12, tzinfo=UTC), date(2024, 5, 10), "DEATH")
    verdict = decide(codec, message(value, topic=CIVIL))
    assert verdict.reason == "MATCHED"
    late = civil_value(codec, citizen(HOA), datetime(2024, 6, 1, tzinfo=UTC), date(2024, 5, 20), "DEATH")
    assert decide(codec, message(late, topic=CIVIL)).reason == "MATCHED"  # the registry's date rules


def test_death_registered_on_the_day_of_death_is_matched(codec: AvroCodec) -> None:
    registered = datetime(2024, 5, 12, 8, 0, tzinfo=UTC)  # registered later; event that day
    value = civil_value(codec, citizen(HOA), registered, date(2024, 5, 10))
    verdict = decide(codec, message(value, topic=CIVIL))
    assert verdict.matched
    assert verdict.output.topic == RECONCILED.name


def test_land_record_uses_occurred_at_as_event_day(codec: AvroCodec) -> None:
    verdict = decide(codec, message(land_value(codec, citizen(HOA))))  # 2026, after death
    assert verdict.reason == "EVENT_AFTER_DEATH"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not avro at all", DecodeReason.BAD_MAGIC),
        (b"", DecodeReason.EMPTY),
        (None, DecodeReason.EMPTY),
        (b"\x00\x00\x00\x03\xe7garbage", DecodeReason.UNKNOWN_SCHEMA),
        (b"\x00\x00", DecodeReason.TRUNCATED),
    ],
)
def test_undecodable_bytes_are_rejected_with_the_decode_reason(
    codec: AvroCodec, value: bytes | None, reason: str
) -> None:
    verdict = decide(codec, message(value))
    assert not verdict.matched
    assert verdict.reason == reason
    assert verdict.output.topic == REJECTED.name
    assert verdict.output.value == value
    assert verdict.output.key == b"the-key"
    assert headers_of(verdict)["__hub.errors.reason"] == reason.encode()


def test_avro_that_is_not_a_department_record_is_rejected(codec: AvroCodec) -> None:
    value = codec.encode(CITIZEN_ID, citizen())  # valid Avro, but only a citizen
    verdict = decide(codec, message(value))
    assert verdict.reason == "MALFORMED_RECORD"
    assert verdict.output.topic == REJECTED.name
    assert headers_of(verdict)["__hub.errors.message"].startswith(b"not a department record")


def test_message_from_a_non_department_topic_is_an_error(codec: AvroCodec) -> None:
    with pytest.raises(TopicError, match=r"lgsp\.reconciled"):
        decide(codec, message(land_value(codec, citizen()), topic=RECONCILED.name))


def test_dead_letter_headers_keep_original_headers() -> None:
    msg = message(b"x", headers=[("a", b"1"), ("b", b"2")], offset=7)
    out = dead_letter(msg, REJECTED.name, "indicators", "WHY", "détail")
    assert (out.topic, out.key, out.value) == (REJECTED.name, msg.key(), b"x")
    headers = out.headers
    assert headers[:2] == [("a", b"1"), ("b", b"2")]
    assert dict(headers[2:]) == {
        "__hub.errors.topic": LAND.encode(),
        "__hub.errors.partition": b"2",
        "__hub.errors.offset": b"7",
        "__hub.errors.stage": b"indicators",
        "__hub.errors.reason": b"WHY",
        "__hub.errors.message": "détail".encode(),
    }


# --- the stage and its metrics ---------------------------------------------------------------


def outcome(metrics: HubMetrics, department: str, result: str, reason: str) -> float | None:
    return metrics.registry.get_sample_value(
        "hub_reconcile_outcomes_total",
        {"department": department, "outcome": result, "reason": reason},
    )


def test_stage_counts_outcomes_only_once_committed(codec: AvroCodec) -> None:
    metrics = HubMetrics(CollectorRegistry())
    views: list[RegistrySnapshot] = []

    def registry() -> RegistrySnapshot:
        views.append(REGISTRY)
        return REGISTRY

    stage = ReconcileStage(codec, registry, PROVINCES, RECONCILED_ID, metrics)
    batch = [
        message(land_value(codec, citizen(), "r1"), offset=1),
        message(land_value(codec, citizen(HoVaTen="Nguyen Van An"), "r2"), offset=2),
        message(land_value(codec, citizen(), "r3"), offset=3),
        message(b"junk", offset=4),
        message(civil_value(codec, citizen(HOA), NOW, date(2026, 11, 2)), topic=CIVIL, offset=5),
    ]
    outputs = stage.process(batch)
    assert len(views) == 1  # one registry view per batch
    assert [o.topic for o in outputs] == [RECONCILED.name] * 3 + [REJECTED.name] * 2
    assert outcome(metrics, "land", "reconciled", "MATCHED") == 0  # not committed yet (a series at 0)

    stage.committed()
    assert outcome(metrics, "land", "reconciled", "MATCHED") == 2
    assert outcome(metrics, "land", "reconciled", "MATCHED_NORMALIZED_NAME") == 1
    assert outcome(metrics, "land", "rejected", DecodeReason.BAD_MAGIC) == 1
    assert outcome(metrics, "civil_status", "rejected", "EVENT_AFTER_DEATH") == 1

    stage.committed()  # nothing new: counted once
    assert outcome(metrics, "land", "reconciled", "MATCHED") == 2


def test_stage_forgets_a_batch_that_is_processed_again(codec: AvroCodec) -> None:
    """A failed batch is re-processed; only the outcomes of the committed attempt count."""
    metrics = HubMetrics(CollectorRegistry())
    stage = ReconcileStage(codec, lambda: REGISTRY, PROVINCES, RECONCILED_ID, metrics)
    batch = [message(land_value(codec, citizen()))]
    stage.process(batch)
    stage.discard()  # what the runner does when the outputs were not delivered
    stage.process(batch)
    stage.committed()
    assert outcome(metrics, "land", "reconciled", "MATCHED") == 1


def test_stage_reads_the_department_topics() -> None:
    assert set(ReconcileStage.inputs) == {t.name for t in DEPARTMENT_TOPICS.values()}
    assert ReconcileStage.name == "reconcile"
    assert ReconcileStage.group == "hub.reconcile"


def _paths(metrics: HubMetrics) -> dict[str, float | None]:
    sample = metrics.registry.get_sample_value
    return {p: sample("hub_reconcile_records_total", {"path": p}) for p in ("batch", "record", "fallback")}


def test_stage_decides_the_common_case_as_a_batch_and_the_rest_one_by_one(codec: AvroCodec) -> None:
    metrics = HubMetrics(CollectorRegistry())
    stage = ReconcileStage(codec, lambda: REGISTRY, PROVINCES, RECONCILED_ID, metrics)
    batch = [
        message(land_value(codec, citizen(), "r1"), offset=1),
        message(land_value(codec, citizen(SoDinhDanh="074 085 001 234"), "r2"), offset=2),
        message(civil_value(codec, citizen(HOA), NOW, date(2026, 11, 2)), topic=CIVIL, offset=3),
        message(None, offset=4),
    ]
    outputs = stage.process(batch)
    expected = [decide(codec, m).output for m in batch]
    assert [(o.topic, o.key, o.headers) for o in outputs] == [(o.topic, o.key, o.headers) for o in expected]
    assert [codec.decode(o.value)[1]["reason"] for o in outputs[:2]] == ["MATCHED", "MATCHED_REPAIRED_ID"]
    stage.committed()
    assert _paths(metrics) == {"batch": 2, "record": 2, "fallback": None}


def test_stage_decides_one_by_one_when_the_batch_path_fails(
    codec: AvroCodec, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = HubMetrics(CollectorRegistry())
    stage = ReconcileStage(codec, lambda: REGISTRY, PROVINCES, RECONCILED_ID, metrics)

    def broken(*args: object) -> None:
        raise IndexError("a bug in the shortcut")

    monkeypatch.setattr(stage.batch, "run", broken)
    batch = [message(land_value(codec, citizen(), f"r{i}"), offset=i) for i in range(3)]
    outputs = stage.process(batch)
    assert [o.topic for o in outputs] == [RECONCILED.name] * 3
    assert "the batch path failed on 3 records" in caplog.text
    stage.committed()
    assert _paths(metrics) == {"batch": 0, "record": 3, "fallback": 1}


# --- the stage contract: what it cannot process never blocks the records behind it ----------


# A social-insurance record from the simulator (5,000 citizens, seed 7; records seed 11) with bits
# flipped, as found by mutating records: a union branch 0x02 became 0x03, which fastavro reads as
# index -2 (the null branch), so the six bytes of a timestamp are read as the int ``KenhThucHien``
# (1,794,645,720,000, beyond 32 bits). The compiled decoder refuses the branch; fastavro reads the
# whole record, and re-encoding it failed: before the fix, its batch was retried forever.
MISREAD = bytes.fromhex(
    "000000006822424858482d31312d3030383038303535360842485848c0c2e797b5680218303734313533313535323638"
    "001e4875e1bbb36e68204b696d20486f6102bd5e020206373232020a32353735382a424858482d3236313130352d3030"
    "30303030353536103 12e30303933353302c0c2e797b56802c0d2e2ebbe680380efc393bb6804c0b8020200000000000"
    "41437343732363732383230c0e3be030100".replace(" ", "")
)


def test_a_record_a_lenient_decoder_misreads_is_rejected_between_good_ones() -> None:
    catalog = get_catalog()
    ids = {104: "vn.lgsp.SocialInsuranceRecord", 100: RECONCILED.value_schema or ""}
    codec = AvroCodec({i: catalog.text(name) for i, name in ids.items()}.get)
    registry = RegistrySnapshot.from_rows(
        tuple(c) for c in generate_population(load_province("74"), 5000, seed=7)
    )
    assert codec.decode(MISREAD)[1]["dossier"]["KenhThucHien"] > 2**31  # fastavro reads it, wrongly
    good = codec.decode(MISREAD)[1]
    good["dossier"]["KenhThucHien"] = 2
    topic = DEPARTMENT_TOPICS[Department.SOCIAL_INSURANCE].name
    values = [codec.encode(104, good), MISREAD, codec.encode(104, good)]
    batch = [message(v, topic=topic, offset=i) for i, v in enumerate(values)]
    metrics = HubMetrics(CollectorRegistry())
    outputs = ReconcileStage(codec, lambda: registry, PROVINCES, 100, metrics).process(batch)
    assert [o.topic for o in outputs] == [RECONCILED.name, REJECTED.name, RECONCILED.name]
    headers = dict(outputs[1].headers)
    assert headers["__hub.errors.reason"] == DecodeReason.NOT_AVRO.encode()
    assert b"KenhThucHien" in headers["__hub.errors.message"] and outputs[1].value == MISREAD


def test_the_batch_path_keeps_the_record_size_limit() -> None:
    catalog = get_catalog()
    texts = {
        LAND_ID: catalog.text("vn.lgsp.LandRecord"),
        RECONCILED_ID: catalog.text(RECONCILED.value_schema or ""),
    }
    small = AvroCodec(texts.get, max_bytes=90)
    value = land_value(AvroCodec(texts.get), citizen(), "r1")
    assert len(value) > 90
    stage = ReconcileStage(small, lambda: REGISTRY, PROVINCES, RECONCILED_ID, HubMetrics(CollectorRegistry()))
    (output,) = stage.process([message(value)])
    assert dict(output.headers)["__hub.errors.reason"] == DecodeReason.OVERSIZED.encode()


def test_the_batch_path_turns_itself_off_when_the_registry_bytes_and_the_schema_part(
    codec: AvroCodec, caplog: pytest.LogCaptureFixture
) -> None:
    """A registered vn.lgsp.Citizen whose gender symbols are in another order: the snapshot's
    pre-encoded citizens no longer match it, so the batch path must not copy them."""
    catalog = get_catalog()
    swapped = catalog.text(RECONCILED.value_schema or "").replace(
        '["MALE","FEMALE","UNKNOWN"]', '["FEMALE","MALE","UNKNOWN"]'
    )
    assert swapped != catalog.text(RECONCILED.value_schema or "")
    other = AvroCodec({LAND_ID: catalog.text("vn.lgsp.LandRecord"), RECONCILED_ID: swapped}.get)
    metrics = HubMetrics(CollectorRegistry())
    stage = ReconcileStage(other, lambda: REGISTRY, PROVINCES, RECONCILED_ID, metrics)
    assert metrics.registry.get_sample_value("hub_reconcile_batch_path_enabled") == 1
    batch = [message(land_value(other, citizen(), f"r{i}"), offset=i) for i in range(3)]
    outputs = stage.process(batch)
    assert metrics.registry.get_sample_value("hub_reconcile_batch_path_enabled") == 0
    assert (
        "the batch path is OFF" in caplog.text and "differ from the registered vn.lgsp.Citizen" in caplog.text
    )
    assert [other.decode(o.value)[1]["citizen"]["GioiTinh"] for o in outputs] == ["MALE"] * 3
    stage.committed()
    assert _paths(metrics) == {"batch": 0, "record": 3, "fallback": None}


def test_the_registry_bytes_are_checked_against_the_hub_s_own_schema_and_match(codec: AvroCodec) -> None:
    metrics = HubMetrics(CollectorRegistry())
    stage = ReconcileStage(codec, lambda: REGISTRY, PROVINCES, RECONCILED_ID, metrics)
    stage.process([message(land_value(codec, citizen()))])
    assert (
        stage.batch.off is None and metrics.registry.get_sample_value("hub_reconcile_batch_path_enabled") == 1
    )
