"""The exchange's OAuth2 clients in SQL: each a client id, the SHA-256 of its secret, and its scopes.

A secret is generated here, returned once, and stored only as its digest; it is never logged,
never put in an error message, and never read back.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hub.db import connection, create_tables
from hub.errors import InputError
from hub.exchange.sql import clients, utc

__all__ = [
    "ADMIN",
    "LEDGER_READ",
    "SUBMIT_PREFIX",
    "ClientStore",
    "ExchangeClient",
    "agency_scope",
    "check_scope",
]

LEDGER_READ = "ledger.read"
ADMIN = "exchange.admin"
SUBMIT_PREFIX = "dossiers.submit:"

_CLIENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SCOPE = re.compile(rf"{re.escape(SUBMIT_PREFIX)}[A-Za-z0-9_.-]{{1,64}}|{LEDGER_READ}|{ADMIN}")
_SECRET = re.compile(r"[A-Za-z0-9_.~-]{16,256}")  # unchanged by URL encoding, as RFC 6749 §2.3.1 encodes it
_NOBODY = hashlib.sha256(b"no such client").hexdigest()  # compared against, so unknown ids take as long


def agency_scope(agency: str) -> str:
    """The scope that lets a client submit ``agency``'s dossiers."""
    return SUBMIT_PREFIX + agency


def check_scope(scope: str) -> str:
    """``scope`` if the exchange knows its form; :class:`InputError` otherwise."""
    if not _SCOPE.fullmatch(scope):
        raise InputError(f"unknown scope {scope!r}: use {SUBMIT_PREFIX}<AGENCY>, {LEDGER_READ} or {ADMIN}")
    return scope


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ExchangeClient:
    """A client as listed: never its secret."""

    client_id: str
    scopes: frozenset[str]
    created_at: datetime


class ClientStore:
    """The clients that may ask the exchange for tokens, in table ``exchange_clients``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine, clients)

    def add(self, client_id: str, scopes: Iterable[str]) -> str:
        """Create a client and return its new secret: the only time anyone sees it."""
        secret = secrets.token_urlsafe(32)
        row = _row(client_id, secret, scopes)
        with connection(self.engine, f"add exchange client {client_id!r}", write=True) as conn:
            if conn.scalar(sa.select(clients.c.client_id).where(clients.c.client_id == client_id)):
                raise InputError(f"exchange client {client_id!r} exists already; remove it first")
            conn.execute(clients.insert().values(row))
        return secret

    def set(self, client_id: str, secret: str, scopes: Iterable[str]) -> None:
        """Create or replace a client with a secret chosen by the caller (16+ URL-safe characters)."""
        row = _row(client_id, secret, scopes)
        with connection(self.engine, f"set exchange client {client_id!r}", write=True) as conn:
            changed = conn.execute(
                clients.update().where(clients.c.client_id == client_id).values(row)
            ).rowcount
            if not changed:
                conn.execute(clients.insert().values(row))

    def verify(self, client_id: str, secret: str) -> frozenset[str] | None:
        """The client's scopes if ``secret`` is its secret, else None (compared in constant time)."""
        with connection(self.engine, "look up an exchange client") as conn:
            found = conn.execute(
                sa.select(clients.c.secret_sha256, clients.c.scopes).where(clients.c.client_id == client_id)
            ).first()
        expected = found.secret_sha256 if found else _NOBODY
        matches = hmac.compare_digest(_digest(secret), expected)
        return frozenset(found.scopes.split()) if found and matches else None

    def list(self) -> builtins.list[ExchangeClient]:
        """Every client, by id, without secrets."""
        with connection(self.engine, "list exchange clients") as conn:
            rows = conn.execute(
                sa.select(clients.c.client_id, clients.c.scopes, clients.c.created_at).order_by(
                    clients.c.client_id
                )
            ).all()
        return [
            ExchangeClient(row.client_id, frozenset(row.scopes.split()), utc(row.created_at)) for row in rows
        ]

    def remove(self, client_id: str) -> None:
        """Delete a client; its tokens already issued stay valid until they expire."""
        with connection(self.engine, f"remove exchange client {client_id!r}", write=True) as conn:
            removed = conn.execute(clients.delete().where(clients.c.client_id == client_id)).rowcount
        if not removed:
            raise InputError(f"no exchange client {client_id!r}")


def _row(client_id: str, secret: str, scopes: Iterable[str]) -> dict[str, object]:
    if not _CLIENT_ID.fullmatch(client_id):
        raise InputError(f"a client id has 1 to 64 letters, digits, '.', '_' or '-', not {client_id!r}")
    if not _SECRET.fullmatch(secret):
        raise InputError("a client secret has 16 to 256 letters, digits, '.', '_', '~' or '-'")
    chosen = sorted({check_scope(scope) for scope in scopes})
    return {
        "client_id": client_id,
        "secret_sha256": _digest(secret),
        "scopes": " ".join(chosen),
        "created_at": datetime.now(UTC),
    }
