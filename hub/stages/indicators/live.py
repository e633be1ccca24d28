"""The indicators' counts in memory, by period and dimension, changed a batch at a time.

The stage adds each batch's change: the dossiers it counts for the first time, and those the
exchange acknowledged (moved from their unsynced facts to their synced ones); what changed
since the last call to :meth:`touched` is what it publishes. On start the counts are read back
from the SQL store.

Facts are held as bits (:func:`~hub.stages.indicators.formulas.facts_bits`) and the counts
as period → dimension → value → bits → dossiers, so that a batch's change costs a few
dictionary operations per group of dossiers; :func:`~hub.stages.indicators.formulas.evaluate_bits`
reads them as they are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import date
from functools import lru_cache

from hub.stages.indicators.formulas import ALL, Facts, facts_bits
from hub.stages.indicators.periods import Period, PeriodKind, periods_of
from hub.stages.indicators.records import Change

__all__ = ["Bits", "Key", "LiveCounts"]

Key = tuple[Period, str, str]  # period, dimension, value
Bits = dict[int, int]  # facts as bits → dossiers


class LiveCounts:
    """How many dossiers share each set of facts, per (period, dimension, value)."""

    def __init__(self) -> None:
        self._periods: dict[Period, dict[str, dict[str, Bits]]] = {}
        self._touched: set[Key] = set()
        self.latest: dict[PeriodKind, Period] = {}

    def add(self, change: Change) -> None:
        """Apply a batch's change (:meth:`~hub.stages.indicators.records.Dossiers.change`): per
        day, its sums by dimension value first, then each sum to the day's three periods."""
        by_day: dict[date, dict[tuple[str, str], Counter[int]]] = {}
        for (day, department, district, bits), n in change.items():
            if n:
                sums = by_day.get(day)
                if sums is None:
                    sums = by_day[day] = {}
                for member in (("province", ALL), ("department", department), ("district", district)):
                    counter = sums.get(member)
                    if counter is None:
                        counter = sums[member] = Counter()
                    counter[bits] += n
        for day, sums in by_day.items():
            for (dimension, value), delta in sums.items():
                self._apply(day, dimension, value, delta)

    def add_tally(self, day: date, dimension: str, value: str, tally: Mapping[Facts, int]) -> None:
        """Counts read back from the store: ``tally`` of the dossiers received on ``day``."""
        self._apply(day, dimension, value, {facts_bits(facts): n for facts, n in tally.items()})

    def _apply(self, day: date, dimension: str, value: str, delta: Mapping[int, int]) -> None:
        """Add ``delta`` (bits → dossiers) to the day's, week's and month's counts of one value."""
        for period in _periods_of(day):
            self._seen(period)
            counts = _bits_of(self._periods.setdefault(period, {}).setdefault(dimension, {}), value)
            for bits, n in delta.items():
                total = counts.get(bits, 0) + n
                if total:
                    counts[bits] = total
                else:
                    counts.pop(bits, None)
            self._touched.add((period, dimension, value))

    def _seen(self, period: Period) -> None:
        current = self.latest.get(period.kind)
        if current is None or period > current:
            self.latest[period.kind] = period

    def bits(self, key: Key) -> Bits:
        """The counts of one key, by facts as bits."""
        period, dimension, value = key
        return self._periods.get(period, {}).get(dimension, {}).get(value, {})

    @property
    def counts(self) -> dict[Key, Bits]:
        """Every key's counts, by facts as bits."""
        return dict(self._items(self._periods))

    def latest_counts(self) -> Iterator[tuple[Key, Bits]]:
        """The counts of the latest day, week and month."""
        return self._items({p: self._periods.get(p, {}) for p in self.latest.values()})

    @staticmethod
    def _items(periods: Mapping[Period, dict[str, dict[str, Bits]]]) -> Iterator[tuple[Key, Bits]]:
        for period, dims in periods.items():
            for dimension, values in dims.items():
                for value, bits in values.items():
                    yield (period, dimension, value), bits

    def touched(self) -> set[Key]:
        """The keys changed since the last call."""
        touched, self._touched = self._touched, set()
        return touched


def _bits_of(values: dict[str, Bits], value: str) -> Bits:
    counts = values.get(value)
    if counts is None:
        counts = values[value] = {}
    return counts


@lru_cache(maxsize=4096)
def _periods_of(day: date) -> tuple[Period, Period, Period]:
    return periods_of(day)
