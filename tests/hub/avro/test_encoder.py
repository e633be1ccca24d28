"""Unit tests for hub.avro.encoder: compiled encoders write exactly the bytes fastavro writes."""

from __future__ import annotations

import io
import json
import random
import struct
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import fastavro
import pytest

from hub.avro.catalog import get_catalog
from hub.avro.encoder import Encoder, compile_encoder
from hub.avro.wire import HEADER_SIZE, AvroCodec
from hub.errors import RecordEncodeError
from hub.province import load_province
from hub.topics import DEPARTMENT_TOPICS, Department
from producers.population import generate_population
from producers.simulate import DirtProfile, Simulator

ICT = timezone(timedelta(hours=7))
TEXTS = ("", "a", "Nguyễn Thị Ánh Tuyết", "Đặng", "😀 emoji", "x" * 200, "ư" * 5000, "chưa có", "\x00")
INTS = (0, 1, -1, 63, -64, 64, 8191, 8192, -8192, -8193, 16383, 16384, (1 << 31) - 1, -(1 << 31))
LONGS = (*INTS, 1 << 40, -(1 << 40), (1 << 63) - 1, -(1 << 63))


def fastavro_bytes(parsed: Any, record: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed, record)
    return buffer.getvalue()


def expanded(document: Any) -> Any:
    return fastavro.parse_schema(document, expand=True)


def compiled(parsed: Any) -> Encoder:
    encoder = compile_encoder(parsed)
    assert encoder is not None
    return encoder


# --- random values for a schema -------------------------------------------------------------


def random_instant(rng: random.Random) -> datetime | int:
    """An instant as fastavro accepts it: aware (UTC or +07:00), naive (local time) or an integer."""
    aware = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        seconds=rng.randint(-2_000_000_000, 4_000_000_000), microseconds=rng.randint(0, 999_999)
    )
    return rng.choice(
        (aware, aware.astimezone(ICT), aware.replace(tzinfo=None), rng.randint(-(1 << 45), 1 << 45))
    )


def random_day(rng: random.Random) -> date | int:
    day = date(1900, 1, 1) + timedelta(days=rng.randint(0, 200 * 366))
    return day if rng.random() < 0.9 else rng.randint(-30_000, 30_000)


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(TEXTS)
    return "".join(rng.choices("aăâbcdđêôơư ", k=rng.randint(0, 40)))


Schema = dict[str, Any]
Random = random.Random
PRIMITIVE: dict[str, Any] = {
    "null": lambda rng, schema: None,
    "boolean": lambda rng, schema: rng.random() < 0.5,
    "int": lambda rng, schema: rng.choice((*INTS, rng.randint(-(1 << 31), (1 << 31) - 1))),
    "long": lambda rng, schema: rng.choice((*LONGS, rng.randint(-(1 << 63), (1 << 63) - 1))),
    "float": lambda rng, schema: rng.choice((0.0, -0.0, 1.5, float("inf"), rng.uniform(-1e6, 1e6))),
    "double": lambda rng, schema: rng.choice((0.0, -0.0, float("-inf"), 1e308, rng.uniform(-1e12, 1e12))),
    "string": lambda rng, schema: random_text(rng),
    "bytes": lambda rng, schema: rng.randbytes(rng.choice((0, 1, 17, 300))),
    "fixed": lambda rng, schema: rng.randbytes(int(schema["size"])),
    "enum": lambda rng, schema: rng.choice(schema["symbols"]),
    "date": lambda rng, schema: random_day(rng),
    "timestamp-millis": lambda rng, schema: random_instant(rng),
    "timestamp-micros": lambda rng, schema: random_instant(rng),
}


def random_record(schema: Schema, rng: Random) -> dict[str, Any]:
    record = {}
    for field in schema["fields"]:
        if "default" not in field or rng.random() < 0.75:  # else left out: the default is written
            record[field["name"]] = random_value(field["type"], rng)
    return record


def random_value(schema: Any, rng: Random) -> Any:
    """A valid value for the expanded, parsed ``schema``."""
    if isinstance(schema, list):
        other = next(b for b in schema if b != "null")
        return None if rng.random() < 0.4 else random_value(other, rng)
    schema = {"type": schema} if isinstance(schema, str) else schema
    kind = schema["type"]
    if isinstance(kind, dict | list):
        return random_value(kind, rng)
    if kind == "array":
        return [random_value(schema["items"], rng) for _ in range(rng.choice((0, 1, 3)))]
    if kind == "map":
        return {
            f"{random_text(rng)}{i}": random_value(schema["values"], rng) for i in range(rng.randint(0, 3))
        }
    if kind == "record":
        return random_record(schema, rng)
    return PRIMITIVE[schema.get("logicalType", kind)](rng, schema)


def random_records(parsed: Any, seed: int, count: int) -> Iterator[Any]:
    rng = random.Random(seed)
    for _ in range(count):
        yield random_value(parsed, rng)


# --- the hub's schemas ----------------------------------------------------------------------


@pytest.mark.parametrize("name", get_catalog().names())
def test_every_catalog_schema_compiles_to_fastavros_bytes(name: str) -> None:
    parsed = expanded(get_catalog().document(name))
    encoder = compiled(parsed)
    for record in random_records(parsed, seed=len(name), count=300):
        assert encoder(record) == fastavro_bytes(parsed, record), record


@pytest.fixture(scope="module")
def simulated() -> list[Any]:
    population = generate_population(load_province("74"), 3000, seed=1)
    records = Simulator(population, 3, dirt=DirtProfile().scaled(5)).take(1200)
    return [s for s in records if s.raw is None]


@pytest.mark.parametrize("department", list(Department))
def test_simulated_records_compile_to_fastavros_bytes(simulated: list[Any], department: Department) -> None:
    name = DEPARTMENT_TOPICS[department].value_schema or ""
    parsed = expanded(get_catalog().document(name))
    encoder = compiled(parsed)
    codec = AvroCodec({1: get_catalog().text(name)}.get)
    mine = [s.record for s in simulated if s.department is department]
    assert len(mine) > 100
    for record in mine:
        expected = fastavro_bytes(parsed, record)
        assert encoder(record) == expected
        assert codec.encode(1, record)[HEADER_SIZE:] == expected


# --- every supported shape ------------------------------------------------------------------

INNER = {
    "type": "record",
    "name": "Inner",
    "fields": [
        {"name": "x", "type": "int"},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {
            "name": "deeper",
            "type": {"type": "record", "name": "Deeper", "fields": [{"name": "ok", "type": "boolean"}]},
        },
    ],
}
SHAPES = {
    "type": "record",
    "name": "Shapes",
    "namespace": "test",
    "fields": [
        {"name": "nothing", "type": "null"},
        {"name": "flag", "type": "boolean"},
        {"name": "small", "type": "int"},
        {"name": "big", "type": "long"},
        {"name": "single", "type": "float"},
        {"name": "ratio", "type": "double"},
        {"name": "text", "type": "string"},
        {"name": "blob", "type": "bytes"},
        {"name": "four", "type": {"type": "fixed", "name": "Four", "size": 4}},
        {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN", "BLUE"]}},
        {"name": "inner", "type": INNER},
        {"name": "longs", "type": {"type": "array", "items": "long"}},
        {"name": "nested", "type": {"type": "array", "items": {"type": "array", "items": ["null", "int"]}}},
        {"name": "scores", "type": {"type": "map", "values": "double"}},
        {"name": "notes", "type": {"type": "map", "values": ["null", "string"]}},
        {"name": "maybe_text", "type": ["null", "string"]},
        {"name": "text_or_null", "type": ["string", "null"]},
        {"name": "maybe_enum", "type": ["null", {"type": "enum", "name": "Size", "symbols": ["S", "M"]}]},
        {
            "name": "maybe_record",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Pair",
                    "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": ["null", "bytes"]}],
                },
            ],
        },
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "maybe_day", "type": ["null", {"type": "int", "logicalType": "date"}]},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "at_micros", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "maybe_at", "type": [{"type": "long", "logicalType": "timestamp-millis"}, "null"]},
        {"name": "d_int", "type": "int", "default": 7},
        {"name": "d_text", "type": "string", "default": "mặc định"},
        {"name": "d_flag", "type": "boolean", "default": True},
        {"name": "d_colour", "type": "test.Colour", "default": "GREEN"},
        {"name": "d_null", "type": ["null", "long"], "default": None},
        {"name": "d_string_first", "type": ["string", "null"], "default": "có"},
        {"name": "d_list", "type": {"type": "array", "items": "int"}, "default": [1, 2, 3]},
        {"name": "d_map", "type": {"type": "map", "values": "string"}, "default": {"k": "v"}},
        {"name": "d_pair", "type": "test.Pair", "default": {"a": 5, "b": None}},
        {"name": "d_ratio", "type": "double", "default": 0.25},
    ],
}
PARSED = expanded(SHAPES)
AT = datetime(2026, 11, 2, 8, 15, 30, 123_456, tzinfo=UTC)


def shapes(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "nothing": None,
        "flag": True,
        "small": -8193,
        "big": (1 << 62) + 5,
        "single": 0.5,
        "ratio": -1234.5678,
        "text": "Nguyễn Văn An",
        "blob": b"\x00\xff",
        "four": b"abcd",
        "colour": "BLUE",
        "inner": {"x": 3, "tags": ["một", "hai"], "deeper": {"ok": False}},
        "longs": [0, -1, 1 << 40],
        "nested": [[1, None], [], [None]],
        "scores": {"a": 1.0, "bé": -2.5},
        "notes": {"x": None, "y": "có"},
        "maybe_text": None,
        "text_or_null": "ok",
        "maybe_enum": "M",
        "maybe_record": {"a": -1, "b": b"z"},
        "day": date(1985, 3, 14),
        "maybe_day": None,
        "at": AT,
        "at_micros": AT.astimezone(ICT),
        "maybe_at": None,
    }
    record.update(overrides)
    return record


@pytest.fixture(scope="module")
def shapes_codec() -> AvroCodec:
    return AvroCodec({3: json.dumps(SHAPES)}.get)


def test_the_shapes_schema_compiles() -> None:
    assert compile_encoder(PARSED) is not None


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {
            "maybe_text": "",
            "text_or_null": None,
            "maybe_enum": None,
            "maybe_record": None,
            "maybe_day": date(2000, 2, 29),
        },
        {
            "at": datetime(2026, 11, 2, 8, 15),
            "at_micros": datetime(1969, 12, 31, 23, 59, 59, 999_999),
        },  # naive
        {
            "at": datetime(1950, 1, 1, tzinfo=ICT),
            "at_micros": datetime(1900, 1, 1, tzinfo=UTC),
            "maybe_at": AT,
        },
        {"at": 0, "at_micros": -1, "maybe_at": 1 << 41, "day": -1, "maybe_day": 0},
        {
            "small": (1 << 31) - 1,
            "big": -(1 << 63),
            "longs": [(1 << 63) - 1, -(1 << 63)],
            "d_int": -(1 << 31),
        },
        {"small": 8191, "big": 8192, "longs": [16383, 16384, -8192, -8193]},
        {
            "text": "",
            "blob": b"",
            "inner": {"x": 0, "tags": [], "deeper": {"ok": True}},
            "scores": {},
            "notes": {},
        },
        {"text": "Đặng Thị Ánh Tuyết 😀 \u0301", "scores": {"ư" * 100: 1e-300}, "notes": {"": ""}},
        {"text": "x" * 65_535, "blob": bytes(70_000), "longs": list(range(-100, 100))},
        {"single": float("inf"), "ratio": float("nan"), "d_ratio": float("-inf")},
        {"d_int": 0, "d_text": "", "d_flag": False, "d_colour": "RED", "d_null": 5, "d_string_first": None},
        {"d_list": [], "d_map": {}, "d_pair": {"a": 1, "b": b"\x01"}},
    ],
)
def test_every_shape_gives_fastavros_bytes(shapes_codec: AvroCodec, overrides: dict[str, Any]) -> None:
    record = shapes(**overrides)
    expected = fastavro_bytes(PARSED, record)
    assert compiled(PARSED)(record) == expected
    assert shapes_codec.encode(3, record)[HEADER_SIZE:] == expected


def test_missing_fields_take_their_defaults(shapes_codec: AvroCodec) -> None:
    record = shapes()
    assert not any(name.startswith("d_") for name in record)
    explicit = shapes(
        d_int=7,
        d_text="mặc định",
        d_flag=True,
        d_colour="GREEN",
        d_null=None,
        d_string_first="có",
        d_list=[1, 2, 3],
        d_map={"k": "v"},
        d_pair={"a": 5, "b": None},
        d_ratio=0.25,
    )
    expected = fastavro_bytes(PARSED, explicit)
    assert fastavro_bytes(PARSED, record) == expected
    assert compiled(PARSED)(record) == expected
    _, decoded = shapes_codec.decode(shapes_codec.encode(3, record))
    assert decoded["d_text"] == "mặc định" and decoded["d_pair"] == {"a": 5, "b": None}


def test_random_records_of_every_shape() -> None:
    encoder = compiled(PARSED)
    for record in random_records(PARSED, seed=766, count=400):
        assert encoder(record) == fastavro_bytes(PARSED, record), record


@pytest.mark.parametrize("size", [65_535, 65_536, 70 * 1024])
def test_long_strings_go_through_the_fallback(
    shapes_codec: AvroCodec, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    writes: list[int] = []
    writer = fastavro.schemaless_writer

    def counting(*args: Any, **kwargs: Any) -> None:
        writes.append(1)
        writer(*args, **kwargs)

    monkeypatch.setattr(fastavro, "schemaless_writer", counting)
    record = shapes(text="ệ" * (size // 3) + "a" * (size % 3), notes={"k": "b" * size})
    expected = fastavro_bytes(PARSED, record)
    writes.clear()
    assert shapes_codec.encode(3, record)[HEADER_SIZE:] == expected
    assert len(writes) == (size >= 65_536)  # below 64 KiB the compiled encoder does it alone
    assert shapes_codec.decode(shapes_codec.encode(3, record))[1]["text"] == record["text"]


# --- what is not compiled -------------------------------------------------------------------


def record_of(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"type": "record", "name": "R", "namespace": "test", "fields": list(fields)}


@pytest.mark.parametrize(
    "field_type",
    [
        ["int", "string"],
        ["null", "int", "string"],
        ["string", "long", "null"],
        ["null"],
        {"type": "array", "items": ["int", "string"]},
        {"type": "map", "values": ["boolean", "double"]},
    ],
)
def test_unions_of_several_types_are_not_compiled(field_type: Any) -> None:
    document = record_of({"name": "v", "type": field_type})
    assert compile_encoder(expanded(document)) is None


def test_a_named_type_reference_is_not_compiled() -> None:
    document = record_of(
        {"name": "first", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
        {"name": "second", "type": "test.E"},
    )
    assert compile_encoder(fastavro.parse_schema(document)) is None  # not expanded: "test.E" stays a name
    assert compile_encoder(expanded(document)) is not None


def test_a_recursive_schema_is_not_compiled() -> None:
    document = record_of({"name": "value", "type": "int"}, {"name": "next", "type": ["null", "test.R"]})
    assert compile_encoder(fastavro.parse_schema(document)) is None


def test_the_codec_still_encodes_what_is_not_compiled() -> None:
    document = record_of(
        {"name": "v", "type": ["int", "string"]},
        {"name": "next", "type": ["null", "test.R"]},
    )
    codec = AvroCodec({5: json.dumps(document)}.get)
    parsed = fastavro.parse_schema(document)
    for record in ({"v": 1, "next": None}, {"v": "một", "next": {"v": -7, "next": None}}):
        data = codec.encode(5, record)
        assert data[HEADER_SIZE:] == fastavro_bytes(parsed, record)
        assert codec.decode(data) == (5, record)


# --- invalid values -------------------------------------------------------------------------

INVALIDS = record_of(
    {"name": "count", "type": "int"},
    {"name": "total", "type": "long"},
    {"name": "flag", "type": "boolean"},
    {"name": "label", "type": "string"},
    {"name": "colour", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]}},
    {"name": "ratio", "type": "double"},
    {"name": "when", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "maybe", "type": ["null", "int"]},
)
VALID = {
    "count": 1,
    "total": 2,
    "flag": False,
    "label": "x",
    "colour": "RED",
    "ratio": 0.5,
    "when": AT,
    "maybe": None,
}
MISSING = object()
INVALID_CASES = [
    ("count", "1", []),
    ("count", True, []),
    ("count", 1 << 31, []),
    ("count", -(1 << 31) - 1, []),
    ("count", None, []),
    ("total", 1 << 63, []),
    ("total", "2", []),
    ("flag", None, []),
    ("label", None, []),
    ("label", 5, []),
    ("colour", "PURPLE", []),
    ("ratio", None, []),
    ("when", "2026-11-02", []),
    ("maybe", "3", []),
    ("count", MISSING, []),
    ("label", MISSING, []),
]


def with_value(field: str, value: Any) -> dict[str, Any]:
    record = dict(VALID)
    if value is MISSING:
        del record[field]
    else:
        record[field] = value
    return record


def test_the_valid_record_is_valid() -> None:
    parsed = expanded(INVALIDS)
    assert compiled(parsed)(VALID) == fastavro_bytes(parsed, VALID)


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, v, _ in INVALID_CASES])
def test_the_compiled_encoder_refuses_invalid_values(field: str, value: Any) -> None:
    encoder = compiled(expanded(INVALIDS))
    with pytest.raises((TypeError, ValueError, KeyError, AttributeError, struct.error)):
        encoder(with_value(field, value))


@pytest.mark.parametrize(("field", "value"), [pytest.param(f, v, marks=m) for f, v, m in INVALID_CASES])
def test_the_codec_names_the_invalid_field(field: str, value: Any) -> None:
    codec = AvroCodec({1: json.dumps(INVALIDS)}.get)
    with pytest.raises(RecordEncodeError) as caught:
        codec.encode(1, with_value(field, value))
    assert f"R.{field}" in str(caught.value)


def test_an_invalid_nested_value_is_named_with_its_path(shapes_codec: AvroCodec) -> None:
    record = shapes(inner={"x": "three", "tags": [], "deeper": {"ok": True}})
    with pytest.raises((TypeError, ValueError, KeyError, AttributeError)):
        compiled(PARSED)(record)
    with pytest.raises(RecordEncodeError, match=r"Inner\.x|inner\.x"):
        shapes_codec.encode(3, record)


def test_an_unknown_enum_symbol_inside_a_union(shapes_codec: AvroCodec) -> None:
    with pytest.raises(RecordEncodeError, match="maybe_enum"):
        shapes_codec.encode(3, shapes(maybe_enum="XL"))
