"""SQL tables of the schema store (the same model as Confluent Schema Registry).

Soft deletes and compatibility levels live in tables of their own, so databases created before
they existed gain them through ``create_all`` without altering a table.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.db import metadata

schemas = sa.Table(
    "schema_store_schemas",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
    sa.Column("schema_text", sa.Text, nullable=False),
)

subject_versions = sa.Table(
    "schema_store_subject_versions",
    metadata,
    sa.Column("subject", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("schema_id", sa.Integer, sa.ForeignKey("schema_store_schemas.id"), nullable=False),
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
)

deleted_versions = sa.Table(
    "schema_store_deleted_versions",
    metadata,
    sa.Column("subject", sa.String(255), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    comment="Soft-deleted subject versions: not listed nor checked against, their ids still resolve.",
)

compatibility_levels = sa.Table(
    "schema_store_compatibility",
    metadata,
    sa.Column("subject", sa.String(255), primary_key=True, comment="'' is the global level."),
    sa.Column("level", sa.String(32), nullable=False),
)
