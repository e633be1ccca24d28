"""Periods of receipt: a day, an ISO week or a month, named as ``hub report --period`` takes them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from hub.errors import InputError

__all__ = ["Period", "PeriodKind", "parse_period", "periods_of"]


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A period of receipt: its first and last day, and its name."""

    first: date
    last: date
    kind: PeriodKind
    label: str

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def day(of: date) -> Period:
    return Period(of, of, PeriodKind.DAY, of.isoformat())


def week(of: date) -> Period:
    year, number, weekday = of.isocalendar()
    first = of - timedelta(days=weekday - 1)
    return Period(first, first + timedelta(days=6), PeriodKind.WEEK, f"{year}-W{number:02d}")


def month(of: date) -> Period:
    first = of.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, following - timedelta(days=1), PeriodKind.MONTH, f"{of.year}-{of.month:02d}")


def periods_of(received: date) -> tuple[Period, Period, Period]:
    """The day, ISO week and month a dossier received on ``received`` counts in."""
    return day(received), week(received), month(received)


_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_period(text: str) -> Period:
    """``2026-11-20``, ``2026-W47`` or ``2026-11``; :class:`InputError` for anything else."""
    text = text.strip()
    try:
        if found := _DAY.match(text):
            return day(date(*map(int, found.groups())))
        if found := _WEEK.match(text):
            return week(date.fromisocalendar(int(found[1]), int(found[2]), 1))
        if found := _MONTH.match(text):
            return month(date(int(found[1]), int(found[2]), 1))
    except ValueError as exc:
        raise InputError(f"period {text!r}: {exc}") from None
    raise InputError(
        f"period {text!r} is not a day (2026-11-20), an ISO week (2026-W47) or a month (2026-11)"
    )
