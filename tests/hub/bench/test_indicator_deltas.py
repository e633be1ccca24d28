"""The faust-tables bench's delta events and the per-key seq rule, without a broker."""

from __future__ import annotations

from datetime import date

from hub.bench.indicator_deltas import apply_delta, batches, expected_table, group_deltas

TODAY = date(2026, 5, 1)


def test_a_key_applies_an_event_once() -> None:
    first = apply_delta(None, 1, {"1000000000000": 3})
    assert first == {"seq": 1, "counts": {"1000000000000": 3}}
    assert apply_delta(first, 1, {"1000000000000": 3}) is None
    assert apply_delta(first, 2, {"1000000000000": 2}) == {"seq": 2, "counts": {"1000000000000": 5}}


def test_a_count_back_to_zero_is_removed() -> None:
    held = {"seq": 4, "counts": {"1000000000000": 2, "1100000000000": 1}}
    assert apply_delta(held, 5, {"1000000000000": -2}) == {"seq": 5, "counts": {"1100000000000": 1}}


def test_batches_are_deterministic_and_touch_a_week_of_keys() -> None:
    events = list(batches(3, seed=1, today=TODAY))
    assert events == list(batches(3, seed=1, today=TODAY))
    assert [e["seq"] for e in events] == [1, 2, 3]
    keys = group_deltas(events[0]["deltas"])
    assert len(keys) == 7 * (1 + 4 + 10)
    assert sum(n for (_, dim, _), d in keys.items() if dim == "province" for n in d.values()) == 5_000


def test_replayed_events_change_nothing() -> None:
    events = list(batches(6, seed=2, today=TODAY))
    assert expected_table(events[:4] + events[2:]) == expected_table(events)
