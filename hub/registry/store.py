"""Read and write the registry's SQL tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import DatabaseError
from hub.registry.model import RegistryCitizen
from hub.registry.snapshot import RegistrySnapshot
from hub.registry.tables import citizens

__all__ = ["RegistryStats", "RegistryStore"]


@dataclass(frozen=True)
class RegistryStats:
    """A summary of the registry."""

    citizens: int
    with_legacy_id: int
    deceased: int


def _chunks(rows: Iterable[RegistryCitizen], size: int) -> Iterator[list[RegistryCitizen]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


class RegistryStore:
    """The population registry in SQL (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def upsert(self, rows: Iterable[RegistryCitizen], chunk_size: int = 5000) -> int:
        """Insert citizens, replacing those already present; returns how many were written."""
        written = 0
        try:
            with self.engine.begin() as conn:
                for chunk in _chunks(rows, chunk_size):
                    ids = [row.citizen_id for row in chunk]
                    conn.execute(citizens.delete().where(citizens.c.citizen_id.in_(ids)))
                    conn.execute(citizens.insert(), [row._asdict() for row in chunk])
                    written += len(chunk)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot write the population registry: {exc}") from exc
        return written

    def snapshot(self) -> RegistrySnapshot:
        """Every citizen, indexed in memory for reconciliation."""
        try:
            with self.engine.connect() as conn:
                result = conn.execution_options(yield_per=20000).execute(
                    sa.select(*[citizens.c[name] for name in RegistryCitizen._fields])
                )
                return RegistrySnapshot(RegistryCitizen(*row) for row in result)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the population registry: {exc}") from exc

    def stats(self) -> RegistryStats:
        """How many citizens, with a legacy number, deceased."""
        query = sa.select(
            sa.func.count(),
            sa.func.count(citizens.c.legacy_id),
            sa.func.count(citizens.c.deceased_on),
        )
        try:
            with self.engine.connect() as conn:
                total, legacy, deceased = conn.execute(query).one()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the population registry: {exc}") from exc
        return RegistryStats(int(total), int(legacy), int(deceased))
