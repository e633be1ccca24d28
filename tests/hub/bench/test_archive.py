"""The archive bench's figures, without a broker: its rates from the archiver's marks, verify of a
small archive, and a day replayed out of a week written segment by segment."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.archive import ArchivedRecord
from hub.bench.archive import (
    DAY_MS,
    WEEK_START_MS,
    Run,
    archiver_figures,
    replay_day,
    verify_figures,
    write_week,
)

SCHEMA = '{"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]}'
RECORDS = 2_100  # 300 a day


def record(i: int) -> ArchivedRecord:
    value = b"\x00\x00\x00\x00\x07" + bytes([2 * (i % 64)])  # {"x": i % 64}, framed with schema 7
    headers = (("hub.agency", b"STNMT"), ("hub.record_id", b"STNMT-%d" % i))
    return ArchivedRecord("lgsp.land.records", i % 3, i // 3, None, b"k%d" % i, headers, 7, value)


def test_the_sustained_rate_and_cpu_are_those_from_10_to_90_percent_of_the_best_run() -> None:
    run = Run(1_000, launched=0.0, at={100: 2.0, 900: 4.0, 1_000: 9.0}, cpu={100: 1.0, 900: 1.4, 1_000: 3.0})
    assert run.marks == (100, 900)
    assert run.rate() == 400.0  # 800 records in 2 s
    assert run.cpu_per_record() == pytest.approx(500.0)  # 0.4 CPU s over 800 records, in µs
    slower = Run(
        1_000, launched=0.0, at={100: 2.0, 900: 6.0, 1_000: 9.0}, cpu={100: 1.0, 900: 2.0, 1_000: 3.0}
    )
    rate, median, whole, cpu, *_ = archiver_figures([slower, run, slower], size=400_000)
    assert (rate.value, rate.met, median.value) == (400.0, False, 200.0)
    assert whole.value == pytest.approx(1_000 / 9.0) and cpu.value == pytest.approx(500.0)


def test_a_day_is_replayed_from_its_own_segments(tmp_path: Path) -> None:
    week = tmp_path / "week"
    write_week(map(record, range(RECORDS)), week, RECORDS, {7: SCHEMA}, segment_bytes=4096, batch=50)

    checked, count = verify_figures(week)
    assert count == RECORDS and checked[0].value > 0 and checked[0].unit == "GB/min"

    read, decoded = replay_day(week, WEEK_START_MS + 3 * DAY_MS)
    assert "300 records" in read.name and "300 records" in decoded.name
    opened, held = (int(n) for n in read.name.split("; ")[1].split(" segments")[0].split(" of "))
    assert opened < held / 5  # a day of a week: the other days' segments are not opened
    assert decoded.met
