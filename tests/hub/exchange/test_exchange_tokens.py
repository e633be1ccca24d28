"""Unit tests for hub.exchange.tokens, on a clock the test moves."""

from __future__ import annotations

import pytest

from hub.errors import ConfigError
from hub.exchange.tokens import TokenStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_stands_for_its_client_and_scopes_until_it_expires() -> None:
    clock = Clock()
    tokens = TokenStore(ttl=300, clock=clock)
    token = tokens.issue("STNMT", frozenset({"dossiers.submit:STNMT"}))
    grant = tokens.grant(token)
    assert grant is not None and grant.client_id == "STNMT"
    assert grant.scopes == {"dossiers.submit:STNMT"} and grant.expires_at == 1300.0
    clock.now = 1299.9
    assert tokens.grant(token) == grant
    clock.now = 1300.0
    assert tokens.grant(token) is None
    assert len(tokens) == 0  # forgotten once seen expired


def test_tokens_are_opaque_distinct_and_unknown_ones_are_refused() -> None:
    tokens = TokenStore(clock=Clock())
    first, second = (tokens.issue("STP", frozenset()) for _ in range(2))
    assert first != second and len(first) >= 40 and "STP" not in first
    assert tokens.grant("not-a-token") is None and tokens.grant("") is None


def test_expired_tokens_are_swept_when_many_are_held() -> None:
    clock = Clock()
    tokens = TokenStore(ttl=10, clock=clock)
    for _ in range(1024):
        tokens.issue("SYT", frozenset())
    clock.now += 11
    fresh = tokens.issue("SYT", frozenset())
    assert len(tokens) == 1 and tokens.grant(fresh) is not None


@pytest.mark.parametrize("ttl", [0, -5])
def test_a_token_must_live_a_while(ttl: float) -> None:
    with pytest.raises(ConfigError, match="time to live"):
        TokenStore(ttl=ttl)
