"""The indicators' counts in memory, by period and dimension, changed a batch at a time.

The stage adds each batch's change: the dossiers it counts for the first time, and those the
exchange acknowledged (moved from their unsynced facts to their synced ones); what changed
since the last call to :meth:`touched` is what it publishes. On start the counts are read back
from the SQL store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date

from hub.stages.indicators.formulas import ALL, Facts
from hub.stages.indicators.periods import Period, PeriodKind, periods_of

__all__ = ["Key", "LiveCounts"]

Key = tuple[Period, str, str]  # period, dimension, value


class LiveCounts:
    """How many dossiers share each Facts, per (period, dimension, value)."""

    def __init__(self) -> None:
        self.counts: dict[Key, Counter[Facts]] = {}
        self._touched: set[Key] = set()
        self.latest: dict[PeriodKind, Period] = {}

    def add(self, change: Mapping[tuple[date, str, str, Facts], int]) -> None:
        """Apply a batch's change (:meth:`~hub.stages.indicators.records.Dossiers.change`): the
        counts change once per group of dossiers, not once per dossier."""
        for (day, department, district, facts), n in change.items():
            if n:
                members = (("province", ALL), ("department", department), ("district", district))
                self._add(day, members, facts, n)

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

    def touched(self) -> set[Key]:
        """The keys changed since the last call."""
        touched, self._touched = self._touched, set()
        return touched

    def is_latest(self, period: Period) -> bool:
        return self.latest.get(period.kind) == period
