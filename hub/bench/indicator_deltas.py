"""Delta events for the faust-tables bench, and the rule a table applies them by.

One event stands for one batch of the indicators stage: the batch's dossiers aggregated into
deltas, ``{"seq": N, "deltas": [[day_iso, dimension, value, facts_key, count_delta], ...]}``,
with ``seq`` rising by one per batch. A table value (one per day and ``(dimension, value)``)
is ``{"seq": last seq applied, "counts": {facts_key: count}}``; an event whose seq is not
above the stored one is a replay for that key and changes nothing. Pure: no broker.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date, timedelta
from typing import Any

import numpy as np

from hub.topics import Department

__all__ = [
    "DAYS_SPANNED",
    "DOSSIERS_PER_BATCH",
    "DeltaKey",
    "Value",
    "apply_delta",
    "batches",
    "expected_table",
    "group_deltas",
]

DOSSIERS_PER_BATCH = 5_000
DAYS_SPANNED = 24  # the batches' "today" moves over this many days (all inside a 40-day expiry)
FACTS_PATTERNS = 64  # distinct Facts a province's dossiers fall into, most of them rare
DISTRICTS = tuple(f"D{n:02d}" for n in range(1, 11))
DEPARTMENTS = tuple(d.value for d in Department)
# How far back from the batch's day its dossiers were received (a batch touches ~7 days).
_LAG_WEIGHTS = np.array([0.40, 0.20, 0.12, 0.10, 0.08, 0.06, 0.04])

DeltaKey = tuple[str, str, str]  # day_iso, dimension, value
Value = dict[str, Any]  # {"seq": int, "counts": {facts_key: int}}


def batches(count: int, seed: int, today: date) -> Iterator[dict[str, Any]]:
    """``count`` delta events, seq 1..count, the same for the same seed and ``today``."""
    rng = np.random.default_rng(seed)
    patterns = _facts_patterns(rng)
    weights = 1.0 / np.arange(1, FACTS_PATTERNS + 1) ** 1.1
    weights /= weights.sum()
    for index in range(count):
        day = today - timedelta(days=DAYS_SPANNED - (index * DAYS_SPANNED) // max(count, 1))
        yield {"seq": index + 1, "deltas": _batch_deltas(rng, patterns, weights, day)}


def _facts_patterns(rng: np.random.Generator) -> list[str]:
    bits = rng.integers(0, 2, size=(FACTS_PATTERNS, 13))
    bits[:, 0] = 1  # received: every counted dossier has a receipt date
    return ["".join(map(str, row)) for row in bits]


def _batch_deltas(
    rng: np.random.Generator, patterns: list[str], weights: np.ndarray, day: date
) -> list[list[Any]]:
    n = DOSSIERS_PER_BATCH
    lag = rng.choice(len(_LAG_WEIGHTS), size=n, p=_LAG_WEIGHTS / _LAG_WEIGHTS.sum())
    facts = rng.choice(FACTS_PATTERNS, size=n, p=weights)
    members = (
        ("province", ("all",), np.zeros(n, dtype=np.int64)),
        ("department", DEPARTMENTS, rng.integers(0, len(DEPARTMENTS), size=n)),
        ("district", DISTRICTS, rng.integers(0, len(DISTRICTS), size=n)),
    )
    day_isos = [(day - timedelta(days=back)).isoformat() for back in range(len(_LAG_WEIGHTS))]
    rows: list[list[Any]] = []
    for dimension, values, member in members:
        codes = (lag * len(values) + member) * FACTS_PATTERNS + facts
        found, counts = np.unique(codes, return_counts=True)
        for code, count in zip(found.tolist(), counts.tolist(), strict=True):
            rest, fact = divmod(code, FACTS_PATTERNS)
            back, value = divmod(rest, len(values))
            rows.append([day_isos[back], dimension, values[value], patterns[fact], count])
    return rows


def group_deltas(deltas: Iterable[list[Any]]) -> dict[DeltaKey, dict[str, int]]:
    """An event's delta rows by (day, dimension, value): facts_key → count delta."""
    grouped: dict[DeltaKey, dict[str, int]] = {}
    for day_iso, dimension, value, facts_key, n in deltas:
        per_key = grouped.setdefault((day_iso, dimension, value), {})
        per_key[facts_key] = per_key.get(facts_key, 0) + n
    return grouped


def apply_delta(current: Mapping[str, Any] | None, seq: int, delta: Mapping[str, int]) -> Value | None:
    """The key's new value after event ``seq``; None when the key has applied it already."""
    if current and current["seq"] >= seq:
        return None
    counts = dict(current["counts"]) if current else {}
    for facts_key, n in delta.items():
        total = counts.get(facts_key, 0) + n
        if total:
            counts[facts_key] = total
        else:
            counts.pop(facts_key, None)
    return {"seq": seq, "counts": counts}


def expected_table(events: Iterable[Mapping[str, Any]]) -> dict[DeltaKey, Value]:
    """What a table holds after every event applied once, in order: the reference."""
    table: dict[DeltaKey, Value] = {}
    for event in events:
        for key, delta in group_deltas(event["deltas"]).items():
            new = apply_delta(table.get(key), event["seq"], delta)
            if new is not None:
                table[key] = new
    return table
