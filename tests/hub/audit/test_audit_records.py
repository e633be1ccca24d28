"""hub.audit.records: what an auditor reads of each kind of record, and which records a filter keeps."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime

import orjson
import pytest

from hub.archive.chain import ArchivedRecord
from hub.audit.records import CSV_COLUMNS, Filters, csv_line, decode, parse_time, to_json
from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.bench.forward import reconciled_record
from hub.errors import ConfigError
from hub.topics import DEPARTMENT_TOPICS, INDICATORS_COUNTS, RECONCILED, REJECTED, Department

RECONCILED_ID, LAND_ID = 1, 2


@pytest.fixture
def codec() -> AvroCodec:
    catalog = get_catalog()
    texts = {RECONCILED_ID: "vn.lgsp.ReconciledRecord", LAND_ID: "vn.lgsp.LandRecord"}
    return AvroCodec({n: catalog.text(name) for n, name in texts.items()}.get)


def _record(topic: str, value: bytes | None, schema_id: int | None = None, **kw: object) -> ArchivedRecord:
    fields = {"partition": 0, "offset": 7, "timestamp": 1_000, "key": None, "headers": ()} | kw
    return ArchivedRecord(topic, value=value, schema_id=schema_id, **fields)  # type: ignore[arg-type]


def test_counts_events_read_as_json(codec: AvroCodec) -> None:
    event = {"seq": 3, "kind": "delta", "rows": [["2026-11-20", "province", "all", "1" * 13, 2]]}
    out = to_json(decode(_record(INDICATORS_COUNTS.name, orjson.dumps(event)), codec))
    assert out["value"] == event
    assert (out["offset"], out["key"], out["timestamp"]) == (7, None, "1970-01-01T07:00:01.000+07:00")


def test_unframed_bytes_are_kept_as_base64(codec: AvroCodec) -> None:
    out = to_json(decode(_record(REJECTED.name, b"raw"), codec))
    assert base64.b64decode(out["value_base64"]) == b"raw"
    assert "value" not in out


def test_an_unknown_schema_is_said_with_the_bytes(codec: AvroCodec) -> None:
    out = to_json(decode(_record(REJECTED.name, b"\x00\x00\x00\x00\x63abc", 99), codec))
    assert out["decode_error"]["reason"] == "UNKNOWN_SCHEMA_ID"
    assert base64.b64decode(out["value_base64"]) == b"\x00\x00\x00\x00\x63abc"


def test_a_reconciled_record_is_decoded_and_found_by_every_filter(codec: AvroCodec) -> None:
    value = reconciled_record(5)
    row = decode(_record(RECONCILED.name, codec.encode(RECONCILED_ID, value), RECONCILED_ID), codec)
    citizen = value["citizen"]["SoDinhDanh"]
    assert row.record_id == value["record_id"] and row.agency == value["agency"]
    assert Filters(record_id=value["record_id"], agency=value["agency"], citizen=citizen).matches(row)
    assert Filters(department=value["department"].upper()).matches(row)  # any case
    assert not Filters(record_id="other").matches(row)
    assert not Filters(citizen="000000000000").matches(row)
    assert not Filters(agency="other").matches(row)


def test_a_dead_letter_is_found_by_the_department_it_was_read_from(codec: AvroCodec) -> None:
    land = DEPARTMENT_TOPICS[Department.LAND].name
    headers = (("__hub.errors.topic", land.encode()), ("hub.record_id", b"r-1"), ("hub.agency", b"STNMT"))
    row = decode(_record(REJECTED.name, b"not avro", headers=headers), codec)
    assert row.department == Department.LAND.value
    assert Filters(department="land", record_id="r-1", agency="STNMT").matches(row)
    assert not Filters(department="health").matches(row)


def test_csv_lines_parse_back_with_the_header(codec: AvroCodec) -> None:
    value = reconciled_record(3)
    record = _record(RECONCILED.name, codec.encode(RECONCILED_ID, value), RECONCILED_ID, key=b'k,"1"')
    text = ",".join(CSV_COLUMNS) + "\n" + csv_line(decode(record, codec))
    (parsed,) = csv.DictReader(io.StringIO(text))
    assert parsed["record_id"] == value["record_id"] and parsed["key"] == 'k,"1"'
    assert json.loads(parsed["value"])["record_id"] == value["record_id"]
    assert value["citizen"]["SoDinhDanh"] in parsed["citizen"].split()


def test_times_are_vietnam_time_unless_they_say_otherwise() -> None:
    assert parse_time("2026-11-01T00:00") == int(datetime(2026, 10, 31, 17, tzinfo=UTC).timestamp() * 1000)
    assert parse_time("2026-11-01T00:00+00:00") == int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
    with pytest.raises(ConfigError, match="2026-11-01T00:00"):
        parse_time("yesterday")
