"""The faust-tables bench's synthetic counts events, without a broker."""

from __future__ import annotations

from datetime import date

from hub.bench.indicator_deltas import DOSSIERS_PER_BATCH, batches
from hub.stages.indicators.counts import group_rows

TODAY = date(2026, 5, 1)


def test_batches_are_deterministic_and_touch_a_week_of_keys() -> None:
    events = list(batches(3, seed=1, today=TODAY))
    assert events == list(batches(3, seed=1, today=TODAY))
    assert [(e["seq"], e["kind"]) for e in events] == [(1, "delta"), (2, "delta"), (3, "delta")]
    keys = group_rows(events[0]["rows"])
    assert len(keys) == 7 * (1 + 4 + 10)
    province = sum(n for (_, dim, _), d in keys.items() if dim == "province" for n in d.values())
    assert province == DOSSIERS_PER_BATCH


def test_every_dossier_counts_once_in_each_dimension() -> None:
    for event in batches(2, seed=4, today=TODAY):
        totals = {dim: 0 for dim in ("province", "department", "district")}
        for _, dim, _, _, n in event["rows"]:
            totals[dim] += n
        assert totals == dict.fromkeys(totals, DOSSIERS_PER_BATCH)
