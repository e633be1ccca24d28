"""Bulk loading of registry rows through each database's fast path, inside the caller's transaction.

SQLite: ``executemany`` in chunks on the DBAPI cursor, a large page cache for the load. PostgreSQL:
``COPY ... FROM STDIN``; a full replace drops the table's unique constraints and rebuilds them after
the copy (an index built once by sorting is several times faster than one grown row by row).
A merge fills a staging table, indexes it (which finds duplicates), then runs ``INSERT ... ON
CONFLICT (citizen_id) DO UPDATE``, skipping rows the file leaves as they are.

A number that appears twice, or a legacy number another citizen holds, is an :class:`InputError`
naming it; the caller's transaction then rolls back and the registry is unchanged.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from hub.errors import InputError
from hub.registry.model import RegistryCitizen

if TYPE_CHECKING:
    import psycopg

__all__ = ["Progress", "load_postgresql", "load_sqlite"]

Progress = Callable[[int], None]

_TABLE = "registry_citizens"
_STAGING = "registry_staging"
_COLUMNS = ", ".join(RegistryCitizen._fields)
_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in RegistryCitizen._fields[1:])
# Rows the file leaves as they are are not rewritten (no new row version, no index update).
_OURS = ", ".join(f"{_TABLE}.{c}" for c in RegistryCitizen._fields[1:])
_THEIRS = ", ".join(f"excluded.{c}" for c in RegistryCitizen._fields[1:])
_SQLITE_UPSERT = f"ON CONFLICT (citizen_id) DO UPDATE SET {_UPDATE} WHERE ({_OURS}) IS NOT ({_THEIRS})"
_PG_UPSERT = f"ON CONFLICT (citizen_id) DO UPDATE SET {_UPDATE} WHERE ({_OURS}) IS DISTINCT FROM ({_THEIRS})"
_CHUNK = 50_000
_SQLITE_CACHE_KIB = 256 * 1024  # page cache for the load: the indexes' pages stay in memory
_KEY = re.compile(r"Key \((?P<column>[^)]*)\)=\((?P<value>[^)]*)\)")


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _twice(column: str, value: str) -> InputError:
    return InputError(f"{column} {value} appears more than once in the registry file")


def _held(value: str) -> InputError:
    return InputError(f"legacy_id {value} in the registry file is held by another citizen in the registry")


# --- SQLite -------------------------------------------------------------------------------------


def _sqlite_row(c: RegistryCitizen) -> tuple[str | None, ...]:
    """A row as SQLAlchemy's SQLite dialect stores it (dates as ISO text)."""
    died = c.deceased_on
    return (
        c.citizen_id,
        c.legacy_id,
        c.full_name,
        c.date_of_birth.isoformat(),
        c.gender,
        c.district_code,
        c.commune_code,
        None if died is None else died.isoformat(),
    )


def load_sqlite(
    conn: sqlite3.Connection, rows: Iterable[RegistryCitizen], replace: bool, progress: Progress | None
) -> int:
    """Write ``rows`` (all of the registry if ``replace``, else merged); returns how many."""
    cur = conn.cursor()
    if not conn.in_transaction:
        cur.execute("BEGIN IMMEDIATE")
    cache = cur.execute("PRAGMA cache_size").fetchone()[0]
    cur.execute(f"PRAGMA cache_size = -{_SQLITE_CACHE_KIB}")
    try:
        if replace:
            cur.execute(f"DELETE FROM {_TABLE}")
            return _sqlite_insert(cur, _TABLE, rows, progress)
        cur.execute(
            f"CREATE TEMP TABLE {_STAGING} (citizen_id TEXT, legacy_id TEXT, full_name TEXT,"
            " date_of_birth TEXT, gender TEXT, district_code TEXT, commune_code TEXT, deceased_on TEXT)"
        )
        written = _sqlite_insert(cur, f"temp.{_STAGING}", rows, progress)
        _sqlite_unique_staging(cur)
        _sqlite_merge(cur)
        cur.execute(f"DROP TABLE temp.{_STAGING}")
        return written
    finally:
        cur.execute(f"PRAGMA cache_size = {int(cache)}")


def _sqlite_insert(
    cur: sqlite3.Cursor, table: str, rows: Iterable[RegistryCitizen], progress: Progress | None
) -> int:
    sql = f"INSERT INTO {table} ({_COLUMNS}) VALUES ({', '.join('?' * len(RegistryCitizen._fields))})"
    written = 0
    for chunk in _chunks(map(_sqlite_row, rows), _CHUNK):
        cur.execute("SAVEPOINT registry_chunk")
        try:
            cur.executemany(sql, chunk)
        except sqlite3.IntegrityError as exc:
            cur.execute("ROLLBACK TO registry_chunk")
            raise _sqlite_culprit(cur, sql, chunk, exc) from exc
        cur.execute("RELEASE registry_chunk")
        written += len(chunk)
        if progress:
            progress(len(chunk))
    return written


def _sqlite_culprit(
    cur: sqlite3.Cursor, sql: str, chunk: list[tuple[str | None, ...]], error: sqlite3.IntegrityError
) -> InputError:
    """SQLite does not name the value; replay the failed chunk row by row to find it."""
    for row in chunk:
        try:
            cur.execute(sql, row)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" not in str(exc):
                return InputError(f"registry row for citizen {row[0]} rejected: {exc}")
            column = "legacy_id" if "legacy_id" in str(exc) else "citizen_id"
            return _twice(column, str(row[1] if column == "legacy_id" else row[0]))
    return InputError(f"registry file rejected: {error}")


def _sqlite_unique_staging(cur: sqlite3.Cursor) -> None:
    """Index the staged rows once they are all in (faster than row by row); name a duplicate."""
    for column in ("citizen_id", "legacy_id"):
        try:
            cur.execute(f"CREATE UNIQUE INDEX temp.{_STAGING}_{column} ON {_STAGING} ({column})")
        except sqlite3.IntegrityError as exc:
            twice = cur.execute(
                f"SELECT {column} FROM temp.{_STAGING} WHERE {column} IS NOT NULL"
                f" GROUP BY {column} HAVING count(*) > 1 LIMIT 1"
            ).fetchone()
            raise (
                _twice(column, twice[0]) if twice else InputError(f"registry file rejected: {exc}")
            ) from exc


def _sqlite_merge(cur: sqlite3.Cursor) -> None:
    # Free the legacy numbers of merged citizens whose number changes first, so that a number
    # moving from one citizen to another does not depend on the order of the rows.
    cur.execute(
        f"UPDATE {_TABLE} SET legacy_id = NULL WHERE legacy_id IS NOT NULL AND EXISTS ("
        f" SELECT 1 FROM temp.{_STAGING} s WHERE s.citizen_id = {_TABLE}.citizen_id"
        f" AND s.legacy_id IS NOT {_TABLE}.legacy_id)"
    )
    try:
        cur.execute(
            f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM temp.{_STAGING}"
            f" WHERE true ORDER BY citizen_id {_SQLITE_UPSERT}"
        )
    except sqlite3.IntegrityError as exc:
        held = cur.execute(
            f"SELECT s.legacy_id FROM temp.{_STAGING} s JOIN {_TABLE} r ON r.legacy_id = s.legacy_id"
            " WHERE r.citizen_id <> s.citizen_id LIMIT 1"
        ).fetchone()
        raise (_held(held[0]) if held else InputError(f"registry file rejected: {exc}")) from exc


# --- PostgreSQL ---------------------------------------------------------------------------------


def load_postgresql(
    conn: psycopg.Connection[Any], rows: Iterable[RegistryCitizen], replace: bool, progress: Progress | None
) -> int:
    """Write ``rows`` with COPY (all of the registry if ``replace``, else merged); returns how many."""
    import psycopg

    with conn.cursor() as cur:
        try:
            if replace:
                return _pg_replace(cur, rows, progress)
            return _pg_merge(cur, rows, progress)
        except psycopg.errors.UniqueViolation as exc:
            raise _pg_duplicate(exc) from exc
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
            raise InputError(f"registry file rejected: {_pg_message(exc)}") from exc


def _pg_replace(cur: psycopg.Cursor[Any], rows: Iterable[RegistryCitizen], progress: Progress | None) -> int:
    from psycopg import sql

    cur.execute(f"TRUNCATE {_TABLE}")
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        f" WHERE conrelid = '{_TABLE}'::regclass AND contype IN ('p', 'u') ORDER BY contype"
    )
    unique = cur.fetchall()
    table = sql.Identifier(_TABLE)
    for name, _ in unique:
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table, sql.Identifier(name)))
    written = _pg_copy(cur, _TABLE, rows, progress)
    cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for name, definition in unique:  # the primary key first: a duplicate number is reported first
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(table, sql.Identifier(name))
            + sql.SQL(definition)  # as pg_get_constraintdef wrote it
        )
    return written


def _pg_merge(cur: psycopg.Cursor[Any], rows: Iterable[RegistryCitizen], progress: Progress | None) -> int:
    cur.execute(f"CREATE TEMP TABLE {_STAGING} (LIKE {_TABLE}) ON COMMIT DROP")
    written = _pg_copy(cur, _STAGING, rows, progress)
    cur.execute(f"ALTER TABLE {_STAGING} ADD PRIMARY KEY (citizen_id), ADD UNIQUE (legacy_id)")
    cur.execute(
        f"UPDATE {_TABLE} r SET legacy_id = NULL FROM {_STAGING} s WHERE s.citizen_id = r.citizen_id"
        " AND r.legacy_id IS NOT NULL AND r.legacy_id IS DISTINCT FROM s.legacy_id"
    )
    cur.execute(f"INSERT INTO {_TABLE} ({_COLUMNS}) SELECT {_COLUMNS} FROM {_STAGING} {_PG_UPSERT}")
    return written


def _pg_copy(
    cur: psycopg.Cursor[Any], table: str, rows: Iterable[RegistryCitizen], progress: Progress | None
) -> int:
    written = 0
    with cur.copy(f"COPY {table} ({_COLUMNS}) FROM STDIN") as copy:
        for chunk in _chunks(rows, _CHUNK):
            for row in chunk:
                copy.write_row(row)
            written += len(chunk)
            if progress:
                progress(len(chunk))
    return written


def _pg_message(exc: psycopg.Error) -> str:
    lines = [exc.diag.message_primary or str(exc), exc.diag.message_detail, exc.diag.context]
    return "; ".join(line.strip() for line in lines if line)


def _pg_duplicate(exc: psycopg.errors.UniqueViolation) -> InputError:
    """PostgreSQL names the value: ``Key (citizen_id)=(…) is duplicated.`` while building an index
    over the copied rows, ``Key (legacy_id)=(…) already exists.`` when merging into the registry."""
    detail = exc.diag.message_detail or ""
    found = _KEY.search(detail)
    if found is None:
        return InputError(f"registry file rejected: {_pg_message(exc)}")
    if "duplicated" in detail:
        return _twice(found["column"], found["value"])
    return _held(found["value"])
