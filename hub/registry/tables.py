"""SQL tables of the population registry."""

from __future__ import annotations

import sqlalchemy as sa

from hub.db import metadata

__all__ = ["changes", "citizens"]

citizens = sa.Table(
    "registry_citizens",
    metadata,
    sa.Column("citizen_id", sa.String(12), primary_key=True),
    sa.Column("legacy_id", sa.String(9), nullable=True, unique=True),
    sa.Column("full_name", sa.String(200), nullable=False),
    sa.Column("date_of_birth", sa.Date, nullable=False),
    sa.Column("gender", sa.String(1), nullable=False),
    sa.Column("district_code", sa.String(3), nullable=True),
    sa.Column("commune_code", sa.String(5), nullable=True),
    sa.Column("deceased_on", sa.Date, nullable=True),
)

# One row per change: BIRTH, DEATH, CORRECTION (one citizen) or LOAD (a bulk load; citizen_id is ''
# since databases created before LOAD existed have the column NOT NULL). Readers poll it by id
# (``RegistryStore.changes_since``); the (kind, id) index finds a LOAD after an id in one seek.
changes = sa.Table(
    "registry_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("citizen_id", sa.String(12), nullable=False, index=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("detail", sa.Text, nullable=True),
    sa.Index("ix_registry_changes_kind_id", "kind", "id"),
)
