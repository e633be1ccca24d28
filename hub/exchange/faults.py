"""Fault injection: what the exchange does to a submission instead of storing it.

:class:`Faults` is the set, :func:`decide` the pure decision for one request given a random
source and a clock, :class:`FaultInjector` the current set of a running server.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.errors import ConfigError

__all__ = ["FaultInjector", "Faults", "Outage", "Verdict", "decide"]

_RATES = ("error_rate", "timeout_rate", "throttle_rate")
_DURATIONS = ("latency_ms", "timeout_seconds", "retry_after_seconds")
_SERVER_ERRORS = (500, 502, 503)


@dataclass(frozen=True)
class Outage:
    """A window, in Unix seconds, during which every submission is answered 503."""

    start: float
    end: float

    def __post_init__(self) -> None:
        finite = all(_is_number(t) and math.isfinite(t) for t in (self.start, self.end))
        if not finite or self.end <= self.start:
            raise ConfigError(f"an outage ends after it starts: start {self.start!r}, end {self.end!r}")


@dataclass(frozen=True)
class Faults:
    """How a submission may be failed. Rates are probabilities (0 to 1); nothing fails by default."""

    latency_ms: float = 0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 30.0
    throttle_rate: float = 0.0
    retry_after_seconds: float = 1.0
    outages: tuple[Outage, ...] = field(default=())
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= 1:
                raise ConfigError(f"{name} must be a number from 0 to 1, not {value!r}")
        for name in _DURATIONS:
            value = getattr(self, name)
            if not _is_number(value) or value < 0 or math.isinf(value):
                raise ConfigError(f"{name} must be a number of at least 0, not {value!r}")
        if not all(isinstance(outage, Outage) for outage in self.outages):
            raise ConfigError("outages must be Outage windows")
        object.__setattr__(self, "outages", tuple(self.outages))
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ConfigError(f"seed must be an integer or null, not {self.seed!r}")

    def changed(self, **changes: Any) -> Faults:
        """A copy with ``changes``; :class:`ConfigError` for an unknown name or a bad value."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown fault setting {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def changed_by_json(self, body: Any) -> Faults:
        """A copy with the keys of a ``PUT /admin/faults`` body replaced."""
        if not isinstance(body, Mapping):
            raise ConfigError("the body must be a JSON object of fault settings")
        changes = dict(body)
        if "outages" in changes:
            changes["outages"] = _outages(changes["outages"])
        return self.changed(**changes)

    def describe(self) -> str:
        """The settings that differ from the defaults, for people to read; ``none`` if none do."""
        default = Faults()
        changed = [
            f"{f.name} {getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if f.name != "outages" and getattr(self, f.name) != getattr(default, f.name)
        ]
        changed += [f"outage {_utc(o.start)} to {_utc(o.end)}" for o in self.outages]
        return ", ".join(changed) or "none"

    def to_json(self) -> dict[str, Any]:
        """The set as ``GET /admin/faults`` answers it."""
        shown = dataclasses.asdict(self)
        shown["outages"] = [{"start": o.start, "end": o.end} for o in self.outages]
        return shown


@dataclass(frozen=True)
class Verdict:
    """What to do with one submission: wait ``delay`` seconds, then answer ``status`` or go on."""

    status: int | None = None  # None: store the documents
    error: str | None = None
    retry_after: str | None = None  # the Retry-After header, if any
    delay: float = 0.0


def decide(faults: Faults, chance: random.Random, now: float) -> Verdict:
    """The fault, if any, for one submission at Unix time ``now``, in the contract's order."""
    latency = faults.latency_ms / 1000
    ends = [outage.end for outage in faults.outages if outage.start <= now < outage.end]
    if ends:
        return Verdict(503, "unavailable", str(max(1, math.ceil(max(ends) - now))), latency)
    if _happens(faults.throttle_rate, chance):
        return Verdict(429, "too_many_requests", _header_seconds(faults.retry_after_seconds), latency)
    if _happens(faults.error_rate, chance):
        return Verdict(chance.choice(_SERVER_ERRORS), "server_error", None, latency)
    if _happens(faults.timeout_rate, chance):
        return Verdict(504, "timeout", None, latency + faults.timeout_seconds)
    return Verdict(delay=latency)


class FaultInjector:
    """A running server's faults: read by every submission, changed at any time."""

    def __init__(self, faults: Faults | None = None, clock: Callable[[], float] = time.time) -> None:
        self._faults = faults or Faults()
        self._chance = random.Random(self._faults.seed)
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def faults(self) -> Faults:
        return self._faults

    def set(self, faults: Faults, *, reseed: bool = False) -> Faults:
        """Replace the set; ``reseed`` (the seed was given) restarts the draws from ``faults.seed``."""
        with self._lock:
            self._faults = faults
            if reseed:
                self._chance.seed(faults.seed)
        return faults

    def verdict(self) -> Verdict:
        with self._lock:
            return decide(self._faults, self._chance, self._clock())


def _utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%H:%M:%S UTC")


def _happens(rate: float, chance: random.Random) -> bool:
    return rate > 0 and chance.random() < rate


def _header_seconds(seconds: float) -> str:
    """Seconds for a Retry-After header: an integer when whole, else as given (e.g. 0.5)."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def _outages(value: Any) -> tuple[Outage, ...]:
    if not isinstance(value, list) or not all(
        isinstance(o, Mapping) and set(o) == {"start", "end"} for o in value
    ):
        raise ConfigError('outages must be a list of {"start": <unix seconds>, "end": <unix seconds>}')
    return tuple(Outage(o["start"], o["end"]) for o in value)
