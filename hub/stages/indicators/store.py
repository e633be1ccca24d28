"""Dossiers the hub has received, one row per record id, for computing indicators.

Writing is idempotent (a record id already present is ignored), so a batch delivered twice
after a restart does not count twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hub.db import create_tables, metadata
from hub.errors import DatabaseError
from hub.stages.indicators.formulas import DossierFacts, Tally

__all__ = ["DossierStore", "dossiers"]

dossiers = sa.Table(
    "dossiers",
    metadata,
    sa.Column("record_id", sa.String(100), primary_key=True),
    sa.Column("department", sa.String(30), nullable=False),
    sa.Column("received_on", sa.Date, nullable=True, index=True),
    sa.Column("reuses_digitized", sa.Boolean, nullable=False),
)


class DossierStore:
    """The ``dossiers`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine, dossiers)

    def _insert_ignoring_duplicates(self) -> sa.Insert:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(dossiers).on_conflict_do_nothing()
        if self.engine.dialect.name == "sqlite":
            return sqlite.insert(dossiers).on_conflict_do_nothing()
        return dossiers.insert().prefix_with("IGNORE")  # MySQL / MariaDB

    def add(self, facts: Iterable[DossierFacts]) -> None:
        """Record dossiers; ones already recorded are left as they are."""
        rows = [
            {
                "record_id": f.record_id,
                "department": f.department,
                "received_on": f.received_on,
                "reuses_digitized": f.reuses_digitized,
            }
            for f in facts
        ]
        if not rows:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(self._insert_ignoring_duplicates(), rows)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot record dossiers: {exc}") from exc

    def tally(self, days: Iterable[date] | None = None) -> Tally:
        """How many dossiers share each set of facts, on ``days`` (every day when None).

        Only counting happens here; :mod:`hub.stages.indicators.formulas` decides what counts.
        """
        query = sa.select(
            dossiers.c.department, dossiers.c.received_on, dossiers.c.reuses_digitized, sa.func.count()
        ).group_by(dossiers.c.department, dossiers.c.received_on, dossiers.c.reuses_digitized)
        if days is not None:
            wanted = sorted(set(days))
            if not wanted:
                return {}
            query = query.where(dossiers.c.received_on.in_(wanted))
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read dossiers: {exc}") from exc
        return {(dept, day, bool(reuses)): int(n) for dept, day, reuses, n in rows}
