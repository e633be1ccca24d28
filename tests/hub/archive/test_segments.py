"""hub.archive: records written durably in hash-chained segments; the verifier finds any change
to a byte, a record, a manifest or a file, and says where."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.archive import ArchivedRecord, ArchiveWriter, verify
from hub.archive.segments import read_segment
from hub.errors import ArchiveError

SCHEMA = '{"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]}'


def record(i: int, topic: str = "lgsp.land.records", partition: int = 0) -> ArchivedRecord:
    value = b"\x00\x00\x00\x00\x07" + bytes([i % 128])
    headers = (("agency", b"STNMT"), ("empty", None)) if i % 3 else ()
    return ArchivedRecord(topic, partition, i, 1_763_000_000_000 + i, str(i).encode(), headers, 7, value)


def write(directory: Path, batches: int = 4, size: int = 25, max_bytes: int = 2000) -> ArchiveWriter:
    writer = ArchiveWriter(directory, max_bytes=max_bytes)
    for b in range(batches):
        writer.append([record(b * size + i, partition=i % 2) for i in range(size)], {7: SCHEMA})
    writer.close()
    return writer


def test_an_archive_as_written_verifies(tmp_path: Path) -> None:
    write(tmp_path)
    verdict = verify(tmp_path)
    assert verdict.ok, verdict
    assert verdict.records == 100 and verdict.segments >= 2  # rolled by size
    kept = [r for p in sorted((tmp_path / "segments").glob("*.avro")) for r in read_segment(p)]
    assert [(r.partition, r.offset) for r in kept] == [(i % 25 % 2, i) for i in range(100)]
    assert kept[1].headers == (("agency", b"STNMT"), ("empty", None)) and kept[1].value == record(1).value
    assert (tmp_path / "schemas" / "7.avsc").read_text() == SCHEMA


def test_a_batch_read_again_is_archived_once_and_the_chain_goes_on_after_a_restart(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path)
    assert writer.append([record(i) for i in range(10)]) == 10
    assert writer.append([record(i) for i in range(5, 15)]) == 5  # 5 to 9 were archived already
    writer.abandon()
    again = ArchiveWriter(tmp_path)  # a restart with the segment still open: carried on
    assert again.archived("lgsp.land.records", 0) == 14
    assert again.append([record(i) for i in range(12, 20)]) == 5
    again.close()
    verdict = verify(tmp_path)
    assert verdict.ok and verdict.records == 20


def test_a_segment_cut_short_by_a_crash_keeps_its_whole_records(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path)
    writer.append([record(i) for i in range(10)])
    writer.append([record(i) for i in range(10, 20)])
    segment = tmp_path / "segments" / "00000001.avro"
    data = segment.read_bytes()
    writer.abandon()  # as a crash would
    segment.write_bytes(data[:-60])  # the last batch half written: never acknowledged
    again = ArchiveWriter(tmp_path)
    assert again.archived("lgsp.land.records", 0) == 9
    assert again.append([record(i) for i in range(10, 20)]) == 10
    again.close()
    assert verify(tmp_path).records == 20


def test_an_open_segment_is_checked_by_its_chain(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path)
    writer.append([record(i) for i in range(10)])
    writer.abandon()
    verdict = verify(tmp_path)
    assert verdict.ok and verdict.open_records == 10 and verdict.segments == 0


def test_a_directory_that_is_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="not an archive"):
        verify(tmp_path)


def _tamper_byte(directory: Path, rng: random.Random) -> str:
    files = sorted((directory / "segments").glob("*.avro"))
    path = rng.choice(files)
    data = bytearray(path.read_bytes())
    at = rng.randrange(len(data))
    data[at] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))
    return path.name


def test_a_changed_record_is_found_with_its_place(tmp_path: Path) -> None:
    write(tmp_path)
    path = tmp_path / "segments" / "00000002.avro"
    data = path.read_bytes()
    value = record(40).value or b""
    at = data.index(value[:5] + value[5:6])  # the value of offset 40 (in segment 2)
    path.write_bytes(data[: at + 5] + b"\x7f" + data[at + 6 :])
    verdict = verify(tmp_path)
    assert not verdict.ok
    assert "altered" in (verdict.problem or "") and "00000002.avro, record" in (verdict.where or "")


@pytest.mark.parametrize(
    "damage",
    [
        "remove a middle segment",
        "remove a manifest",
        "edit a manifest",
        "splice another archive's segment",
        "swap two segments",
        "remove a schema",
        "truncate a segment",
        "extra segment",
    ],
)
def test_files_removed_moved_or_spliced_are_found(tmp_path: Path, damage: str) -> None:
    write(tmp_path / "a")
    write(tmp_path / "b")
    seg = tmp_path / "a" / "segments"
    if damage == "remove a middle segment":
        (seg / "00000002.avro").unlink()
        (seg / "00000002.json").unlink()
    elif damage == "remove a manifest":
        (seg / "00000002.json").unlink()
    elif damage == "edit a manifest":
        manifest = json.loads((seg / "00000001.json").read_text())
        manifest["records"] += 1
        (seg / "00000001.json").write_text(json.dumps(manifest))
    elif damage == "splice another archive's segment":
        for suffix in (".avro", ".json"):
            shutil.copy(tmp_path / "b" / "segments" / f"00000002{suffix}", seg / f"00000002{suffix}")
    elif damage == "swap two segments":
        (seg / "00000001.avro").rename(seg / "x")
        (seg / "00000002.avro").rename(seg / "00000001.avro")
        (seg / "x").rename(seg / "00000002.avro")
    elif damage == "remove a schema":
        (tmp_path / "a" / "schemas" / "7.avsc").unlink()
    elif damage == "truncate a segment":
        data = (seg / "00000001.avro").read_bytes()
        (seg / "00000001.avro").write_bytes(data[: len(data) // 2])
    elif damage == "extra segment":
        shutil.copy(seg / "00000001.avro", seg / "00000099.avro")
    verdict = verify(tmp_path / "a")
    assert not verdict.ok, damage
    assert verdict.where


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_any_changed_byte_of_a_segment_is_found(tmp_path_factory: pytest.TempPathFactory, seed: int) -> None:
    directory = tmp_path_factory.mktemp("archive")
    write(directory, batches=2, size=10)
    name = _tamper_byte(directory, random.Random(seed))
    verdict = verify(directory)
    assert not verdict.ok
    assert name in (verdict.where or "")


def test_a_fresh_broker_starts_a_new_incarnation_whose_offsets_are_archived_again(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path)
    writer.append([record(i) for i in range(10)])
    writer.new_incarnation()  # the embedded broker was started afresh: offsets from 0 again
    assert writer.append([record(i) for i in range(5)]) == 5
    writer.abandon()  # a crash in the new incarnation: a restart carries it on
    again = ArchiveWriter(tmp_path)
    assert again.archived("lgsp.land.records", 0) == 4
    assert again.append([record(i) for i in range(3, 8)]) == 3
    again.close()
    manifests = [json.loads(p.read_text()) for p in sorted((tmp_path / "segments").glob("*.json"))]
    assert [m["incarnation"] for m in manifests] == [1, 2]
    verdict = verify(tmp_path)
    assert verdict.ok and verdict.records == 18


def test_a_new_incarnation_is_kept_before_any_record_is(tmp_path: Path) -> None:
    writer = ArchiveWriter(tmp_path)
    writer.append([record(0), record(1)])
    writer.new_incarnation()
    writer.close()
    reopened = ArchiveWriter(tmp_path)
    assert reopened.incarnation == 2 and reopened.high == {}
    assert reopened.append([record(0)]) == 1  # offset 0 of the fresh broker: archived, not skipped
    reopened.close()
    assert verify(tmp_path).ok
