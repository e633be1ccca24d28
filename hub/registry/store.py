"""Read and write the registry's SQL tables: bulk loads, single changes, and a change feed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hub.db import create_tables
from hub.errors import DatabaseError, InputError
from hub.registry.bulk import load_postgresql, load_sqlite
from hub.registry.changes import (
    ChangeKind,
    RegistryChange,
    RegistryChanges,
    change_detail,
    changed_row,
    load_detail,
)
from hub.registry.model import RegistryCitizen
from hub.registry.snapshot import RegistrySnapshot
from hub.registry.tables import changes, citizens

__all__ = ["LastChange", "RegistryStats", "RegistryStore"]

_COLUMNS = [citizens.c[name] for name in RegistryCitizen._fields]
_SELECT_ALL = f"SELECT {', '.join(RegistryCitizen._fields)} FROM {citizens.name}"
_FETCH = 50_000


@dataclass(frozen=True)
class LastChange:
    """The newest row of ``registry_changes``."""

    change_id: int
    kind: str
    citizen_id: str | None  # None for a LOAD
    changed_at: datetime  # UTC
    detail: dict[str, Any]


@dataclass(frozen=True)
class RegistryStats:
    """A summary of the registry."""

    citizens: int
    with_legacy_id: int
    deceased: int
    by_district: tuple[tuple[str | None, int], ...] = field(default=())  # (district code, citizens)
    last_change: LastChange | None = None


class RegistryStore:
    """The population registry in SQL (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        create_tables(engine, citizens, changes)

    def load(
        self,
        rows: Iterable[RegistryCitizen],
        *,
        replace: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Bulk-load ``rows`` in one transaction; returns how many were written.

        ``replace`` (a registry file is a full snapshot) makes the registry exactly ``rows``;
        otherwise they are merged (inserted or updated by number). Writes one LOAD change.
        ``progress`` is called with the rows written since its last call. A number or legacy
        number twice in ``rows`` is an :class:`InputError` naming it, and nothing is changed.
        On PostgreSQL a replace locks the registry table until it commits.
        """
        if self._dialect not in ("sqlite", "postgresql"):
            raise DatabaseError(f"bulk loading supports SQLite and PostgreSQL, not {self._dialect}")
        loader = load_sqlite if self._dialect == "sqlite" else load_postgresql
        try:
            with self.engine.begin() as conn:
                written = loader(_driver(conn), rows, replace, progress)
                self._record(conn, None, ChangeKind.LOAD, load_detail(written, replace))
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot load the population registry: {exc}") from exc
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise DatabaseError(f"cannot load the population registry: {exc}") from exc
        return written

    def upsert(self, rows: Iterable[RegistryCitizen], chunk_size: int = 5000) -> int:
        """Insert citizens, replacing those already present; returns how many were written.

        The same as ``load(rows, replace=False)``; ``chunk_size`` is no longer used.
        """
        return self.load(rows, replace=False)

    def apply(self, change: RegistryChange) -> int:
        """Write one birth, death or correction and its change row together; returns the change id.

        :class:`InputError` when the change does not fit the registry (see
        :func:`~hub.registry.changes.changed_row`) or takes a legacy number another citizen holds.
        """
        number = change.citizen.citizen_id
        try:
            with self.engine.begin() as conn:
                self._begin_write(conn)
                current = self._citizen(conn, number, for_update=True)
                row = changed_row(change, current, datetime.now(UTC).date())
                if current is None:
                    conn.execute(citizens.insert().values(row._asdict()))
                else:
                    conn.execute(
                        citizens.update().where(citizens.c.citizen_id == number).values(row._asdict())
                    )
                return self._record(conn, number, change.kind, change_detail(row, change.note))
        except IntegrityError as exc:
            if "legacy_id" in str(exc.orig):
                raise InputError(
                    f"legacy_id {change.citizen.legacy_id} is held by another citizen in the registry"
                ) from exc
            raise InputError(f"citizen {number} is already in the registry") from exc
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot change the population registry: {exc}") from exc

    def citizen(self, citizen_id: str) -> RegistryCitizen | None:
        """The registry's row for ``citizen_id``, or None."""
        try:
            with self.engine.connect() as conn:
                return self._citizen(conn, citizen_id)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the population registry: {exc}") from exc

    def last_change_id(self) -> int:
        """The id of the newest change (0 if none)."""
        try:
            with self.engine.connect() as conn:
                return self._last_change_id(conn)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the registry's changes: {exc}") from exc

    def changes_since(self, change_id: int, limit: int = 10_000) -> RegistryChanges:
        """The citizens changed after ``change_id`` (at most ``limit`` changes), as their current rows.

        Returns ``(change_id, citizens, reload)``: the newest change seen (pass it next time),
        the current rows, and whether a bulk LOAD happened after ``change_id``, in which case
        ``citizens`` is empty and the caller should take a fresh :meth:`snapshot` instead.
        """
        try:
            with self.engine.connect() as conn:
                return self._changes_since(conn, change_id, limit)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the registry's changes: {exc}") from exc

    def _changes_since(self, conn: Connection, change_id: int, limit: int) -> RegistryChanges:
        after = changes.c.id > change_id
        loads = sa.select(sa.func.max(changes.c.id)).where(changes.c.kind == ChangeKind.LOAD, after)
        if conn.scalar(loads) is not None:
            return RegistryChanges(self._last_change_id(conn), [], reload=True)
        window = conn.execute(
            sa.select(changes.c.id, changes.c.kind).where(after).order_by(changes.c.id).limit(limit)
        ).all()
        if not window:
            return RegistryChanges(change_id, [])
        newest = int(window[-1].id)
        if any(kind == ChangeKind.LOAD for _, kind in window):  # committed since the first query
            return RegistryChanges(newest, [], reload=True)
        changed = sa.select(changes.c.citizen_id).where(after, changes.c.id <= newest)
        rows = conn.execute(sa.select(*_COLUMNS).where(citizens.c.citizen_id.in_(changed)))
        return RegistryChanges(newest, [RegistryCitizen(*row) for row in rows])

    def snapshot(self) -> RegistrySnapshot:
        """Every citizen, indexed in memory for reconciliation, with the last change it includes."""
        try:
            with self.engine.connect() as conn:
                change_id = self._last_change_id(conn)  # first: a change made meanwhile is seen again
                driver = _driver(conn)
                # PostgreSQL: a server-side cursor, so the client never holds every row at once.
                named = {"name": "registry_snapshot"} if self._dialect == "postgresql" else {}
                with closing(driver.cursor(**named)) as cursor:
                    cursor.execute(_SELECT_ALL)
                    return RegistrySnapshot.from_rows(_fetched(cursor), change_id)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the population registry: {exc}") from exc
        except self.engine.dialect.loaded_dbapi.Error as exc:
            raise DatabaseError(f"cannot read the population registry: {exc}") from exc

    def stats(self) -> RegistryStats:
        """How many citizens, with a legacy number, deceased; by district; the last change."""
        totals = sa.select(
            sa.func.count(), sa.func.count(citizens.c.legacy_id), sa.func.count(citizens.c.deceased_on)
        )
        districts = (
            sa.select(citizens.c.district_code, sa.func.count())
            .group_by(citizens.c.district_code)
            .order_by(citizens.c.district_code)
        )
        last = sa.select(changes).order_by(changes.c.id.desc()).limit(1)
        try:
            with self.engine.connect() as conn:
                total, legacy, deceased = conn.execute(totals).one()
                by_district = tuple((code, int(n)) for code, n in conn.execute(districts))
                newest = conn.execute(last).first()
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read the population registry: {exc}") from exc
        last_change = None
        if newest is not None:
            at = newest.changed_at  # SQLite hands back the UTC time without its zone
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
            detail = json.loads(newest.detail) if newest.detail else {}
            last_change = LastChange(newest.id, newest.kind, newest.citizen_id or None, at, detail)
        return RegistryStats(int(total), int(legacy), int(deceased), by_district, last_change)

    def _begin_write(self, conn: Connection) -> None:
        """SQLite: take the write lock now, so that the row read is the row overwritten."""
        if self._dialect == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    def _citizen(self, conn: Connection, citizen_id: str, for_update: bool = False) -> RegistryCitizen | None:
        query = sa.select(*_COLUMNS).where(citizens.c.citizen_id == citizen_id)
        row = conn.execute(query.with_for_update() if for_update else query).first()
        return None if row is None else RegistryCitizen(*row)

    def _last_change_id(self, conn: Connection) -> int:
        return int(conn.scalar(sa.select(sa.func.max(changes.c.id))) or 0)

    def _record(self, conn: Connection, citizen_id: str | None, kind: ChangeKind, detail: str) -> int:
        """Insert a change row (``citizen_id`` None: a LOAD, stored as ''); returns its id.

        On PostgreSQL writers of changes take turns (the lock lasts until commit), so change
        ids become visible in order and a reader polling by id never skips one.
        """
        if self._dialect == "postgresql":
            conn.exec_driver_sql("LOCK TABLE registry_changes IN SHARE ROW EXCLUSIVE MODE")
        insert = changes.insert().values(
            citizen_id=citizen_id or "", kind=str(kind), changed_at=datetime.now(UTC), detail=detail
        )
        return int(conn.execute(insert.returning(changes.c.id)).scalar_one())


def _driver(conn: Connection) -> Any:
    """The driver's own connection (sqlite3 or psycopg) under ``conn``, for its bulk paths."""
    driver = conn.connection.driver_connection
    if driver is None:
        raise DatabaseError("the database connection is closed")
    return driver


def _fetched(cursor: Any) -> Iterator[Any]:
    while batch := cursor.fetchmany(_FETCH):
        yield from batch
