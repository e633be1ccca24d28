"""Synthetic counts events for the faust-tables bench: each one batch of the indicators stage,
its dossiers aggregated into a delta (the format of :mod:`hub.stages.indicators.counts`),
``seq`` rising by one per batch. Pure: no broker.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import numpy as np

from hub.topics import Department

__all__ = ["DAYS_SPANNED", "DOSSIERS_PER_BATCH", "batches"]

DOSSIERS_PER_BATCH = 5_000
DAYS_SPANNED = 24  # the batches' "today" moves over this many days (all inside the tables' expiry)
FACTS_PATTERNS = 64  # distinct Facts a province's dossiers fall into, most of them rare
DISTRICTS = tuple(f"D{n:02d}" for n in range(1, 11))
DEPARTMENTS = tuple(d.value for d in Department)
# How far back from the batch's day its dossiers were received (a batch touches ~7 days).
_LAG_WEIGHTS = np.array([0.40, 0.20, 0.12, 0.10, 0.08, 0.06, 0.04])


def batches(count: int, seed: int, today: date) -> Iterator[dict[str, Any]]:
    """``count`` delta events, seq 1..count, the same for the same seed and ``today``."""
    rng = np.random.default_rng(seed)
    patterns = _facts_patterns(rng)
    weights = 1.0 / np.arange(1, FACTS_PATTERNS + 1) ** 1.1
    weights /= weights.sum()
    for index in range(count):
        day = today - timedelta(days=DAYS_SPANNED - (index * DAYS_SPANNED) // max(count, 1))
        yield {"seq": index + 1, "kind": "delta", "rows": _batch_deltas(rng, patterns, weights, day)}


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
