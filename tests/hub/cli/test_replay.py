"""``hub replay --archive``: a week's archive read back by time range, filtered, as JSON lines or
CSV, with a message and exit 1 when the range holds nothing or no record matches."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hub.archive import ArchivedRecord, ArchiveWriter
from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.bench.forward import reconciled_record
from hub.cli.app import app
from hub.topics import EXCHANGE_ACKS, RECONCILED

DAY = 86_400_000
WEEK_START = 1_793_466_000_000  # 2026-11-01T00:00 Vietnam time
PER_DAY = 30
SCHEMA_ID = 1


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """A week of reconciled records (and an ack per record), in segments of about a day."""
    text = get_catalog().text("vn.lgsp.ReconciledRecord")
    codec = AvroCodec({SCHEMA_ID: text}.get)
    writer = ArchiveWriter(tmp_path / "archive", max_bytes=PER_DAY * 900)
    for i in range(7 * PER_DAY):
        ms = WEEK_START + i * (DAY // PER_DAY)
        value = codec.encode(SCHEMA_ID, reconciled_record(i))
        writer.append(
            [
                ArchivedRecord(RECONCILED.name, i % 3, i // 3, ms, None, (), SCHEMA_ID, value),
                ArchivedRecord(EXCHANGE_ACKS.name, 0, i, ms, None, (), None, b"not read here"),
            ],
            {SCHEMA_ID: text},
        )
    writer.close()
    return tmp_path / "archive"


def _replay(archive: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["replay", RECONCILED.name, "--archive-dir", str(archive), *args])
    return result.exit_code, result.stdout, result.stderr


def test_one_day_by_time_range(archive: Path) -> None:
    code, out, err = _replay(archive, "--from", "2026-11-03T00:00", "--to", "2026-11-04T00:00")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["value"]["record_id"] for r in rows] == [
        reconciled_record(i)["record_id"] for i in range(2 * PER_DAY, 3 * PER_DAY)
    ]
    assert all(r["timestamp"].startswith("2026-11-03T") for r in rows)
    assert f"{PER_DAY} records" in err


def test_filters_and_csv(archive: Path) -> None:
    wanted = reconciled_record(77)
    citizen = wanted["citizen"]["SoDinhDanh"]
    code, out, err = _replay(archive, "--citizen", citizen, "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all(citizen in row["citizen"].split() for row in rows)
    assert wanted["record_id"] in {row["record_id"] for row in rows}
    code, out, _ = _replay(archive, "--record-id", wanted["record_id"], "--department", wanted["department"])
    assert code == 0 and [json.loads(line)["value"]["record_id"] for line in out.splitlines()] == [
        wanted["record_id"]
    ]


def test_nothing_found_is_said(archive: Path) -> None:
    code, out, err = _replay(archive, "--from", "2027-01-01T00:00")
    assert (code, out) == (1, "") and "no records of lgsp.reconciled in the archive" in err
    code, out, err = _replay(archive, "--record-id", "no-such-record")
    assert (code, out) == (1, "") and f"none of the {7 * PER_DAY} records" in err and "no-such-record" in err


def test_bad_input_is_refused(archive: Path) -> None:
    code, _, err = _replay(archive, "--from", "last tuesday")
    assert code == 2 and "2026-11-01T00:00" in err
    code, _, err = _replay(archive, "--from-offset", "3", "--from", "2026-11-03T00:00")
    assert code == 2 and "not both" in err
    result = CliRunner().invoke(app, ["replay", "lgsp.nope", "--archive-dir", str(archive)])
    assert result.exit_code == 2 and "lgsp.reconciled" in result.stderr
    result = CliRunner().invoke(app, ["replay", RECONCILED.name, "--archive-dir", str(archive / "nope")])
    assert result.exit_code == 2 and "not an archive" in result.stderr
