"""Opaque bearer tokens, kept in the server's memory with their expiry (lost when it stops)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from hub.errors import ConfigError

__all__ = ["Grant", "TokenStore"]

_PURGE_AT = 1024  # tokens held before expired ones are swept out


@dataclass(frozen=True)
class Grant:
    """What a token stands for: a client and the scopes it was given, until ``expires_at``."""

    client_id: str
    scopes: frozenset[str]
    expires_at: float


class TokenStore:
    """Issues tokens that live ``ttl`` seconds by ``clock`` (``time.monotonic`` unless a test's)."""

    def __init__(self, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0:
            raise ConfigError(f"a token's time to live must be positive, not {ttl}")
        self.ttl = ttl
        self._clock = clock
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def issue(self, client_id: str, scopes: frozenset[str]) -> str:
        """A new token for ``client_id`` holding ``scopes``."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            if len(self._grants) >= _PURGE_AT:
                self._grants = {t: g for t, g in self._grants.items() if g.expires_at > now}
            self._grants[token] = Grant(client_id, scopes, now + self.ttl)
        return token

    def grant(self, token: str) -> Grant | None:
        """What ``token`` stands for, or None if it is unknown or has expired."""
        with self._lock:
            found = self._grants.get(token)
            if found is not None and found.expires_at <= self._clock():
                del self._grants[token]
                return None
        return found

    def __len__(self) -> int:
        return len(self._grants)
