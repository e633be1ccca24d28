"""The archive's hash chain (pure): each record's digest covers the record before it, each
segment's manifest covers its file, its records and the manifest before it.

In the spirit of X-Road's message log: removing, reordering or changing any record, file or
manifest changes a digest that something later depends on, so a verifier that recomputes them
all from the start finds the first place where the archive was altered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from hub.archive.container import Fields, encode_fields

__all__ = ["ArchivedRecord", "chained", "genesis", "manifest_digest", "record_digest"]

_sha256 = hashlib.sha256


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

    def fields(self) -> Fields:
        """Its fields but its digest, in order (what :func:`record_digest` covers)."""
        return (
            self.topic,
            self.partition,
            self.offset,
            self.timestamp,
            self.key,
            self.headers,
            self.schema_id,
            self.value,
        )

    @classmethod
    def from_avro(cls, record: dict[str, Any]) -> ArchivedRecord:
        return cls(
            record["topic"],
            record["partition"],
            record["offset"],
            record["timestamp"],
            record["key"],
            tuple([(h["key"], h["value"]) for h in record["headers"]]),
            record["schema_id"],
            record["value"],
            record["digest"],
        )


def genesis(archive_id: str) -> bytes:
    """What the first record and the first manifest of archive ``archive_id`` follow: a file of
    another archive never continues this one's chain."""
    return hashlib.sha256(b"lgsp-archive/1\0" + archive_id.encode()).digest()


def record_digest(previous: bytes, record: ArchivedRecord) -> bytes:
    """SHA-256 over ``previous`` and ``record``'s fields but its digest as the segment holds them
    (their Avro encoding, :func:`~hub.archive.container.encode_fields`). An Avro encoding decodes
    to one record only, so no two different records hash the same input; and the archiver hashes
    the bytes it writes, without a second serialization of each record."""
    return chained(previous, encode_fields(record.fields()))


def chained(previous: bytes, encoded: bytes) -> bytes:
    """The digest of a record that follows ``previous`` and whose fields encode as ``encoded``."""
    return _sha256(previous + encoded).digest()


def manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 (hex) of a manifest's canonical JSON (sorted keys), its own ``chain`` left out."""
    body = {k: v for k, v in manifest.items() if k != "chain"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
