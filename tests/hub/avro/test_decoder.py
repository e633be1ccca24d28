"""The compiled Avro decoder reads what fastavro reads, and leaves chosen records as bytes."""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro
import pytest

from hub.avro.catalog import get_catalog
from hub.avro.decoder import compile_decoder
from hub.avro.encoder import Raw
from hub.avro.wire import AvroCodec, DecodeReason
from hub.errors import RecordDecodeError
from hub.province import load_province
from hub.topics import DEPARTMENT_TOPICS, Department
from producers.population import generate_population
from producers.simulate import DirtProfile, Simulator

IDS = {department: n for n, department in enumerate(Department, start=1)}
TEXTS = {n: get_catalog().text(DEPARTMENT_TOPICS[d].value_schema or "") for d, n in IDS.items()}


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec(TEXTS.get)


@pytest.fixture(scope="module")
def encoded(codec: AvroCodec) -> list[bytes]:
    population = generate_population(load_province("74"), 5000, seed=8)
    simulator = Simulator(population, 8, dirt=DirtProfile().scaled(5))
    return [codec.encode(IDS[s.department], s.record) for s in simulator.take(3000) if s.raw is None]


def fastavro_decode(codec: AvroCodec, data: bytes) -> dict[str, Any]:
    return fastavro.schemaless_reader(io.BytesIO(data[5:]), codec.schema(data[4]), None)  # type: ignore[return-value]


def test_every_department_record_decodes_as_fastavro_decodes_it(
    codec: AvroCodec, encoded: list[bytes]
) -> None:
    assert {data[4] for data in encoded} == set(TEXTS)
    for data in encoded:
        decoder = compile_decoder(fastavro.parse_schema(json.loads(TEXTS[data[4]]), expand=True))
        assert decoder is not None
        record, end = decoder(data, 5)
        assert end == len(data)
        assert record == fastavro_decode(codec, data)


def test_a_dossier_left_as_bytes_is_written_back_unchanged(codec: AvroCodec, encoded: list[bytes]) -> None:
    for data in encoded[:500]:
        schema_id, record = codec.decode(data, ("dossier",))
        assert isinstance(record["dossier"], Raw)
        assert codec.encode(schema_id, record) == data
        full = fastavro_decode(codec, data)
        assert {k: v for k, v in record.items() if k != "dossier"} == {
            k: v for k, v in full.items() if k != "dossier"
        }


def test_skipped_fields_are_left_out_and_the_rest_decoded_as_fastavro_decodes_it(
    codec: AvroCodec, encoded: list[bytes]
) -> None:
    skip = ("citizen", "occurred_at", "bundle_id")  # a record, a timestamp, a field some schemas lack
    for data in encoded[:500]:
        full = fastavro_decode(codec, data)
        _, record = codec.decode(data, skip=skip)
        assert record == {k: v for k, v in full.items() if k not in skip}


def test_a_damaged_field_that_is_skipped_is_still_refused(codec: AvroCodec, encoded: list[bytes]) -> None:
    with pytest.raises(RecordDecodeError) as caught:
        codec.decode(encoded[0][: len(encoded[0]) // 2], skip=("dossier",))
    assert caught.value.reason == DecodeReason.TRUNCATED


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data: data[: len(data) // 2], DecodeReason.TRUNCATED),
        (lambda data: data[:5] + b"\xff" * 30, DecodeReason.NOT_AVRO),
        (lambda data: data + b"\x00\x01", DecodeReason.NOT_AVRO),
    ],
)
def test_damaged_bytes_get_the_reason_fastavro_gives(
    codec: AvroCodec, encoded: list[bytes], damage: Any, reason: str
) -> None:
    for raw in ((), ("dossier",)):
        with pytest.raises(RecordDecodeError) as caught:
            codec.decode(damage(encoded[0]), raw)
        assert caught.value.reason == reason


def test_shapes_left_to_fastavro() -> None:
    two_types = {"type": "record", "name": "A", "fields": [{"name": "x", "type": ["int", "string"]}]}
    assert compile_decoder(fastavro.parse_schema(two_types, expand=True)) is None
    assert compile_decoder(fastavro.parse_schema("string")) is None
    plain = {"type": "record", "name": "B", "fields": [{"name": "x", "type": "int"}]}
    assert compile_decoder(fastavro.parse_schema(plain, expand=True), raw={"x"}) is None  # only records


def test_every_supported_shape_round_trips() -> None:
    schema = {
        "type": "record",
        "name": "Shapes",
        "fields": [
            {"name": "b", "type": "boolean"},
            {"name": "i", "type": "int"},
            {"name": "l", "type": "long"},
            {"name": "f", "type": "float"},
            {"name": "d", "type": "double"},
            {"name": "s", "type": "string"},
            {"name": "y", "type": "bytes"},
            {"name": "x", "type": {"type": "fixed", "name": "F4", "size": 4}},
            {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
            {"name": "a", "type": {"type": "array", "items": "long"}},
            {"name": "m", "type": {"type": "map", "values": ["null", "string"]}},
            {"name": "n", "type": ["string", "null"]},
            {"name": "day", "type": {"type": "int", "logicalType": "date"}},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        ],
    }
    parsed = fastavro.parse_schema(schema, expand=True)
    decoder = compile_decoder(parsed)
    assert decoder is not None
    records = [
        {
            "b": n % 2 == 0,
            "i": -(2**31) + n,
            "l": 2**62 - n,
            "f": 1.5,
            "d": -2.25 * n,
            "s": "Nguyễn" * n,
            "y": bytes(range(n)),
            "x": b"abcd",
            "e": "AB"[n % 2],
            "a": list(range(-n, n)),
            "m": {f"k{k}": (None if k % 2 else "v") for k in range(n)},
            "n": None if n % 2 else "x",
            "day": 19_000 + n,
            "at": 1_700_000_000_000 + n,
            "us": 1_700_000_000_000_000 + n,
        }
        for n in range(0, 40, 3)
    ]
    for record in records:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, record)
        data = buffer.getvalue()
        decoded, end = decoder(data, 0)
        assert end == len(data)
        assert decoded == fastavro.schemaless_reader(io.BytesIO(data), parsed, None)
