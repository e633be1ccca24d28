"""The archive on disk: Avro object-container segments, each sealed with a manifest that
continues the hash chain; written durably, checked by a stand-alone verifier.

A directory holds::

    archive.json               {"format": 1, "archive_id": ..., "created_at": ...}
    schemas/<id>.avsc          the schema of every schema id an archived value names
    segments/00000001.avro     vn.lgsp.ArchivedRecord records (fastavro), in arrival order
    segments/00000001.json     its manifest, written when the segment is sealed

The last segment may be open (no manifest yet): the writer appends to it and fsyncs after each
batch, and seals it when it reaches its size or age. What is archived is never rewritten: a
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
from typing import IO, Any

import fastavro
import orjson
from fastavro.write import Writer

from hub.archive.chain import ArchivedRecord, chain_records, genesis, manifest_digest, record_digest
from hub.errors import ArchiveError

__all__ = ["ARCHIVED_RECORD", "ArchiveWriter", "Verdict", "read_segment", "verify"]

FORMAT = 1
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
_PARSED = fastavro.parse_schema(ARCHIVED_RECORD)
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
        self._writer: Writer | None = None
        self._opened_at = 0.0
        self._records: list[ArchivedRecord] = []  # of the open segment: for its manifest
        self._first_previous = self._tail.record
        self._recover()

    def archived(self, topic: str, partition: int) -> int | None:
        """The last offset of ``topic``/``partition`` in the archive, if any."""
        return self._tail.high.get((topic, partition))

    def append(self, records: Sequence[ArchivedRecord], schemas: Mapping[int, str] = {}) -> int:
        """Archive ``records`` (their digests are computed here) durably: written and fsynced when
        this returns. ``schemas``: the text of each schema id they name. Returns how many were new."""
        fresh = [r for r in records if r.offset > self._tail.high.get((r.topic, r.partition), -1)]
        for schema_id, text in schemas.items():
            self._keep_schema(schema_id, text)
        if not fresh:
            return 0
        chained = chain_records(self._tail.record, fresh)
        writer, file = self._open()
        for record in chained:
            writer.write(record.to_avro())
        writer.flush()
        file.flush()
        os.fsync(file.fileno())
        self._records += chained
        self._tail.record = chained[-1].digest
        for record in chained:
            self._tail.high[record.topic, record.partition] = record.offset
        if file.tell() >= self.max_bytes or self._clock() - self._opened_at >= self.max_seconds:
            self.seal()
        return len(chained)

    def seal(self) -> None:
        """Close the open segment and write its manifest, continuing the chain."""
        if self._file is None:
            return
        assert self._writer is not None
        self._writer.flush()
        self._file.close()
        self._file = self._writer = None
        sequence = self._tail.sequence + 1
        path = self.directory / "segments" / _segment_name(sequence)
        manifest = _manifest(
            self.directory, self.archive_id, sequence, path, self._records, self._first_previous
        )
        manifest["incarnation"] = self._tail.incarnation
        manifest["previous"] = self._tail.chain
        manifest["chain"] = manifest_digest(manifest)
        _write_durably(path.with_suffix(".json"), json.dumps(manifest, indent=1, sort_keys=True).encode())
        self._tail.sequence, self._tail.chain = sequence, manifest["chain"]
        self._records, self._first_previous = [], self._tail.record

    def close(self) -> None:
        self.seal()

    def abandon(self) -> None:
        """Let go of the open segment without sealing it, as a crash would (what was appended is
        on disk already); a new writer carries on with it."""
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None

    def _open(self) -> tuple[Writer, IO[bytes]]:
        if self._writer is None or self._file is None:
            path = self.directory / "segments" / _segment_name(self._tail.sequence + 1)
            self._file = path.open("a+b")
            self._writer = Writer(self._file, _PARSED, codec="null", metadata=self._metadata())
            self._opened_at = self._clock()
        return self._writer, self._file

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
            temporary = path.with_suffix(".recovering")
            with temporary.open("wb") as out:
                metadata = self._metadata()
                fastavro.writer(out, _PARSED, [r.to_avro() for r in records], codec="null", metadata=metadata)
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(path)
        if not records:
            path.unlink()
            return
        self._records = records
        self._tail.record = records[-1].digest
        for record in records:
            self._tail.high[record.topic, record.partition] = record.offset
        self._file = path.open("a+b")
        self._writer = Writer(self._file, _PARSED, codec="null", metadata=self._metadata())
        self._opened_at = self._clock()


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
    records: list[ArchivedRecord],
    first_previous: bytes,
) -> dict[str, Any]:
    offsets: dict[str, dict[str, list[int]]] = {}
    for record in records:
        span = offsets.setdefault(record.topic, {}).setdefault(
            str(record.partition), [record.offset, record.offset]
        )
        span[0], span[1] = min(span[0], record.offset), max(span[1], record.offset)
    times = [r.timestamp for r in records if r.timestamp is not None]
    schema_ids = sorted({r.schema_id for r in records if r.schema_id is not None})
    schemas = {}
    for schema_id in schema_ids:
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
        "records": len(records),
        "offsets": offsets,
        "first_timestamp": min(times) if times else None,
        "last_timestamp": max(times) if times else None,
        "first_previous": first_previous.hex(),
        "last_record": records[-1].digest.hex() if records else first_previous.hex(),
        "schemas": schemas,
        "sealed_at": datetime.now(UTC).isoformat(),
    }


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_durably(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


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


# --- verifying ----------------------------------------------------------------------------------


@dataclass
class Verdict:
    """What :func:`verify` found: everything in order, or the first thing that is not."""

    segments: int = 0
    records: int = 0
    bytes: int = 0
    open_records: int = 0  # in the open segment, checked by its record chain only
    problem: str | None = None
    where: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(directory: Path) -> Verdict:
    """Recompute every digest and link of the archive in ``directory``; no broker, no database."""
    directory = Path(directory)
    verdict = Verdict()
    meta = directory / _META
    try:
        archive_id = str(json.loads(meta.read_text())["archive_id"])
    except FileNotFoundError:
        raise ArchiveError(f"{directory} is not an archive: it has no {_META}") from None
    except (ValueError, KeyError, TypeError) as exc:
        return _broken(verdict, f"{_META} cannot be read: {exc}", _META)
    chain, record = genesis(archive_id).hex(), genesis(archive_id)
    manifests = _manifests(directory)
    names = {p.name for p in (directory / "segments").glob("*.avro")}
    for expected, path in enumerate(manifests, start=1):
        try:
            manifest = json.loads(path.read_text())
        except ValueError as exc:
            return _broken(verdict, f"the manifest is not JSON: {exc}", path.name)
        where = f"segments/{path.name}"
        if manifest.get("sequence") != expected or path.name != f"{expected:08d}.json":
            return _broken(verdict, f"segment {expected} is missing: the chain jumps to {path.name}", where)
        if manifest.get("archive_id") != archive_id:
            return _broken(verdict, "the manifest belongs to another archive", where)
        if manifest_digest(manifest) != manifest.get("chain"):
            return _broken(verdict, "the manifest was altered: its digest does not match", where)
        if manifest.get("previous") != chain:
            return _broken(verdict, "the manifest does not follow the one before it", where)
        segment = directory / "segments" / str(manifest.get("file"))
        if segment.name != _segment_name(expected) or not segment.exists():
            return _broken(verdict, f"its segment file {segment.name} is missing", where)
        found = _check_segment(segment, record, manifest, verdict)
        if found is not None:
            return found
        record = bytes.fromhex(manifest["last_record"])
        for schema_id, digest in manifest.get("schemas", {}).items():
            schema = directory / "schemas" / f"{schema_id}.avsc"
            if not schema.exists() or hashlib.sha256(schema.read_bytes()).hexdigest() != digest:
                return _broken(verdict, f"schema {schema_id} is missing or altered", f"schemas/{schema.name}")
        chain = manifest["chain"]
        verdict.segments += 1
        verdict.records += int(manifest["records"])
        verdict.bytes += int(manifest["bytes"])
        names.discard(segment.name)
    open_name = _segment_name(len(manifests) + 1)
    extra = sorted(names - {open_name})
    if extra:
        return _broken(verdict, "a segment file that no manifest names", f"segments/{extra[0]}")
    if open_name in names:
        for i, found_record in enumerate(readable(directory / "segments" / open_name)[0]):
            if record_digest(record, found_record) != found_record.digest:
                return _broken(
                    verdict, f"record {i} does not follow the one before it", f"segments/{open_name}"
                )
            record = found_record.digest
            verdict.open_records += 1
    return verdict


def _check_segment(path: Path, previous: bytes, manifest: dict[str, Any], verdict: Verdict) -> Verdict | None:
    where = f"segments/{path.name}"
    if manifest.get("first_previous") != previous.hex():
        return _broken(verdict, "its first record does not follow the last record before it", where)
    count = 0
    offsets: dict[str, dict[str, list[int]]] = {}
    try:
        for count, record in enumerate(read_segment(path), start=1):
            at = f"{where}, record {count - 1} ({record.topic}/{record.partition}@{record.offset})"
            if record_digest(previous, record) != record.digest:
                return _broken(
                    verdict, "the record was altered, removed or moved: its digest does not match", at
                )
            previous = record.digest
            span = offsets.setdefault(record.topic, {}).setdefault(str(record.partition), [record.offset] * 2)
            span[0], span[1] = min(span[0], record.offset), max(span[1], record.offset)
    except Exception as exc:  # fastavro raises many kinds on a damaged file
        return _broken(verdict, f"the file cannot be read after record {count - 1}: {exc}", where)
    if count != manifest.get("records"):
        return _broken(
            verdict, f"it holds {count} records, its manifest says {manifest.get('records')}", where
        )
    if offsets != manifest.get("offsets"):
        return _broken(verdict, "its offsets are not those its manifest lists", where)
    if previous.hex() != manifest.get("last_record"):
        return _broken(verdict, "its last record is not the one its manifest names", where)
    if path.stat().st_size != manifest.get("bytes") or _file_digest(path) != manifest.get("file_sha256"):
        return _broken(verdict, "the file was altered: its SHA-256 does not match its manifest", where)
    return None


def _broken(verdict: Verdict, problem: str, where: str) -> Verdict:
    verdict.problem, verdict.where = problem, where
    return verdict


def dumps_verdict(verdict: Verdict) -> bytes:
    return orjson.dumps(verdict.__dict__ | {"ok": verdict.ok})
