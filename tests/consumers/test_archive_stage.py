"""consumers.archive: each consumed record archived as it came (topic, position, time, key,
headers, schema id, value), once; a failed write is fatal, never dead-lettered."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Message

from consumers.archive import ArchiveStage
from hub.archive import ArchiveWriter, verify
from hub.archive.segments import read_segment
from hub.avro.wire import AvroCodec
from hub.errors import ArchiveError
from hub.kafka.stage import process_isolating

SCHEMA = '{"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]}'


def _message(offset: int, value: bytes | None, topic: str = "lgsp.reconciled") -> Message:
    return Message(
        topic=topic,
        partition=1,
        offset=offset,
        key=b"k%d" % offset,
        value=value,
        headers=[("__hub.errors.reason", b"NO_MATCH")],
        timestamp=(1, 1_763_000_000_000 + offset),
    )


def test_records_are_archived_as_they_came_and_once(tmp_path: Path) -> None:
    stage = ArchiveStage(ArchiveWriter(tmp_path), AvroCodec({7: SCHEMA}.get))
    framed = b"\x00\x00\x00\x00\x07\x02"
    batch = [_message(0, framed), _message(1, b'{"seq": 1}', "lgsp.indicators.counts"), _message(2, None)]
    assert stage.process(batch) == []
    stage.process(batch)  # read again (a restart before the commit): archived once
    stage.close()
    kept = list(read_segment(tmp_path / "segments" / "00000001.avro"))
    assert [(r.topic, r.offset, r.schema_id, r.value) for r in kept] == [
        ("lgsp.reconciled", 0, 7, framed),
        ("lgsp.indicators.counts", 1, None, b'{"seq": 1}'),
        ("lgsp.reconciled", 2, None, None),
    ]
    assert (
        kept[0].headers == (("__hub.errors.reason", b"NO_MATCH"),) and kept[0].timestamp == 1_763_000_000_000
    )
    assert (tmp_path / "schemas" / "7.avsc").read_text() == SCHEMA
    assert verify(tmp_path).ok


def test_a_write_that_fails_stops_the_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stage = ArchiveStage(ArchiveWriter(tmp_path), AvroCodec({}.get))

    def full(*_: object, **__: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(stage.writer, "append", full)
    with pytest.raises(ArchiveError, match="No space left"):
        process_isolating(stage, [_message(0, b"x")])  # not dead-lettered: the stage stops
