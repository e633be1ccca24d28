"""Unit tests for hub.avro.wire: the Confluent wire format and AvroCodec, with an in-memory lookup."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime
from typing import Any

import pytest

from hub.avro.catalog import get_catalog
from hub.avro.wire import HEADER_SIZE, MAGIC_BYTE, AvroCodec, DecodeReason, frame, unframe
from hub.errors import HubError, RecordDecodeError, RecordEncodeError, SchemaError

LAND_ID = 7
CIVIL_ID = 8
SCHEMAS = {
    LAND_ID: get_catalog().text("vn.lgsp.LandRecord"),
    CIVIL_ID: get_catalog().text("vn.lgsp.CivilStatusRecord"),
}


class CountingLookup:
    """A dict-backed schema lookup that counts how often it is asked."""

    def __init__(self, schemas: dict[int, str]) -> None:
        self.schemas = schemas
        self.calls: list[int] = []

    def __call__(self, schema_id: int) -> str | None:
        self.calls.append(schema_id)
        return self.schemas.get(schema_id)


def land_record(**overrides: Any) -> dict[str, Any]:
    received = datetime(2026, 11, 2, 8, 15, tzinfo=UTC)
    record: dict[str, Any] = {
        "record_id": "STNMT-1-000000001",
        "agency": "STNMT",
        "occurred_at": received,
        "citizen": {
            "SoDinhDanh": "074085001234",
            "SoCMND": None,
            "HoVaTen": "Nguyễn Văn An",
            "NgayThangNamSinh": date(1985, 3, 14),
            "GioiTinh": "MALE",
            "MaHuyen": "718",
            "MaXa": "25700",
        },
        "dossier": {
            "MaHoSo": "STNMT-261102-00000001",
            "MaTTHC": "1.2345",
            "NgayTiepNhan": received,
            "NgayHenTra": datetime(2026, 11, 7, 8, 15, tzinfo=UTC),
            "NgayKetThucXuLy": None,
            "KenhThucHien": 2,
            "PhiLePhi": 50_000,
            "DuocThanhToanTrucTuyen": 1,
            "MaKetQua": None,
            "DuongDanTepTinKetQua": None,
            "HoSoCoThanhPhanSoHoa": True,
            "DuocLayTuKhoDMQG": False,
            "TaiKhoanDuocXacThucVoiVNeID": True,
        },
        "transaction_type": "TRANSFER",
        "map_sheet_number": 12,
        "parcel_number": 345,
        "area_m2": 120.5,
    }
    record.update(overrides)
    return record


@pytest.fixture
def codec() -> AvroCodec:
    return AvroCodec(SCHEMAS.get)


def reason_of(codec: AvroCodec, data: bytes | None) -> RecordDecodeError:
    with pytest.raises(RecordDecodeError) as caught:
        codec.decode(data)
    return caught.value


# --- round trip ------------------------------------------------------------------------------


def test_round_trip_of_a_department_record(codec: AvroCodec) -> None:
    record = land_record()
    data = codec.encode(LAND_ID, record)
    assert codec.decode(data) == (LAND_ID, {**record, "bundle_id": None})  # the default, filled in


def test_encoded_bytes_carry_the_wire_format_header(codec: AvroCodec) -> None:
    data = codec.encode(LAND_ID, land_record())
    assert data[0] == MAGIC_BYTE
    assert struct.unpack(">I", data[1:HEADER_SIZE]) == (LAND_ID,)


def test_round_trip_keeps_vietnamese_text_and_dates(codec: AvroCodec) -> None:
    record = land_record()
    record["citizen"]["HoVaTen"] = "Trần Thị Bích Đào"
    _, back = codec.decode(codec.encode(LAND_ID, record))
    assert back["citizen"]["HoVaTen"] == "Trần Thị Bích Đào"
    assert back["citizen"]["NgayThangNamSinh"] == date(1985, 3, 14)
    assert back["occurred_at"] == datetime(2026, 11, 2, 8, 15, tzinfo=UTC)


def test_frame_and_unframe() -> None:
    data = frame(42, b"payload")
    assert data == b"\x00\x00\x00\x00\x2apayload"
    schema_id, payload = unframe(data, max_bytes=100)
    assert schema_id == 42
    assert bytes(payload) == b"payload"


def test_schemas_are_looked_up_once() -> None:
    lookup = CountingLookup(SCHEMAS)
    codec = AvroCodec(lookup)
    data = codec.encode(LAND_ID, land_record())
    for _ in range(3):
        codec.decode(data)
    assert lookup.calls == [LAND_ID]


def test_an_invalid_registered_schema_is_a_schema_error() -> None:
    codec = AvroCodec({1: '{"type": "record", "name": "X", "fields": [{"name": "a"}]}', 2: "not json"}.get)
    for schema_id in (1, 2):
        with pytest.raises(SchemaError, match=f"schema id {schema_id} is invalid"):
            codec.schema(schema_id)


# --- every DecodeReason ----------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", None])
def test_empty_value(codec: AvroCodec, data: bytes | None) -> None:
    assert reason_of(codec, data).reason == DecodeReason.EMPTY


def test_bad_magic_byte(codec: AvroCodec) -> None:
    data = codec.encode(LAND_ID, land_record())
    error = reason_of(codec, b"\x01" + data[1:])
    assert error.reason == DecodeReason.BAD_MAGIC
    assert "0x01" in str(error)
    assert reason_of(codec, b'{"record_id": "x"}').reason == DecodeReason.BAD_MAGIC


def test_unknown_schema_id(codec: AvroCodec) -> None:
    payload = codec.encode(LAND_ID, land_record())[HEADER_SIZE:]
    error = reason_of(codec, frame(999, payload))
    assert error.reason == DecodeReason.UNKNOWN_SCHEMA
    assert "999" in str(error)


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x00\x00\x07"])
def test_truncated_header(codec: AvroCodec, data: bytes) -> None:
    error = reason_of(codec, data)
    assert error.reason == DecodeReason.TRUNCATED
    assert "no schema id" in str(error)


def test_truncated_payload(codec: AvroCodec) -> None:
    data = codec.encode(LAND_ID, land_record())
    for cut in (HEADER_SIZE, HEADER_SIZE + 3, len(data) // 2, len(data) - 1):
        assert reason_of(codec, data[:cut]).reason == DecodeReason.TRUNCATED, cut


def test_oversized(codec: AvroCodec) -> None:
    small = AvroCodec(SCHEMAS.get, max_bytes=64)
    data = codec.encode(LAND_ID, land_record())
    assert len(data) > 64
    error = reason_of(small, data)
    assert error.reason == DecodeReason.OVERSIZED
    assert f"{len(data)} bytes exceeds 64" in str(error)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x04\xff\xfe" + bytes(60),  # record_id: two bytes that are not UTF-8
        b"\x02a\x02b\x02\x0a" + bytes(60),  # citizen.SoDinhDanh: union branch 5 of 2
    ],
)
def test_garbage_is_not_avro(codec: AvroCodec, payload: bytes) -> None:
    error = reason_of(codec, frame(LAND_ID, payload))
    assert error.reason == DecodeReason.NOT_AVRO
    assert f"schema id {LAND_ID}" in str(error)


def test_trailing_bytes_are_not_avro(codec: AvroCodec) -> None:
    data = codec.encode(LAND_ID, land_record())
    error = reason_of(codec, data + b"\x00\x01")
    assert error.reason == DecodeReason.NOT_AVRO
    assert "2 bytes left over" in str(error)


def test_bytes_of_another_schema_are_rejected(codec: AvroCodec) -> None:
    """Land bytes relabelled as a civil-status record do not decode silently."""
    payload = codec.encode(LAND_ID, land_record())[HEADER_SIZE:]
    error = reason_of(codec, frame(CIVIL_ID, payload))
    assert error.reason in (DecodeReason.NOT_AVRO, DecodeReason.TRUNCATED)


def test_decode_errors_are_hub_errors(codec: AvroCodec) -> None:
    assert isinstance(reason_of(codec, b""), HubError)


# --- encode errors ---------------------------------------------------------------------------


def test_encode_error_names_the_bad_field(codec: AvroCodec) -> None:
    with pytest.raises(RecordEncodeError, match="area_m2") as caught:
        codec.encode(LAND_ID, land_record(area_m2="large"))
    assert "vn.lgsp.LandRecord" in str(caught.value)


def test_encode_error_names_a_bad_nested_field(codec: AvroCodec) -> None:
    record = land_record()
    record["citizen"]["HoVaTen"] = None
    with pytest.raises(RecordEncodeError, match="HoVaTen"):
        codec.encode(LAND_ID, record)


def test_encode_error_for_a_bad_enum_symbol(codec: AvroCodec) -> None:
    with pytest.raises(RecordEncodeError, match="transaction_type"):
        codec.encode(LAND_ID, land_record(transaction_type="GIFT"))


def test_encode_with_unknown_schema_id(codec: AvroCodec) -> None:
    with pytest.raises(RecordDecodeError) as caught:
        codec.encode(999, land_record())
    assert caught.value.reason == DecodeReason.UNKNOWN_SCHEMA


def test_encode_error_for_a_missing_field(codec: AvroCodec) -> None:
    record = land_record()
    del record["parcel_number"]
    with pytest.raises(RecordEncodeError, match="parcel_number"):
        codec.encode(LAND_ID, record)


def test_encode_error_for_a_value_that_should_be_a_record(codec: AvroCodec) -> None:
    with pytest.raises(RecordEncodeError, match=r"LandRecord\.citizen is <nobody>"):
        codec.encode(LAND_ID, land_record(citizen="nobody"))
