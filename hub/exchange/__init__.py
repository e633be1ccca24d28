"""The mock national exchange (NDXP): OAuth2 client credentials, submissions into a SQL ledger,
its read side, and fault injection. The contract is in each module; the server in ``server``."""

from hub.exchange.faults import Faults, Outage
from hub.exchange.server import ExchangeServer

__all__ = ["ExchangeServer", "Faults", "Outage"]
