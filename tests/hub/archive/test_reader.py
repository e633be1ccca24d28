"""hub.archive.reader: the archive read back by topic, time range and incarnation; a segment whose
manifest puts it outside the range is not opened; the open segment is read to its last whole block."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.archive import ArchivedRecord, ArchiveWriter
from hub.archive.reader import archive_records, latest_incarnation, partitions_held, schema_texts, segments
from hub.errors import ArchiveError

HOUR = 3_600_000


def _record(i: int, topic: str = "lgsp.reconciled") -> ArchivedRecord:
    return ArchivedRecord(topic, 0, i, i * HOUR, None, (), 3, b"\x00\x00\x00\x00\x03v%d" % i)


def test_a_time_range_opens_only_the_segments_it_needs(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path, max_bytes=1)  # a segment per append
    for day in range(5):
        writer.append([_record(day * 24 + h) for h in range(24)], {3: '"string"'})
    writer.append([_record(999, topic="lgsp.exchange.acks")])
    writer.close()
    held = segments(tmp_path)
    assert len(held) == 6 and all(s.sealed for s in held)
    held[0].path.write_bytes(b"damaged")  # day 0: outside the range, so never read
    got = list(archive_records(tmp_path, topics=["lgsp.reconciled"], start_ms=48 * HOUR, end_ms=72 * HOUR))
    assert [r.offset for r in got] == list(range(48, 72))
    assert [
        r.offset for r in archive_records(tmp_path, topics=["lgsp.exchange.acks"], start_ms=48 * HOUR)
    ] == [999]
    assert schema_texts(tmp_path) == {3: '"string"'}


def test_the_open_segment_and_incarnations(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path)
    writer.append([_record(i) for i in range(4)])
    writer.new_incarnation()
    writer.append([_record(i) for i in range(2)])
    writer.abandon()  # left open, as a running archiver leaves it
    held = segments(tmp_path)
    assert [(s.sealed, s.incarnation) for s in held] == [(True, 1), (False, 2)]
    assert latest_incarnation(tmp_path) == 2
    assert partitions_held(tmp_path, 1) == partitions_held(tmp_path, 2) == {"lgsp.reconciled": 1}
    assert partitions_held(tmp_path, 3) == {}
    assert [r.offset for r in archive_records(tmp_path, incarnation=2)] == [0, 1]
    assert len(list(archive_records(tmp_path))) == 6
    with held[1].path.open("ab") as file:
        file.write(b"half a block")  # a block being written
    assert len(list(archive_records(tmp_path))) == 6


def test_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="not an archive"):
        segments(tmp_path)
