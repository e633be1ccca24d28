"""The archive on disk: Avro object-container segments, each sealed with a manifest that
continues the hash chain; written durably, checked by the stand-alone verifier (:mod:`.verify`).

A directory holds::

    archive.json               {"format": 1, "archive_id": ..., "created_at": ...}
    schemas/<id>.avsc          the schema of every schema id an archived value names
    segments/00000001.avro     vn.lgsp.ArchivedRecord records, in arrival order (an Avro object
                               container, written by hub.archive.container, read by fastavro)
    segments/00000001.json     its manifest, written when the segment is sealed

The last segment may be open (no manifest yet): the writer appends each batch to it as whole
blocks and fsyncs, and seals it when it reaches its size or age. What is archived is never rewritten: a
writer that finds an open segment after a crash keeps its readable records, in order.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import fastavro

from hub.archive.chain import ArchivedRecord, chained, genesis, manifest_digest, record_digest
from hub.archive.container import (
    ARCHIVED_RECORD,
    SYNC_SIZE,
    Fields,
    blocks,
    encode_digest,
    encode_fields,
    header,
    read_header,
)
from hub.errors import ArchiveError

__all__ = ["ARCHIVED_RECORD", "ArchiveWriter", "read_segment", "readable"]

FORMAT = 1
_META = "archive.json"
_INCARNATION = "lgsp.incarnation"
_NEXT_INCARNATION = "incarnation.json"  # set by new_incarnation(), until a segment says it


def _segment_name(sequence: int) -> str:
    return f"{sequence:08d}.avro"


@dataclass
class _Tail:
    """Where the chain stands: the last sealed manifest's chain digest and the last record's."""

    sequence: int = 0  # of the last sealed segment
    incarnation: int = 1  # of the broker's topics: a fresh broker starts offsets again at 0
    chain: str = ""
    record: bytes = b""
    high: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) → last offset


@dataclass
class _Summary:
    """What the open segment's manifest says of its records, gathered as they are appended
    (rather than keeping them all until it is sealed)."""

    records: int = 0
    spans: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # → [first, last] offset
    first_timestamp: int | None = None
    last_timestamp: int | None = None
    schema_ids: set[int] = field(default_factory=set)

    def add(self, rows: Sequence[Fields], reached: Mapping[tuple[str, int], int]) -> None:
        """Count ``rows``, whose last offset in each partition is ``reached``: the writer appends
        a partition's offsets in increasing order, so its first and last are its lowest and highest."""
        self.records += len(rows)
        spans = self.spans
        new = {position for position in reached if position not in spans}
        for row in rows if new else ():  # a partition's first records in this segment
            position = (row[0], row[1])
            if position in new:
                new.discard(position)
                spans[position] = [row[2], row[2]]
                if not new:
                    break
        for position, offset in reached.items():
            spans[position][1] = offset
        times = [row[3] for row in rows if row[3] is not None]
        if times:
            first, last = min(times), max(times)
            if self.first_timestamp is None or first < self.first_timestamp:
                self.first_timestamp = first
            if self.last_timestamp is None or last > self.last_timestamp:
                self.last_timestamp = last
        self.schema_ids.update(row[6] for row in rows if row[6] is not None)

    @property
    def offsets(self) -> dict[str, dict[str, list[int]]]:
        """topic → partition (as text) → [first, last] offset, as a manifest lists them."""
        offsets: dict[str, dict[str, list[int]]] = {}
        for (topic, partition), span in self.spans.items():
            offsets.setdefault(topic, {})[str(partition)] = list(span)
        return offsets


class ArchiveWriter:
    """Appends records to the archive in ``directory`` (created if absent); see the module doc.

    ``max_bytes`` and ``max_seconds`` bound an open segment; :meth:`append` seals it when either is
    reached, :meth:`close` seals what is open. Records already archived (an offset at or below
    the last archived one of its partition) are skipped, so reading a batch twice after a crash
    archives it once.
    """

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int = 64 << 20,
        max_seconds: float = 300.0,
        clock: Any = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self._clock = clock
        try:
            (self.directory / "segments").mkdir(parents=True, exist_ok=True)
            (self.directory / "schemas").mkdir(exist_ok=True)
            self.archive_id = _archive_id(self.directory)
        except OSError as exc:
            raise ArchiveError(f"cannot keep an archive in {self.directory}: {exc}") from exc
        self._tail = _tail(self.directory, self.archive_id)
        self._file: IO[bytes] | None = None
        self._sync = b""  # the open segment's sync marker, which ends each of its blocks
        self._opened_at = 0.0
        self._summary = _Summary()  # of the open segment: for its manifest
        self._first_previous = self._tail.record
        self._recover()

    def archived(self, topic: str, partition: int) -> int | None:
        """The last offset of ``topic``/``partition`` in the archive, if any."""
        return self._tail.high.get((topic, partition))

    def append(
        self, records: Sequence[ArchivedRecord] | Sequence[Fields], schemas: Mapping[int, str] = {}
    ) -> int:
        """Archive ``records`` (their digests are computed here) durably: written and fsynced when
        this returns. ``schemas``: the text of each schema id they name. Returns how many were new.

        The records may all be given as their fields instead (:meth:`ArchivedRecord.fields`,
        :func:`~hub.archive.message.message_fields`): the archiver's way, no object per record."""
        rows = cast(Sequence[Fields], records)
        if records and isinstance(records[0], ArchivedRecord):
            rows = [record.fields() for record in cast(Sequence[ArchivedRecord], records)]
        for schema_id, text in schemas.items():
            self._keep_schema(schema_id, text)
        high = self._tail.high
        previous = self._tail.record
        reached: dict[tuple[str, int], int] = {}  # the last offset of each partition in this batch
        kept: list[Fields] = []
        encoded: list[bytes] = []
        for row in rows:
            position = (row[0], row[1])
            if row[2] <= reached.get(position, high.get(position, -1)):
                continue  # archived already (a batch read again after a crash)
            reached[position] = row[2]
            fields = encode_fields(row)
            previous = chained(previous, fields)
            encoded.append(fields + encode_digest(previous))
            kept.append(row)
        if not kept:
            return 0
        file = self._open()
        file.write(blocks(encoded, self._sync))
        file.flush()
        os.fsync(file.fileno())
        self._summary.add(kept, reached)
        self._tail.record = previous
        high.update(reached)
        if file.tell() >= self.max_bytes or self._clock() - self._opened_at >= self.max_seconds:
            self.seal()
        return len(kept)

    def seal(self) -> None:
        """Close the open segment and write its manifest, continuing the chain."""
        if self._file is None:
            return
        self._file.close()
        self._file = None
        sequence = self._tail.sequence + 1
        path = self.directory / "segments" / _segment_name(sequence)
        manifest = _manifest(
            self.directory,
            self.archive_id,
            sequence,
            path,
            self._summary,
            self._first_previous,
            self._tail.record,
        )
        manifest["incarnation"] = self._tail.incarnation
        manifest["previous"] = self._tail.chain
        manifest["chain"] = manifest_digest(manifest)
        _write_durably(path.with_suffix(".json"), json.dumps(manifest, indent=1, sort_keys=True).encode())
        self._tail.sequence, self._tail.chain = sequence, manifest["chain"]
        self._summary, self._first_previous = _Summary(), self._tail.record

    def close(self) -> None:
        self.seal()

    def abandon(self) -> None:
        """Let go of the open segment without sealing it, as a crash would (what was appended is
        on disk already); a new writer carries on with it."""
        if self._file is not None:
            self._file.close()
        self._file = None

    def _open(self) -> IO[bytes]:
        """The open segment, created (its header written) if there is none."""
        if self._file is None:
            path = self.directory / "segments" / _segment_name(self._tail.sequence + 1)
            file = path.open("a+b")
            try:
                if file.seek(0, os.SEEK_END) == 0:
                    self._sync = os.urandom(SYNC_SIZE)
                    file.write(header(self._metadata(), self._sync))
                    _sync_directory(path.parent)  # the new file's name as durable as its records
                else:
                    self._sync = read_header(file)[1]
                    file.seek(0, os.SEEK_END)
            except BaseException:
                file.close()
                raise
            self._file = file
            self._opened_at = self._clock()
        return self._file

    def _metadata(self) -> dict[str, str]:
        return {_INCARNATION: str(self._tail.incarnation)}

    @property
    def incarnation(self) -> int:
        """Of the broker's topics: each fresh broker (offsets from 0 again) is a new one."""
        return self._tail.incarnation

    @property
    def high(self) -> dict[tuple[str, int], int]:
        """The last archived offset of each partition, in this incarnation."""
        return dict(self._tail.high)

    def new_incarnation(self) -> None:
        """The broker's topics start again (a fresh broker: offsets from 0): seal what is open and
        archive every offset from now on, even those held from before. Kept in the archive's
        ``incarnation.json``, so a writer opened later knows even before a record is written."""
        self.seal()
        self._tail.incarnation += 1
        self._tail.high = {}
        body = {"incarnation": self._tail.incarnation, "since": datetime.now(UTC).isoformat()}
        _write_durably(self.directory / _NEXT_INCARNATION, json.dumps(body).encode())

    def _keep_schema(self, schema_id: int, text: str) -> None:
        path = self.directory / "schemas" / f"{schema_id}.avsc"
        if not path.exists():
            _write_durably(path, text.encode())

    def _recover(self) -> None:
        """An open segment left by a stop or a crash: keep its readable records, chained on."""
        path = self.directory / "segments" / _segment_name(self._tail.sequence + 1)
        if not path.exists():
            return
        records, complete = readable(path)
        incarnation = _incarnation_of(path)
        if incarnation is not None and incarnation > self._tail.incarnation:
            self._tail.incarnation, self._tail.high = incarnation, {}
        previous = self._tail.record
        for i, record in enumerate(records):
            if record_digest(previous, record) != record.digest:
                raise ArchiveError(
                    f"archive {self.directory}: open segment {path.name} breaks the chain at record {i}; "
                    "run `hub audit verify` and keep the archive as it is"
                )
            previous = record.digest
        if not complete:  # a batch cut short by a crash: never acknowledged, rewrite what is whole
            sync = os.urandom(SYNC_SIZE)
            whole = blocks([encode_fields(r.fields()) + encode_digest(r.digest) for r in records], sync)
            _write_durably(path, header(self._metadata(), sync) + whole, suffix=".recovering")
        if not records:
            path.unlink()
            return
        reached = {(record.topic, record.partition): record.offset for record in records}
        self._summary.add([record.fields() for record in records], reached)
        self._tail.record = records[-1].digest
        self._tail.high.update(reached)
        self._open()


def _incarnation_of(path: Path) -> int | None:
    """The incarnation an open segment was written in (its file's metadata), if it says."""
    try:
        with path.open("rb") as file:
            return int(fastavro.reader(file).metadata[_INCARNATION])
    except Exception:  # an empty or damaged header: the writer's own guess stands
        return None


def read_segment(path: Path) -> Iterator[ArchivedRecord]:
    """The records of one segment file, in order."""
    with path.open("rb") as file:
        for record in fastavro.reader(file):
            yield ArchivedRecord.from_avro(record)  # type: ignore[arg-type]


def readable(path: Path) -> tuple[list[ArchivedRecord], bool]:
    """The records of ``path`` up to the first that cannot be read, and whether that was all:
    a segment being written (or cut short by a crash) ends in a block not yet whole."""
    records: list[ArchivedRecord] = []
    try:
        for record in read_segment(path):
            records.append(record)
    except Exception:  # fastavro raises many kinds on a file cut short
        return records, False
    return records, True


def _manifest(
    directory: Path,
    archive_id: str,
    sequence: int,
    path: Path,
    summary: _Summary,
    first_previous: bytes,
    last_record: bytes,
) -> dict[str, Any]:
    schemas = {}
    for schema_id in sorted(summary.schema_ids):
        schema_path = directory / "schemas" / f"{schema_id}.avsc"
        if schema_path.exists():
            schemas[str(schema_id)] = hashlib.sha256(schema_path.read_bytes()).hexdigest()
    return {
        "format": FORMAT,
        "archive_id": archive_id,
        "sequence": sequence,
        "file": path.name,
        "file_sha256": _file_digest(path),
        "bytes": path.stat().st_size,
        "records": summary.records,
        "offsets": summary.offsets,
        "first_timestamp": summary.first_timestamp,
        "last_timestamp": summary.last_timestamp,
        "first_previous": first_previous.hex(),
        "last_record": last_record.hex(),
        "schemas": schemas,
        "sealed_at": datetime.now(UTC).isoformat(),
    }


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_durably(path: Path, data: bytes, suffix: str = ".tmp") -> None:
    temporary = path.with_name(path.name + suffix)
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    """Make the names in ``directory`` (a file created, one replaced) durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _archive_id(directory: Path) -> str:
    meta = directory / _META
    if meta.exists():
        try:
            found = json.loads(meta.read_text())
            return str(found["archive_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"{meta} is not an archive's description: {exc}") from exc
    archive_id = str(uuid.uuid4())
    body = {"format": FORMAT, "archive_id": archive_id, "created_at": datetime.now(UTC).isoformat()}
    _write_durably(meta, json.dumps(body, indent=1).encode())
    return archive_id


def _manifests(directory: Path) -> list[Path]:
    return sorted((directory / "segments").glob("*.json"))


def _tail(directory: Path, archive_id: str) -> _Tail:
    """Where a writer carries on: from the last sealed manifest (the verifier checks the rest)."""
    tail = _Tail(chain=genesis(archive_id).hex(), record=genesis(archive_id))
    for path in _manifests(directory):
        manifest = json.loads(path.read_text())
        tail.sequence, tail.chain = int(manifest["sequence"]), str(manifest["chain"])
        tail.record = bytes.fromhex(manifest["last_record"])
        incarnation = int(manifest.get("incarnation", 1))
        if incarnation != tail.incarnation:
            tail.incarnation, tail.high = incarnation, {}
        for topic, partitions in manifest["offsets"].items():
            for partition, (_, last) in partitions.items():
                key = (topic, int(partition))
                tail.high[key] = max(tail.high.get(key, -1), int(last))
    declared = directory / _NEXT_INCARNATION
    if declared.exists():
        try:
            incarnation = int(json.loads(declared.read_text())["incarnation"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"{declared} cannot be read: {exc}") from exc
        if incarnation > tail.incarnation:
            tail.incarnation, tail.high = incarnation, {}
    return tail
