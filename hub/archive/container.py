"""A segment file written directly as an Avro object container (pure): its header, and its
records encoded as ``vn.lgsp.ArchivedRecord`` in blocks, byte for byte what fastavro writes.

The archiver appends every record the hub carries: fastavro's writer, which walks the schema
and resolves each union per record, costs more than everything else it does per record. The
schema is fixed (:data:`ARCHIVED_RECORD`), so its encoding is written out here once; fastavro
still reads every segment (``hub audit verify``, replay, restore), and the tests hold this
encoding to fastavro's.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import IO, Any

import fastavro

from hub.archive.chain import ArchivedRecord
from hub.avro.varint import encode_int, encode_length, encode_long

__all__ = ["ARCHIVED_RECORD", "BLOCK_BYTES", "SYNC_SIZE", "blocks", "encode_record", "header", "read_header"]

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


def encode_record(record: ArchivedRecord, digest: bytes) -> bytes:
    """``record`` with ``digest`` as ``vn.lgsp.ArchivedRecord``'s Avro binary encoding."""
    parts = [_text(record.topic), encode_int(record.partition), encode_long(record.offset)]
    timestamp = record.timestamp
    parts.append(_NULL if timestamp is None else _SOME + encode_long(timestamp))
    key = record.key
    if key is None:
        parts.append(_NULL)
    else:
        parts += (_SOME, encode_length(len(key)), key)
    headers = record.headers
    if headers:
        parts.append(encode_long(len(headers)))
        for name, value in headers:
            parts.append(_text(name))
            if value is None:
                parts.append(_NULL)
            else:
                parts += (_SOME, encode_length(len(value)), value)
    parts.append(_END)
    parts.append(_NULL if record.schema_id is None else _SOME + encode_int(record.schema_id))
    value = record.value
    if value is None:
        parts.append(_NULL)
    else:
        parts += (_SOME, encode_length(len(value)), value)
    parts += (encode_length(len(digest)), digest)
    return b"".join(parts)


def blocks(encoded: Sequence[bytes], sync: bytes, limit: int = BLOCK_BYTES) -> bytes:
    """Encoded records as container blocks (each: its count, its size, the records, ``sync``),
    a new block once one holds ``limit`` bytes."""
    out: list[bytes] = []
    start = size = 0
    for end, record in enumerate(encoded, start=1):
        size += len(record)
        if size >= limit or end == len(encoded):
            out += (encode_long(end - start), encode_long(size), *encoded[start:end], sync)
            start, size = end, 0
    return b"".join(out)


def _text(text: str) -> bytes:
    encoded = _TEXTS.get(text)
    if encoded is None:
        data = text.encode()
        encoded = encode_length(len(data)) + data
        if len(_TEXTS) < 10_000:
            _TEXTS[text] = encoded
    return encoded
