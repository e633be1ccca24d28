"""Unit tests for hub.stages.indicators.periods: days, ISO weeks and months of receipt."""

from __future__ import annotations

from datetime import date

import pytest

from hub.errors import InputError
from hub.stages.indicators.periods import PeriodKind, parse_period, periods_of


def test_a_day_counts_in_its_day_its_iso_week_and_its_month() -> None:
    day, week, month = periods_of(date(2026, 11, 20))
    assert (day.label, day.first, day.last) == ("2026-11-20", date(2026, 11, 20), date(2026, 11, 20))
    assert (week.label, week.first, week.last) == ("2026-W47", date(2026, 11, 16), date(2026, 11, 22))
    assert (month.label, month.first, month.last) == ("2026-11", date(2026, 11, 1), date(2026, 11, 30))


def test_iso_week_one_may_start_in_the_year_before() -> None:
    _, week, month = periods_of(date(2026, 12, 29))
    assert week.label == "2026-W53" and month.label == "2026-12"
    _, week, _ = periods_of(date(2027, 1, 4))
    assert week.label == "2027-W01" and week.first == date(2027, 1, 4)
    _, week, _ = periods_of(date(2025, 12, 29))
    assert week.label == "2026-W01" and week.last == date(2026, 1, 4)


@pytest.mark.parametrize(
    ("text", "kind", "first", "last"),
    [
        ("2026-11-20", PeriodKind.DAY, date(2026, 11, 20), date(2026, 11, 20)),
        ("2026-W47", PeriodKind.WEEK, date(2026, 11, 16), date(2026, 11, 22)),
        ("2026-02", PeriodKind.MONTH, date(2026, 2, 1), date(2026, 2, 28)),
        (" 2028-02 ", PeriodKind.MONTH, date(2028, 2, 1), date(2028, 2, 29)),
    ],
)
def test_periods_parse_as_report_takes_them(text: str, kind: PeriodKind, first: date, last: date) -> None:
    period = parse_period(text)
    assert (period.kind, period.first, period.last) == (kind, first, last)
    assert len(period.days()) == (last - first).days + 1


@pytest.mark.parametrize("text", ["2026-13", "2026-W54", "2026-02-30", "november", "2026/11", ""])
def test_anything_else_is_a_clear_error(text: str) -> None:
    with pytest.raises(InputError, match="period"):
        parse_period(text)
