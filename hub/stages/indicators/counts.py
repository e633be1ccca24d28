"""The live counts as events: what the stage tells the indicators' faust tables, and the rule by
which a table applies what it is told. Pure: no broker, no database.

An event is ``{"seq": S, "kind": "delta" | "state", "rows": [[day_iso, dimension, value,
facts_key, n], ...]}``, with ``facts_key`` the :class:`Facts` as a string of 0s and 1s, the first
field first:

- a **delta** (one per batch) adds ``n`` dossiers with those facts to the day's counts;
- a **state** (when the stage starts, and after a batch it could not deliver) gives the counts
  of every (day, dimension, value) in full, as the stage holds them (read back from the SQL
  store, which is exact, and changed by every batch since).

``seq`` comes from the store and rises with every event. A table value, one per day and
``(dimension, value)``, is ``{"seq": last seq applied, "counts": {facts_key: n}}``; an event whose
seq is not above the value's changes nothing, so an event read twice counts once. A delta the
stage could not deliver is followed by a state that includes it, so nothing is lost either.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from functools import lru_cache
from typing import Any, Literal

from hub.stages.indicators.formulas import ALL, Facts, facts_from_bits
from hub.stages.indicators.periods import Period, PeriodKind

__all__ = [
    "LIVE_DIMENSIONS",
    "CountKey",
    "Value",
    "apply",
    "apply_delta",
    "bits_key",
    "delta_rows",
    "event",
    "facts_key",
    "facts_of_key",
    "fold",
    "group_rows",
    "state_rows",
]

# The dimensions counted live (tables, topic and gauges); communes and procedures: `hub report`.
LIVE_DIMENSIONS = ("province", "department", "district")
CountKey = tuple[str, str, str]  # day_iso, dimension, value
Value = dict[str, Any]  # {"seq": int, "counts": {facts_key: int}}
Kind = Literal["delta", "state"]


def facts_key(facts: Facts) -> str:
    return "".join("1" if fact else "0" for fact in facts)


@lru_cache(maxsize=1 << 14)
def bits_key(bits: int) -> str:
    """The facts_key of facts held as bits."""
    return facts_key(facts_from_bits(bits))


def facts_of_key(key: str) -> Facts:
    return Facts(*(bit == "1" for bit in key))


def delta_rows(change: Mapping[tuple[date, str, str, int], int]) -> list[list[Any]]:
    """A batch's change to the counts (:class:`~hub.stages.indicators.records.Change`: the
    dossiers counted for the first time, and those the exchange has just acknowledged, moved from
    their unsynced facts to their synced ones) as rows, per day and live dimension."""
    province: Counter[tuple[date, int]] = Counter()
    departments: Counter[tuple[date, str, int]] = Counter()
    districts: Counter[tuple[date, str, int]] = Counter()
    for (day, department, district, bits), n in change.items():
        province[day, bits] += n
        departments[day, department, bits] += n
        districts[day, district, bits] += n
    iso = {day: day.isoformat() for day, _ in province}
    rows = [[iso[day], "province", ALL, bits_key(bits), n] for (day, bits), n in province.items() if n]
    rows += [[iso[d], "department", v, bits_key(b), n] for (d, v, b), n in departments.items() if n]
    rows += [[iso[d], "district", v, bits_key(b), n] for (d, v, b), n in districts.items() if n]
    rows.sort()
    return rows


def state_rows(live_counts: Mapping[tuple[Period, str, str], Mapping[int, int]]) -> list[list[Any]]:
    """Every count held, by day: the day periods of the stage's live counts (read back from the
    SQL store when it starts and after a failed batch, changed by every batch since)."""
    rows = []
    for (period, dimension, value), tally in sorted(live_counts.items()):
        if period.kind is PeriodKind.DAY:
            day = period.first.isoformat()
            rows += [[day, dimension, value, bits_key(b), n] for b, n in sorted(tally.items()) if n]
    return rows


def event(seq: int, kind: Kind, rows: list[list[Any]]) -> dict[str, Any]:
    return {"seq": seq, "kind": kind, "rows": rows}


def group_rows(rows: Iterable[list[Any]]) -> dict[CountKey, dict[str, int]]:
    """An event's rows by (day, dimension, value): facts_key → n."""
    grouped: dict[CountKey, dict[str, int]] = {}
    for day_iso, dimension, value, key, n in rows:
        per_key = grouped.setdefault((day_iso, dimension, value), {})
        per_key[key] = per_key.get(key, 0) + n
    return grouped


def apply_delta(current: Mapping[str, Any] | None, seq: int, delta: Mapping[str, int]) -> Value | None:
    """The key's value after delta ``seq``; None when the key has applied it (or later) already."""
    if current and current["seq"] >= seq:
        return None
    counts = dict(current["counts"]) if current else {}
    for key, n in delta.items():
        total = counts.get(key, 0) + n
        if total:
            counts[key] = total
        else:
            counts.pop(key, None)
    return {"seq": seq, "counts": counts}


def apply(current: Mapping[str, Any] | None, seq: int, kind: Kind, given: Mapping[str, int]) -> Value | None:
    """The key's value after event ``seq`` of ``kind``; None when it changes nothing."""
    if kind == "delta":
        return apply_delta(current, seq, given)
    if current and current["seq"] >= seq:
        return None
    return {"seq": seq, "counts": {key: n for key, n in given.items() if n}}


def fold(events: Iterable[Mapping[str, Any]]) -> dict[CountKey, Value]:
    """What a table holds after ``events``, applied in order (the reference a table is checked by)."""
    table: dict[CountKey, Value] = {}
    for ev in events:
        for key, given in group_rows(ev["rows"]).items():
            new = apply(table.get(key), ev["seq"], ev["kind"], given)
            if new is not None:
                table[key] = new
    return table
