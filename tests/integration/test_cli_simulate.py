"""``hub simulate`` as an agency or an auditor runs it: files, figures, records on the topics."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HUB = [sys.executable, "-m", "hub.cli"]


def _run(args: list[str], cwd: Path, timeout: float = 280, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    clean.update({"HUB_DATA_DIR": str(cwd / "data"), "COLUMNS": "200", **env})
    return subprocess.run([*HUB, *args], capture_output=True, text=True, timeout=timeout, env=clean, cwd=cwd)


def _row(stdout: str, label: str) -> list[str]:
    """A row of the summary, which is plain tab-separated lines when stdout is not a terminal."""
    rows = (line.split("\t") for line in stdout.splitlines())
    return [cell.strip() for cell in next(row for row in rows if row[0].strip() == label)]


def _count(cell: str) -> int:
    return int(cell.replace(",", ""))


def test_full_default_scale_completes_and_prints_its_figures(tmp_path: Path) -> None:
    result = _run(["simulate", "--out", "sim"], tmp_path)  # its own embedded broker: 500k records
    assert result.returncode == 0, result.stderr[-2000:]
    registry = _row(result.stdout, "population registry")
    assert _count(registry[1]) == 2_700_000
    records = _row(result.stdout, "department records")
    assert _count(records[1]) == 500_000
    assert records[3].endswith("records/s") and _count(records[3].split()[0]) > 1000
    departments = ("civil_status", "land", "health", "social_insurance")
    delivered = sum(_count(_row(result.stdout, d)[3]) for d in departments)
    assert delivered == 500_000
    with (tmp_path / "sim" / "registry.csv").open(encoding="utf-8") as registry_file:
        assert sum(1 for _ in registry_file) == 2_700_000 + 1
    with (tmp_path / "sim" / "ground_truth.csv").open(encoding="utf-8") as truth:
        rows = list(csv.DictReader(truth))
    assert len(rows) == 500_000 and len({r["record_id"] for r in rows}) == 500_000
    expected = Counter(r["expected"] for r in rows)
    assert 0.85 < expected["MATCHED"] / 500_000 < 0.92
    assert {"MATCHED_REPAIRED_ID", "MATCHED_LEGACY_ID", "UNKNOWN_CITIZEN", "BAD_MAGIC_BYTE"} <= set(expected)


def test_same_seed_same_files_and_exports_feed_hub_publish(tmp_path: Path) -> None:
    args = ["simulate", "--citizens", "5000", "--records", "3000", "--no-publish", "--export-records"]
    first = _run([*args, "--out", "a"], tmp_path, COLUMNS="40")
    second = _run([*args, "--out", "b"], tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    registry_path = str(tmp_path / "a" / "registry.csv")
    assert _row(first.stdout, "population registry")[3] == registry_path  # piped and narrow: whole
    for name in ("registry.csv", "ground_truth.csv", "records/land.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    lines = (tmp_path / "a" / "records" / "land.jsonl").read_text(encoding="utf-8").splitlines()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a garbage row, as a broken export has them
    assert records and all(r["agency"] == "STNMT" and "citizen" in r for r in records)
    with (tmp_path / "a" / "ground_truth.csv").open(encoding="utf-8") as truth:
        land = [r for r in csv.DictReader(truth) if r["department"] == "land"]
    assert len(land) == len(lines)


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    result = _run(["simulate", "--start", "yesterday", "--no-publish"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "--start" in result.stderr
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    small = ["simulate", "--citizens", "100", "--records", "10", "--no-publish"]
    result = _run([*small, "--out", "file/x"], tmp_path)
    assert result.returncode == 1 and "cannot write" in result.stderr


def test_an_exported_department_file_passes_hub_publish_except_its_garbage_rows(tmp_path: Path) -> None:
    made = _run(
        ["simulate", "--citizens", "5000", "--records", "6000", "--no-publish", "--export-records"], tmp_path
    )
    assert made.returncode == 0, made.stderr
    export = tmp_path / "data" / "simulation" / "records" / "health.jsonl"  # under HUB_DATA_DIR
    checked = _run(["publish", "--department", "health", "--dry-run", str(export)], tmp_path)
    assert checked.returncode == 0, checked.stderr
    with export.with_name("health.jsonl.rejects.csv").open(encoding="utf-8") as rejects:
        rejected = list(csv.DictReader(rejects))
    truth_file = export.parent.parent / "ground_truth.csv"
    with truth_file.open(encoding="utf-8") as truth:
        garbage = [
            r for r in csv.DictReader(truth) if r["department"] == "health" and r["dirt"] == "garbage_row"
        ]
    assert garbage and len(rejected) == len(garbage)
