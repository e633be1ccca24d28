"""Reading the archive back: its segments as an index (manifests: offsets, time range,
incarnation), and its records by topic, time range and incarnation, without the broker or the
hub's database.

A segment whose manifest says its records' timestamps all fall outside the range asked for is
not opened: replaying a day out of a week's archive reads that day's segments only. The open
segment (no manifest yet) is read up to its last whole block, as ``hub audit verify`` does.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from hub.archive.chain import ArchivedRecord
from hub.archive.segments import _META, _incarnation_of, _manifests, _segment_name, read_segment, readable
from hub.errors import ArchiveError

__all__ = ["Segment", "archive_records", "latest_incarnation", "partitions_held", "schema_texts", "segments"]


@dataclass(frozen=True, slots=True)
class Segment:
    """One segment file and what its manifest says of it (``sealed`` False: the open one, whose
    counts and times are not known without reading it)."""

    path: Path
    sequence: int
    incarnation: int
    sealed: bool
    records: int | None = None
    first_timestamp: int | None = None  # ms since the epoch
    last_timestamp: int | None = None
    topics: frozenset[str] | None = None
    partitions: dict[str, int] | None = None  # topic → its highest partition archived here, plus one

    def may_hold(self, topics: Collection[str] | None, start_ms: int | None, end_ms: int | None) -> bool:
        """Whether records of ``topics`` in [``start_ms``, ``end_ms``) may be in this segment."""
        if not self.sealed:
            return True
        if topics is not None and self.topics is not None and not self.topics & set(topics):
            return False
        if self.first_timestamp is None or self.last_timestamp is None:
            return self.records != 0  # records without timestamps: only a scan can tell
        if start_ms is not None and self.last_timestamp < start_ms:
            return False
        return not (end_ms is not None and self.first_timestamp >= end_ms)


def _check(directory: Path) -> Path:
    directory = Path(directory)
    if not (directory / _META).exists():
        raise ArchiveError(f"{directory} is not an archive: it has no {_META} (see HUB_ARCHIVE_DIR)")
    return directory


def segments(directory: Path) -> list[Segment]:
    """Every segment of the archive in ``directory``, in order, the open one (if any) last."""
    directory = _check(directory)
    found: list[Segment] = []
    incarnation = 1
    for path in _manifests(directory):
        try:
            manifest = json.loads(path.read_text())
            incarnation = int(manifest.get("incarnation", 1))
            found.append(
                Segment(
                    directory / "segments" / str(manifest["file"]),
                    int(manifest["sequence"]),
                    incarnation,
                    True,
                    int(manifest["records"]),
                    manifest.get("first_timestamp"),
                    manifest.get("last_timestamp"),
                    frozenset(manifest.get("offsets", {})),
                    {
                        topic: max(int(p) for p in spans) + 1
                        for topic, spans in manifest.get("offsets", {}).items()
                        if spans
                    },
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(
                f"manifest {path.name} cannot be read ({exc}): run `hub audit verify`"
            ) from exc
    sequence = len(found) + 1
    opened = directory / "segments" / _segment_name(sequence)
    if opened.exists():
        found.append(Segment(opened, sequence, _incarnation_of(opened) or incarnation, False))
    return found


def latest_incarnation(directory: Path) -> int:
    """The incarnation of the broker's topics the archive holds last (1 for an empty archive)."""
    held = segments(directory)
    return held[-1].incarnation if held else 1


def archive_records(
    directory: Path,
    *,
    topics: Collection[str] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    incarnation: int | None = None,
) -> Iterator[ArchivedRecord]:
    """The archived records of ``topics`` (all when None) with a timestamp in [``start_ms``,
    ``end_ms``) (either bound may be None; a record without a timestamp is only kept when
    neither is set), of ``incarnation`` (all when None), in archive order."""
    wanted = None if topics is None else set(topics)
    timed = start_ms is not None or end_ms is not None
    for segment in segments(directory):
        if incarnation is not None and segment.incarnation != incarnation:
            continue
        if not segment.may_hold(wanted, start_ms, end_ms):
            continue
        records = read_segment(segment.path) if segment.sealed else iter(readable(segment.path)[0])
        for record in records:
            if wanted is not None and record.topic not in wanted:
                continue
            if timed:
                ts = record.timestamp
                if (
                    ts is None
                    or (start_ms is not None and ts < start_ms)
                    or (end_ms is not None and ts >= end_ms)
                ):
                    continue
            yield record


def partitions_held(directory: Path, incarnation: int) -> dict[str, int]:
    """Topic → how many partitions the archive holds records of in ``incarnation``: from the
    sealed segments' manifests, and the open segment's records."""
    held: dict[str, int] = {}
    for segment in segments(directory):
        if segment.incarnation != incarnation:
            continue
        found = segment.partitions
        if found is None:  # the open segment: its records say
            found = {}
            for record in readable(segment.path)[0]:
                found[record.topic] = max(found.get(record.topic, 0), record.partition + 1)
        for topic, n in found.items():
            held[topic] = max(held.get(topic, 0), n)
    return held


def schema_texts(directory: Path) -> dict[int, str]:
    """The Avro schemas the archive keeps, by Schema Registry id."""
    directory = _check(directory)
    texts = {}
    for path in (directory / "schemas").glob("*.avsc"):
        try:
            texts[int(path.stem)] = path.read_text()
        except ValueError:
            continue
    return texts
