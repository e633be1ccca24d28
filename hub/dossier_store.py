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

from hub.db import metadata
from hub.errors import DatabaseError
from hub.indicators import ALL_DEPARTMENTS, DossierFacts, Ratio

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

    def reuse_rate_totals(self) -> dict[str, Ratio]:
        """Reuse rate per department and for ``all``, over every day recorded."""
        query = (
            sa.select(
                dossiers.c.department,
                sa.func.sum(sa.case((dossiers.c.reuses_digitized, 1), else_=0)),
                sa.func.count(),
            )
            .where(dossiers.c.received_on.is_not(None))
            .group_by(dossiers.c.department)
        )
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read dossiers: {exc}") from exc
        totals = {dept: Ratio(int(reused), int(total)) for dept, reused, total in rows}
        totals[ALL_DEPARTMENTS] = Ratio(
            sum(r.numerator for r in totals.values()), sum(r.denominator for r in totals.values())
        )
        return totals

    def reuse_rate(self, days: Iterable[date]) -> dict[tuple[str, date], Ratio]:
        """Reuse rate per (department, day) and for all departments, for the given days."""
        wanted = sorted(set(days))
        if not wanted:
            return {}
        query = (
            sa.select(
                dossiers.c.department,
                dossiers.c.received_on,
                sa.func.sum(sa.case((dossiers.c.reuses_digitized, 1), else_=0)),
                sa.func.count(),
            )
            .where(dossiers.c.received_on.in_(wanted))
            .group_by(dossiers.c.department, dossiers.c.received_on)
        )
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read dossiers: {exc}") from exc
        result: dict[tuple[str, date], Ratio] = {}
        for department, day, reused, total in rows:
            result[(department, day)] = Ratio(int(reused), int(total))
            whole = result.get((ALL_DEPARTMENTS, day), Ratio(0, 0))
            result[(ALL_DEPARTMENTS, day)] = Ratio(
                whole.numerator + int(reused), whole.denominator + int(total)
            )
        return result
