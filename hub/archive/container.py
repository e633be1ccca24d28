"""A segment file written directly as an Avro object container (pure): its header, and its
records encoded as ``vn.lgsp.ArchivedRecord`` in blocks, byte for byte what fastavro writes.

The archiver appends every record the hub carries: fastavro's writer, which walks the schema
and resolves each union per record, costs more than everything else it does per record. The
schema is fixed (:data:`ARCHIVED_RECORD`), so its encoding is written out here once; fastavro
still reads every segment (``hub audit verify``, replay, restore), and the tests hold this
encoding to fastavro's. A record's fields but its digest (the last) are encoded apart: the
digest is computed over that encoding (:func:`hub.archive.chain.record_digest`).
"""

from __future__ import annotations

import io
import json
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import IO, Any

import fastavro

from hub.avro.varint import LENGTHS, SMALL, encode_int, encode_length, encode_long

__all__ = [
    "ARCHIVED_RECORD",
    "BLOCK_BYTES",
    "SYNC_SIZE",
    "Fields",
    "blocks",
    "encode_digest",
    "encode_fields",
    "header",
    "read_header",
]

# An archived record's fields but its digest, in the schema's order: topic, partition, offset,
# timestamp (ms), key, headers, schema id, value.
Fields = tuple[
    str, int, int, int | None, bytes | None, Sequence[tuple[str, bytes | None]], int | None, bytes | None
]

ARCHIVED_RECORD: dict[str, Any] = {
    "type": "record",
    "name": "ArchivedRecord",
    "namespace": "vn.lgsp",
    "doc": "One Kafka record as the hub's archive keeps it, chained by its digest.",
    "fields": [
        {"name": "topic", "type": "string"},
        {"name": "partition", "type": "int"},
        {"name": "offset", "type": "long"},
        {"name": "timestamp", "type": ["null", "long"], "doc": "ms since the epoch, as the broker kept it"},
        {"name": "key", "type": ["null", "bytes"]},
        {
            "name": "headers",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "ArchivedHeader",
                    "fields": [
                        {"name": "key", "type": "string"},
                        {"name": "value", "type": ["null", "bytes"]},
                    ],
                },
            },
        },
        {"name": "schema_id", "type": ["null", "int"]},
        {"name": "value", "type": ["null", "bytes"]},
        {"name": "digest", "type": "bytes", "doc": "SHA-256 of the previous record's digest and this record"},
    ],
}
BLOCK_BYTES = 1 << 20  # a block is closed once it holds this much: a reader holds one block at a time
SYNC_SIZE = 16
_MAGIC = b"Obj\x01"
# The object container's header, as the Avro specification declares it.
_HEADER = fastavro.parse_schema(
    {
        "type": "record",
        "name": "org.apache.avro.file.Header",
        "fields": [
            {"name": "magic", "type": {"type": "fixed", "name": "Magic", "size": 4}},
            {"name": "meta", "type": {"type": "map", "values": "bytes"}},
            {"name": "sync", "type": {"type": "fixed", "name": "Sync", "size": SYNC_SIZE}},
        ],
    }
)
_SCHEMA_TEXT = json.dumps(ARCHIVED_RECORD).encode()
_NULL, _SOME = b"\x00", b"\x02"  # a union's branch: index 0 (null) or 1, zig-zagged
_END = b"\x00"  # the end of an array
_TEXTS: dict[str, bytes] = {}  # topic names and header keys, encoded: few, in every record
_SMALL, _LENGTH = SMALL, LENGTHS  # varints of small zig-zagged numbers, of lengths below 64 KiB
_COUNT = (b"", *(encode_long(n) for n in range(1, 256)))  # a header array's count (none: no block)
_LOW = tuple(bytes([low | 0x80]) for low in range(128))  # a varint's first byte, when more follow
_HIGH: dict[int, bytes] = {}  # the rest of a varint: offsets and times in a batch share it


def header(metadata: Mapping[str, str], sync: bytes) -> bytes:
    """The header of a container of :data:`ARCHIVED_RECORD`s, uncompressed, with ``metadata``."""
    meta = {"avro.schema": _SCHEMA_TEXT, "avro.codec": b"null"}
    meta.update((key, value.encode()) for key, value in metadata.items())
    out = io.BytesIO()
    fastavro.schemaless_writer(out, _HEADER, {"magic": _MAGIC, "meta": meta, "sync": sync})
    return out.getvalue()


def read_header(file: IO[bytes]) -> tuple[dict[str, bytes], bytes]:
    """The metadata and the sync marker of the container ``file`` (read from its start);
    ValueError if it does not start as a container of uncompressed records."""
    file.seek(0)
    found: Any = fastavro.schemaless_reader(file, _HEADER)
    meta: dict[str, bytes] = found["meta"]
    if found["magic"] != _MAGIC or meta.get("avro.codec", b"null") != b"null":
        raise ValueError("not an uncompressed Avro object container")
    return meta, found["sync"]


def encode_fields(fields: Fields) -> bytes:
    """An archived record's fields but its digest, Avro-encoded as ``vn.lgsp.ArchivedRecord``
    begins: the record's encoding is this, then :func:`encode_digest`.

    Written for speed (the archiver encodes every record): small numbers and lengths from
    tables, one join. Anything the tables do not hold (a length of 64 KiB or more, a header
    value given as text) is left to :func:`_encode_any`, which encodes every case."""
    topic, partition, offset, timestamp, key, headers, schema_id, value = fields
    try:
        return b"".join(
            (
                _TEXTS.get(topic) or _text(topic),
                _SMALL[(partition << 1) ^ (partition >> 63)],
                _long(offset),
                _NULL if timestamp is None else _SOME + _long(timestamp),
                _NULL if key is None else _SOME + _LENGTH[len(key)] + key,
                _COUNT[len(headers)],
                *[
                    (_TEXTS.get(name) or _text(name))
                    + (_NULL if data is None else _SOME + _LENGTH[len(data)] + data)
                    for name, data in headers
                ],
                _END,
                _NULL if schema_id is None else _SOME + _SMALL[(schema_id << 1) ^ (schema_id >> 63)],
                _NULL if value is None else _SOME + _LENGTH[len(value)] + value,
            )
        )
    except (IndexError, TypeError):
        return _encode_any(fields)


def _encode_any(fields: Fields) -> bytes:
    """:func:`encode_fields` for any values, checked as fastavro would (TypeError, ValueError)."""
    topic, partition, offset, timestamp, key, headers, schema_id, value = fields
    parts = [_text(topic), encode_int(partition), encode_long(offset)]
    parts.append(_NULL if timestamp is None else _SOME + encode_long(timestamp))
    parts.append(_NULL if key is None else _SOME + encode_length(len(key)) + key)
    if headers:
        parts.append(encode_long(len(headers)))
        for name, data in headers:
            parts.append(_text(name))
            if data is not None and not isinstance(data, bytes):
                data = str(data).encode()  # as the archive keeps a header given as text
            parts.append(_NULL if data is None else _SOME + encode_length(len(data)) + data)
    parts.append(_END)
    parts.append(_NULL if schema_id is None else _SOME + encode_int(schema_id))
    parts.append(_NULL if value is None else _SOME + encode_length(len(value)) + value)
    return b"".join(parts)


def encode_digest(digest: bytes) -> bytes:
    """The record's last field, its digest."""
    return encode_length(len(digest)) + digest


def blocks(encoded: Sequence[bytes], sync: bytes, limit: int = BLOCK_BYTES) -> bytes:
    """Encoded records as container blocks (each: its count, its size, the records, ``sync``),
    a new block once one holds ``limit`` bytes."""
    ends = list(accumulate(map(len, encoded)))  # where each record ends, from the first's start
    out: list[bytes] = []
    start = done = 0
    while start < len(encoded):
        end = min(bisect_left(ends, done + limit, lo=start) + 1, len(encoded))
        out += (encode_long(end - start), encode_long(ends[end - 1] - done), *encoded[start:end], sync)
        start, done = end, ends[end - 1]
    return b"".join(out)


def _text(text: str) -> bytes:
    encoded = _TEXTS.get(text)
    if encoded is None:
        data = text.encode()
        encoded = encode_length(len(data)) + data
        if len(_TEXTS) < 10_000:
            _TEXTS[text] = encoded
    return encoded


def _long(n: int) -> bytes:
    """An Avro ``long``, as :func:`~hub.avro.varint.encode_long` writes it, faster for the
    offsets and times of a batch, close to one another: their varints' high bytes are cached."""
    z = (n << 1) ^ (n >> 63)
    if z < 0x4000:
        return _SMALL[z]
    high = _HIGH.get(z >> 7)
    if high is None:
        high = encode_long(n)[1:]  # checks that ``n`` is a long
        if len(_HIGH) >= 4096:
            _HIGH.clear()
        _HIGH[z >> 7] = high
    return _LOW[z & 0x7F] + high
