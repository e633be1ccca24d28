"""The indicators' counts in memory, by period and dimension, changed one dossier at a time.

The stage adds each dossier it counts for the first time (and moves a dossier from unsynced to
synced when the exchange acknowledges it); what changed since the last call to :meth:`touched`
is what it publishes. On start the counts are read back from the SQL store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import date

from hub.stages.indicators.formulas import ALL, Facts
from hub.stages.indicators.periods import Period, PeriodKind, periods_of
from hub.stages.indicators.records import Dossier

__all__ = ["Key", "LiveCounts"]

Key = tuple[Period, str, str]  # period, dimension, value


class LiveCounts:
    """How many dossiers share each Facts, per (period, dimension, value)."""

    def __init__(self) -> None:
        self.counts: dict[Key, Counter[Facts]] = {}
        self._touched: set[Key] = set()
        self.latest: dict[PeriodKind, Period] = {}

    def add(self, dossiers: Iterable[Dossier], sign: int = 1) -> None:
        """Count ``dossiers`` (``sign`` -1: uncount them); a batch's dossiers are grouped first,
        so the counts change once per group, not once per dossier."""
        groups = Counter(
            (d.received_on, d.department, d.district, d.facts) for d in dossiers if d.received_on is not None
        )  # a dossier without a receipt date is out of every denominator and every numerator
        for (day, department, district, facts), n in groups.items():
            members = (("province", ALL), ("department", department), ("district", district))
            self._add(day, members, facts, sign * n)

    def add_tally(self, day: date, dimension: str, value: str, tally: Mapping[Facts, int]) -> None:
        """Counts read back from the store: ``tally`` of the dossiers received on ``day``."""
        for facts, n in tally.items():
            self._add(day, ((dimension, value),), facts, n)

    def _add(self, day: date, members: Iterable[tuple[str, str]], facts: Facts, n: int) -> None:
        for period in periods_of(day):
            current = self.latest.get(period.kind)
            if current is None or period > current:
                self.latest[period.kind] = period
            for dimension, value in members:
                key = (period, dimension, value)
                counts = self.counts.setdefault(key, Counter())
                counts[facts] += n
                if not counts[facts]:
                    del counts[facts]
                self._touched.add(key)

    def synced(self, dossiers: Iterable[Dossier]) -> None:
        """Dossiers (with ``synced`` now true) that the exchange has just acknowledged."""
        now = list(dossiers)
        self.add((_unsynced(d) for d in now), -1)
        self.add(now)

    def touched(self) -> set[Key]:
        """The keys changed since the last call."""
        touched, self._touched = self._touched, set()
        return touched

    def is_latest(self, period: Period) -> bool:
        return self.latest.get(period.kind) == period


def _unsynced(dossier: Dossier) -> Dossier:
    return replace(dossier, facts=dossier.facts._replace(synced=False))
