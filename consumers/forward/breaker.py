"""A circuit breaker for the national exchange: stop calling a service that keeps failing.

Closed, every call goes through. After ``threshold`` failures in a row it opens: calls fail at
once, without touching the network, for a cool-down. Then one call goes through as a probe
(half-open): a success closes the circuit, a failure opens it again for twice as long, up to
``max_cooldown``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

__all__ = ["CircuitBreaker", "CircuitState"]


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Thread-safe: the forwarder's concurrent requests share one breaker."""

    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 1.0,
        max_cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._cooldown = cooldown
        self._opened_at: float | None = None
        self._probing = False
        self.opened = 0  # how many times it opened

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state()

    def _state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self.clock() - self._opened_at < self._cooldown:
            return CircuitState.OPEN
        return CircuitState.HALF_OPEN

    def retry_in(self) -> float:
        """Seconds until the next probe may go (0 when a call may go now)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self._cooldown - self.clock())

    def allow(self) -> bool:
        """Whether a call may go now; in half-open, only one probe at a time."""
        with self._lock:
            state = self._state()
            if state is CircuitState.CLOSED:
                return True
            if state is CircuitState.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._probing = 0, None, False
            self._cooldown = self.base_cooldown

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing:  # the probe failed: open again, for longer
                self._probing = False
                self._cooldown = min(self._cooldown * 2, self.max_cooldown)
                self._opened_at = self.clock()
                self.opened += 1
            elif self._opened_at is None and self._failures >= self.threshold:
                self._opened_at = self.clock()
                self.opened += 1
