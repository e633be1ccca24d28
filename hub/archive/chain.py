"""The archive's hash chain (pure): each record's digest covers the record before it, each
segment's manifest covers its file, its records and the manifest before it.

In the spirit of X-Road's message log: removing, reordering or changing any record, file or
manifest changes a digest that something later depends on, so a verifier that recomputes them
all from the start finds the first place where the archive was altered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import orjson

__all__ = ["ArchivedRecord", "genesis", "manifest_digest", "record_digest"]


@dataclass(frozen=True, slots=True)
class ArchivedRecord:
    """One Kafka record as the archive keeps it: where it was, when, and its bytes unchanged.

    ``schema_id``: the Schema Registry id in its value's wire-format header, if it has one.
    ``digest``: SHA-256 over the previous record's digest and this record (:func:`record_digest`).
    """

    topic: str
    partition: int
    offset: int
    timestamp: int | None  # ms since the epoch, as the broker kept it
    key: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    schema_id: int | None
    value: bytes | None
    digest: bytes = b""

    def to_avro(self) -> dict[str, Any]:
        """As ``vn.lgsp.ArchivedRecord`` (see :mod:`hub.archive.segments`)."""
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.timestamp,
            "key": self.key,
            "headers": [{"key": k, "value": v} for k, v in self.headers],
            "schema_id": self.schema_id,
            "value": self.value,
            "digest": self.digest,
        }

    @classmethod
    def from_avro(cls, record: dict[str, Any]) -> ArchivedRecord:
        return cls(
            record["topic"],
            record["partition"],
            record["offset"],
            record["timestamp"],
            record["key"],
            tuple((h["key"], h["value"]) for h in record["headers"]),
            record["schema_id"],
            record["value"],
            record["digest"],
        )


def genesis(archive_id: str) -> bytes:
    """What the first record and the first manifest of archive ``archive_id`` follow: a file of
    another archive never continues this one's chain."""
    return hashlib.sha256(b"lgsp-archive/1\0" + archive_id.encode()).digest()


def record_digest(previous: bytes, record: ArchivedRecord) -> bytes:
    """SHA-256 over ``previous`` and every field of ``record`` but its digest, each length-prefixed
    (and marked when absent), so that no two different records hash the same input."""
    h = hashlib.sha256(previous)
    _put(h, record.topic.encode())
    _put(h, b"%d" % record.partition)
    _put(h, b"%d" % record.offset)
    _put(h, None if record.timestamp is None else b"%d" % record.timestamp)
    _put(h, record.key)
    _put(h, b"%d" % len(record.headers))
    for key, value in record.headers:
        _put(h, key.encode())
        _put(h, value)
    _put(h, None if record.schema_id is None else b"%d" % record.schema_id)
    _put(h, record.value)
    return h.digest()


def _put(h: Any, part: bytes | None) -> None:
    if part is None:
        h.update(b"\x00")
    else:
        h.update(b"\x01" + len(part).to_bytes(8, "big"))
        h.update(part)


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 (hex) of a manifest's canonical JSON (sorted keys), its own ``chain`` left out."""
    body = {k: v for k, v in manifest.items() if k != "chain"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def chain_records(previous: bytes, records: Iterable[ArchivedRecord]) -> list[ArchivedRecord]:
    """``records`` with their digests, chained on from ``previous``."""
    out = []
    for record in records:
        previous = record_digest(previous, record)
        out.append(replace(record, digest=previous))
    return out
