"""The exchange's SQL: its two tables in the hub's database."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from hub.db import metadata

__all__ = ["clients", "ledger", "utc"]

clients = sa.Table(
    "exchange_clients",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False, comment="The secret itself is never stored."),
    sa.Column("scopes", sa.Text, nullable=False, comment="Space-separated."),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

ledger = sa.Table(
    "exchange_ledger",
    metadata,
    sa.Column("record_id", sa.String, primary_key=True),
    sa.Column("agency", sa.String, nullable=False),
    sa.Column("department", sa.String, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, comment="UTC."),
    sa.Column("received_on", sa.Date, nullable=False, comment="The day in Vietnam (UTC+7)."),
    sa.Column("digest", sa.String(64), nullable=False, comment="SHA-256 of the canonical JSON."),
    sa.Column("transaction_id", sa.String(32), nullable=False),
)


def utc(moment: datetime) -> datetime:
    """A timestamp read back: SQLite gives naive datetimes, written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
