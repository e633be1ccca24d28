"""Unit tests for hub.exchange.faults: the decision for one submission, and the settings' checks."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from hub.errors import ConfigError
from hub.exchange.faults import FaultInjector, Faults, Outage, Verdict, decide

NOW = 1_800_000_000.0


def draws(faults: Faults, count: int = 2000, seed: int = 1) -> Counter[int | None]:
    chance = random.Random(seed)
    return Counter(decide(faults, chance, NOW).status for _ in range(count))


def test_no_faults_by_default() -> None:
    assert decide(Faults(), random.Random(), NOW) == Verdict()


def test_latency_is_added_to_every_answer() -> None:
    assert decide(Faults(latency_ms=250), random.Random(), NOW) == Verdict(delay=0.25)
    throttled = decide(Faults(latency_ms=250, throttle_rate=1), random.Random(), NOW)
    assert throttled.status == 429 and throttled.delay == 0.25


def test_throttling_answers_429_with_retry_after() -> None:
    verdict = decide(Faults(throttle_rate=1, retry_after_seconds=2), random.Random(), NOW)
    assert verdict == Verdict(429, "too_many_requests", "2", 0.0)
    assert decide(Faults(throttle_rate=1, retry_after_seconds=0.5), random.Random(), NOW).retry_after == "0.5"
    assert draws(Faults(throttle_rate=0.25))[429] == pytest.approx(500, abs=80)


def test_server_errors_are_500_502_or_503() -> None:
    counts = draws(Faults(error_rate=1))
    assert set(counts) == {500, 502, 503} and min(counts.values()) > 500
    verdict = decide(Faults(error_rate=1), random.Random(), NOW)
    assert verdict.error == "server_error" and verdict.retry_after is None
    assert draws(Faults(error_rate=0.1))[None] == pytest.approx(1800, abs=80)


def test_a_timeout_waits_then_answers_504() -> None:
    verdict = decide(Faults(timeout_rate=1, timeout_seconds=30, latency_ms=100), random.Random(), NOW)
    assert verdict.status == 504 and verdict.delay == pytest.approx(30.1)


def test_the_contract_order_outage_throttle_error_timeout() -> None:
    everything = Faults(throttle_rate=1, error_rate=1, timeout_rate=1)
    assert decide(everything, random.Random(), NOW).status == 429
    assert decide(Faults(error_rate=1, timeout_rate=1), random.Random(), NOW).status in (500, 502, 503)
    outage = Faults(throttle_rate=1, outages=(Outage(NOW - 1, NOW + 1),))
    assert decide(outage, random.Random(), NOW).status == 503


def test_an_outage_answers_503_with_the_seconds_to_its_end() -> None:
    faults = Faults(outages=(Outage(NOW + 10, NOW + 40), Outage(NOW + 100, NOW + 101)))
    assert decide(faults, random.Random(), NOW + 9.9).status is None
    at_start = decide(faults, random.Random(), NOW + 10)
    assert at_start == Verdict(503, "unavailable", "30", 0.0)
    assert decide(faults, random.Random(), NOW + 39.2).retry_after == "1"  # rounded up
    assert decide(faults, random.Random(), NOW + 40).status is None  # the end is outside
    assert decide(faults, random.Random(), NOW + 100.5).retry_after == "1"


def test_a_seed_repeats_the_draws() -> None:
    faults = Faults(error_rate=0.5, throttle_rate=0.2)
    runs = [random.Random(7), random.Random(7)]
    first, second = ([decide(faults, chance, NOW) for _ in range(50)] for chance in runs)
    assert first == second and len({verdict.status for verdict in first}) > 2


@pytest.mark.parametrize(
    "changes",
    [
        {"error_rate": 1.5},
        {"throttle_rate": -0.1},
        {"timeout_rate": "0.5"},
        {"error_rate": True},
        {"latency_ms": -1},
        {"timeout_seconds": float("inf")},
        {"retry_after_seconds": float("nan")},
        {"seed": 1.5},
        {"surprise": 1},
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Faults().changed(**changes)


@pytest.mark.parametrize(("start", "end"), [(NOW, NOW), (NOW, NOW - 1), (NOW, float("inf")), ("now", NOW)])
def test_an_outage_ends_after_it_starts(start: float, end: float) -> None:
    with pytest.raises(ConfigError, match="ends after it starts"):
        Outage(start, end)


def test_json_round_trip_and_partial_changes() -> None:
    faults = Faults().changed_by_json({"error_rate": 0.2, "outages": [{"start": NOW, "end": NOW + 5}]})
    assert faults.error_rate == 0.2 and faults.outages == (Outage(NOW, NOW + 5),)
    assert faults.to_json() == {
        "latency_ms": 0,
        "error_rate": 0.2,
        "timeout_rate": 0.0,
        "timeout_seconds": 30.0,
        "throttle_rate": 0.0,
        "retry_after_seconds": 1.0,
        "outages": [{"start": NOW, "end": NOW + 5}],
        "seed": None,
    }
    assert Faults().changed_by_json(faults.to_json()) == faults
    for bad in ([], {"outages": [{"start": NOW}]}, {"outages": "soon"}):
        with pytest.raises(ConfigError):
            Faults().changed_by_json(bad)


def test_describe_names_what_differs_from_the_defaults() -> None:
    assert Faults().describe() == "none"
    described = Faults(error_rate=0.1, seed=3, outages=(Outage(0, 60),)).describe()
    assert described == "error_rate 0.1, seed 3, outage 00:00:00 UTC to 00:01:00 UTC"


def test_the_injector_reseeds_only_when_asked() -> None:
    injector = FaultInjector(Faults(error_rate=0.5, seed=4), clock=lambda: NOW)
    first = [injector.verdict().status for _ in range(20)]
    injector.set(injector.faults.changed(seed=4), reseed=True)
    assert [injector.verdict().status for _ in range(20)] == first
    injector.set(injector.faults.changed(latency_ms=1))  # the sequence goes on
    assert injector.faults.latency_ms == 1 and injector.faults.seed == 4
