"""Run the mock national exchange with uvicorn in a background thread."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from hub.exchange.app import create_app
from hub.exchange.clients import ClientStore
from hub.exchange.faults import FaultInjector, Faults
from hub.exchange.ledger import ExchangeLedger
from hub.exchange.stats import ExchangeStats
from hub.exchange.tokens import TokenStore
from hub.net import BackgroundServer

__all__ = ["ExchangeServer"]


class ExchangeServer(BackgroundServer):
    """The exchange over ``engine``'s ledger and clients on ``host:port`` (0 picks a free port).

    Tokens live in memory for ``token_ttl`` seconds; ``faults`` are applied to submissions and
    can be changed while it runs with :meth:`set_faults`.
    """

    def __init__(
        self,
        engine: Engine,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        token_ttl: float = 300.0,
    ) -> None:
        self.ledger = ExchangeLedger(engine)
        self.clients = ClientStore(engine)
        self.tokens = TokenStore(token_ttl)
        self.stats = ExchangeStats()
        self._injector = FaultInjector(faults)
        app = create_app(self.ledger, self.clients, self.tokens, self._injector, self.stats)
        super().__init__(app, "mock national exchange", host, port)

    @property
    def faults(self) -> Faults:
        """The faults applied now."""
        return self._injector.faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change some fault settings (e.g. ``error_rate=0.2``) while running; the whole set back."""
        return self._injector.set(self.faults.changed(**changes), reseed="seed" in changes)
