"""The stand-alone verifier (``hub audit verify``): every digest and link of an archive
recomputed from the start, without the broker or the hub's database; the first thing altered,
missing or out of place is named, file and record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hub.archive.chain import genesis, manifest_digest, record_digest
from hub.archive.segments import _META, _file_digest, _manifests, _segment_name, read_segment, readable
from hub.errors import ArchiveError

__all__ = ["Verdict", "dumps_verdict", "verify"]


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
    spans: dict[tuple[str, int], list[int]] = {}  # → [lowest, highest] offset
    try:
        for count, record in enumerate(read_segment(path), start=1):
            if record_digest(previous, record) != record.digest:
                at = f"{where}, record {count - 1} ({record.topic}/{record.partition}@{record.offset})"
                return _broken(
                    verdict, "the record was altered, removed or moved: its digest does not match", at
                )
            previous = record.digest
            span = spans.get((record.topic, record.partition))
            if span is None:
                spans[record.topic, record.partition] = [record.offset, record.offset]
            elif record.offset > span[1]:
                span[1] = record.offset
            elif record.offset < span[0]:
                span[0] = record.offset
    except Exception as exc:  # fastavro raises many kinds on a damaged file
        return _broken(verdict, f"the file cannot be read after record {count - 1}: {exc}", where)
    if count != manifest.get("records"):
        return _broken(
            verdict, f"it holds {count} records, its manifest says {manifest.get('records')}", where
        )
    offsets: dict[str, dict[str, list[int]]] = {}
    for (topic, partition), span in spans.items():
        offsets.setdefault(topic, {})[str(partition)] = span
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
