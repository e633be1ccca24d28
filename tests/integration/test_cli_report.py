"""`hub report` as a user runs it: a table, JSON or CSV from the hub's database; bad input is one line."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from hub.db import connect
from hub.stages.indicators.formulas import INDICATOR_NAMES, Facts
from hub.stages.indicators.records import Dossier
from hub.stages.indicators.store import DossierStore

pytestmark = pytest.mark.integration

BASE = Facts(*([True] + [False] * (len(Facts._fields) - 1)))


def _hub(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_DATA_DIR": str(tmp_path), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "report", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture
def held(tmp_path: Path) -> Path:
    engine = connect(f"sqlite:///{tmp_path / 'hub.db'}")
    store = DossierStore(engine)
    store.add(
        [
            Dossier(
                "a", "land", "1.000001", "718", "25708", date(2026, 11, 20), BASE._replace(digitized=True)
            ),
            Dossier("b", "land", "1.000001", "718", "25708", date(2026, 11, 21), BASE),
            Dossier(
                "c", "health", "1.000002", "719", "25722", date(2026, 11, 20), BASE._replace(synced=True)
            ),
            Dossier(
                "d", "health", "1.000002", "719", "25722", date(2026, 10, 31), BASE._replace(digitized=True)
            ),
        ]
    )
    store.sync(["c"])  # the exchange acknowledged it
    engine.dispose()
    return tmp_path


def test_a_month_by_district_as_json(held: Path) -> None:
    result = _hub(held, "--period", "2026-11", "--by", "district", "--format", "json")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    reuse = {
        r["value"]: (r["numerator"], r["denominator"]) for r in body["rows"] if r["indicator"] == "reuse_rate"
    }
    assert reuse == {"718": (1, 2), "719": (0, 1)}  # "d" was received in October
    assert {r["indicator"] for r in body["rows"]} == set(INDICATOR_NAMES)
    assert {m["indicator"] for m in body["not_computable"]} == {"publication", "e_copies", "satisfaction"}


def test_one_indicator_for_a_day_as_csv_and_as_a_table(held: Path) -> None:
    result = _hub(held, "--period", "2026-11-20", "--indicator", "sync_rate", "--format", "csv")
    assert result.returncode == 0, result.stderr
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert (row["value"], row["numerator"], row["denominator"]) == ("all", "1", "2")
    table = _hub(held, "--period", "2026-W47", "--by", "department")
    assert table.returncode == 0, table.stderr
    assert "reuse_rate" in table.stdout and "not computable from hub data" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2026-13"], "period '2026-13'"),
        (["--indicator", "happiness"], "no indicator happiness"),
    ],
)
def test_bad_input_is_one_clear_line(held: Path, args: list[str], message: str) -> None:
    result = _hub(held, *args)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
