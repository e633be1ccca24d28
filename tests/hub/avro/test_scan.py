"""Unit tests for hub.avro.scan: a batch scan finds what a decoder finds, and is never looser."""

from __future__ import annotations

import io
import json
import random
from datetime import date
from itertools import islice
from typing import Any

import fastavro
import numpy as np
import pytest

from hub.avro.catalog import get_catalog
from hub.avro.scan import BatchBuffer, BatchScan, scan_plan
from hub.province import load_province
from hub.topics import DEPARTMENT_TOPICS, Department
from producers.population import generate_population
from producers.simulate import DirtProfile, Simulator

CAPTURE = frozenset(
    {"citizen.SoDinhDanh", "citizen.HoVaTen", "citizen.NgayThangNamSinh", "dossier.KenhThucHien"}
)


def _schema(department: Department) -> Any:
    text = get_catalog().text(DEPARTMENT_TOPICS[department].value_schema or "")
    return fastavro.parse_schema(json.loads(text), expand=True)


def _encode(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def _scan(
    schema: Any, values: list[bytes], capture: frozenset[str] = CAPTURE
) -> tuple[BatchBuffer, BatchScan]:
    plan = scan_plan(schema, capture)
    assert plan is not None
    buffer = BatchBuffer(values)
    rows = np.arange(len(values))
    scan = plan.scan(buffer, rows, buffer.starts.copy())
    scan.finish(buffer, rows)
    return buffer, scan


@pytest.fixture(scope="module")
def records() -> dict[Department, list[dict[str, Any]]]:
    population = generate_population(load_province("74"), 5000, seed=3)
    by_department: dict[Department, list[dict[str, Any]]] = {d: [] for d in Department}
    for simulated in islice(Simulator(population, seed=5, dirt=DirtProfile().scaled(4)).records(), 4000):
        if simulated.raw is None:
            by_department[simulated.department].append(simulated.record)
    return by_department


def _text_high(value: Any) -> int:
    """Bytes of 0x80 and above in the strings of a decoded value."""
    if isinstance(value, dict):
        return sum(_text_high(v) for v in value.values())
    if isinstance(value, str):
        return sum(b >= 0x80 for b in value.encode())
    return 0


@pytest.mark.parametrize("department", list(Department))
def test_well_formed_records_scan_to_what_the_decoder_reads(
    department: Department, records: dict[Department, list[dict[str, Any]]]
) -> None:
    schema = _schema(department)
    values = [_encode(schema, r) for r in records[department]]
    buffer, scan = _scan(schema, values)
    assert scan.ok.all()
    assert scan.end.tolist() == buffer.ends.tolist()
    for i, (value, record) in enumerate(zip(values, records[department], strict=True)):
        decoded = fastavro.schemaless_reader(io.BytesIO(value), schema, None)
        assert scan.text_high[i] == _text_high(decoded)
        start, end = (int(a[i]) - int(buffer.starts[i]) for a in scan.spans["citizen"])
        citizen_schema = next(f["type"] for f in schema["fields"] if f["name"] == "citizen")
        assert value[start:end] == _encode(citizen_schema, decoded["citizen"])
        name_at = int(scan.values["citizen.HoVaTen"][i]) - int(buffer.starts[i])
        name = value[name_at : name_at + int(scan.lengths["citizen.HoVaTen"][i])]
        assert name.decode() == record["citizen"]["HoVaTen"]
        has_id = bool(scan.present["citizen.SoDinhDanh"][i])
        assert has_id == (record["citizen"]["SoDinhDanh"] is not None)
        has_born = bool(scan.present["citizen.NgayThangNamSinh"][i])
        assert has_born == (record["citizen"]["NgayThangNamSinh"] is not None)
        if has_born:
            days = (record["citizen"]["NgayThangNamSinh"] - date(1970, 1, 1)).days
            assert scan.values["citizen.NgayThangNamSinh"][i] == days
        assert scan.values["dossier.KenhThucHien"][i] == record["dossier"]["KenhThucHien"]


def _decodes(schema: Any, value: bytes) -> bool:
    stream = io.BytesIO(value)
    try:
        fastavro.schemaless_reader(stream, schema, None)
    except Exception:
        return False
    return stream.tell() == len(value)


@pytest.mark.parametrize("department", [Department.CIVIL_STATUS, Department.SOCIAL_INSURANCE])
def test_a_record_that_scans_well_is_one_a_decoder_reads(
    department: Department, records: dict[Department, list[dict[str, Any]]]
) -> None:
    """Damaged records: the scan may refuse more than fastavro does, never less (text aside:
    ``text_high`` is for the caller to account for, and is 0 here only for ASCII strings)."""
    schema = _schema(department)
    rng = random.Random(9)
    damaged = []
    for record in records[department][:400]:
        for _ in range(5):
            data = bytearray(_encode(schema, record))
            for _ in range(rng.randint(1, 3)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            damaged.append(bytes(data[: rng.choice([len(data), rng.randrange(1, len(data) + 1)])]))
    _, scan = _scan(schema, damaged)
    trusted = scan.ok & (scan.text_high == 0)
    assert trusted.any() and not trusted.all()
    for value in np.array(damaged, dtype=object)[trusted]:
        assert _decodes(schema, value)


def _citizen_schema() -> Any:
    return fastavro.parse_schema(json.loads(get_catalog().text("vn.lgsp.Citizen")), expand=True)


CITIZEN = {
    "SoDinhDanh": "074085001234",
    "SoCMND": None,
    "HoVaTen": "Nguyễn Văn An",
    "NgayThangNamSinh": None,
    "GioiTinh": "MALE",
    "MaHuyen": "718",
    "MaXa": None,
}


@pytest.mark.parametrize(
    ("why", "damage"),
    [
        ("union branch 2", lambda b: b"\x04" + b[1:]),
        ("negative union branch", lambda b: b"\x01" + b[1:]),
        ("enum index out of range", lambda b: b.replace(b"\x00\x02\x06718", b"\x06\x02\x06718")),
        ("a length past the end", lambda b: b[:1] + b"\x7e" + b[2:]),
        ("a negative length", lambda b: b[:1] + b"\x17" + b[2:]),
        ("a byte left over", lambda b: b + b"\x00"),
        ("cut short", lambda b: b[:-1]),
        ("a varint with a needless zero byte", lambda b: b[:1] + b"\x98\x00" + b[2:]),
    ],
)
def test_malformed_values_do_not_scan(why: str, damage: Any) -> None:
    schema = _citizen_schema()
    good = _encode(schema, CITIZEN)
    _, scan = _scan(schema, [good, damage(good)], frozenset())
    assert scan.ok.tolist() == [True, False], why


def test_dates_a_decoder_cannot_represent_do_not_scan() -> None:
    schema = _citizen_schema()
    at_date = _encode(schema, {**CITIZEN, "NgayThangNamSinh": 0})  # 1970-01-01, days as an int
    prefix = at_date[: at_date.index(b"\x02\x00\x00\x02\x06718")]  # up to the date's branch
    far = prefix + b"\x02" + b"\xfe\xff\xff\xff\x0f" + b"\x00\x02\x06718\x00"  # 2,147,483,647 days
    _, scan = _scan(schema, [at_date, far], frozenset())
    assert scan.ok.tolist() == [True, False]


def test_shapes_it_does_not_read_have_no_plan() -> None:
    for kind in (
        {"type": "array", "items": "int"},
        {"type": "map", "values": "int"},
        {"type": "fixed", "name": "F", "size": 2},
    ):
        schema = fastavro.parse_schema(
            {"type": "record", "name": "R", "fields": [{"name": "f", "type": kind}]}
        )
        assert scan_plan(schema) is None
    assert scan_plan("string") is None


def test_a_batch_buffer_of_empty_values() -> None:
    buffer = BatchBuffer([b"", b"\x00", b""])
    assert buffer.lengths.tolist() == [0, 1, 0]
    assert buffer.high_bytes().tolist() == [0, 0, 0]


BYTES_SCHEMA = {
    "type": "record",
    "name": "R",
    "fields": [
        {"name": "text", "type": "string"},
        {"name": "blob", "type": "bytes"},
        {"name": "flag", "type": "boolean"},
        {"name": "maybe", "type": ["null", "bytes"]},
    ],
}


def test_bytes_are_read_past_and_their_high_bytes_are_not_text() -> None:
    schema = fastavro.parse_schema(BYTES_SCHEMA)
    rows = [
        {"text": "ắ", "blob": b"\xff\x80\x00", "flag": True, "maybe": None},
        {"text": "a", "blob": b"", "flag": False, "maybe": b"\x90" * 200},
        {"text": "", "blob": bytes(range(256)), "flag": True, "maybe": b""},
    ]
    values = [_encode(schema, r) for r in rows]
    _, scan = _scan(schema, values, frozenset({"flag", "maybe"}))
    assert scan.ok.tolist() == [True, True, True]
    assert scan.text_high.tolist() == [len("ắ".encode()), 0, 0]
    assert scan.values["flag"].tolist() == [1, 0, 1]
    assert scan.present["maybe"].tolist() == [False, True, True]
    damaged = [values[0][:-2], values[1] + b"\x00", values[2][:2] + b"\x05" + values[2][3:]]
    assert _scan(schema, damaged, frozenset())[1].ok.tolist() == [False, False, False]
    for value in damaged:
        assert not _decodes(schema, value)


def test_the_high_bytes_of_spans() -> None:
    buffer = BatchBuffer([b"\x80a\xff", b"", b"\x90\x90"])
    starts, ends = np.array([0, 1, 3, 3, 0]), np.array([3, 3, 3, 5, 5])
    assert buffer.high_in(starts, ends).tolist() == [2, 1, 0, 2, 4]
    long = BatchBuffer([b"\x80" * 70 + b"a" * 30, b"\xff" + b"b" * 99])  # counted over the buffer
    starts, ends = np.array([0, 0, 100, 150, 70]), np.array([100, 200, 200, 150, 100])
    assert long.high_in(starts, ends).tolist() == [70, 71, 1, 0, 0]
