"""``hub audit verify``: OK and exit 0 on an archive as written, BROKEN and exit 1 with the
place on an altered one, exit 2 where there is no archive."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hub.archive import ArchivedRecord, ArchiveWriter
from hub.cli.app import app


def _archive(directory: Path) -> None:
    writer = ArchiveWriter(directory, max_bytes=1500)
    for b in range(3):
        writer.append(
            [
                ArchivedRecord(
                    "lgsp.reconciled", 0, b * 20 + i, 1_763_000_000_000, None, (), None, b"v%d" % i
                )
                for i in range(20)
            ]
        )
    writer.close()


def test_verify_says_ok_then_names_what_was_altered(tmp_path: Path) -> None:
    _archive(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK ") and "60 records" in ok.output
    (tmp_path / "segments" / "00000002.json").unlink()
    broken = runner.invoke(app, ["audit", "verify", str(tmp_path)])
    assert broken.exit_code == 1
    assert "BROKEN" in broken.output and "00000003.json" in broken.output and "missing" in broken.output
    as_json = runner.invoke(app, ["audit", "verify", "--json", str(tmp_path)])
    assert as_json.exit_code == 1 and '"ok":false' in as_json.output


def test_verify_where_there_is_no_archive(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "verify", str(tmp_path)])
    assert result.exit_code == 2
    assert "not an archive" in result.output
