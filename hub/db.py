"""The SQL database: one metadata for every table, and an engine whose errors are the hub's.

Each store declares its tables on :data:`metadata` and creates them (when missing) with
:func:`create_tables` when it is constructed; this module knows no store.

A SQLite file is opened in write-ahead-log mode with ``synchronous=NORMAL`` (a commit is durable
against a process crash, and costs no fsync until a checkpoint), and waits up to 30 s for a lock
held by another of the hub's processes rather than failing at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from hub.errors import DatabaseError
from hub.settings import redacted_url

__all__ = ["connect", "connection", "create_tables", "json_rows", "metadata"]

metadata = sa.MetaData()


def connect(url: str) -> Engine:
    """An engine for ``url``, checked by connecting; :class:`DatabaseError` if it cannot be used."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: e.g. a port that is not a number
        raise DatabaseError(f"HUB_DATABASE_URL {redacted_url(url)!r} is not a database URL") from exc
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=True)
        if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
            sa.event.listen(engine, "connect", _sqlite_file_pragmas)
        with engine.connect():
            pass
    except NoSuchModuleError as exc:
        raise DatabaseError(f"no driver for database URL {redacted_url(url)}: {exc}") from exc
    except ModuleNotFoundError as exc:
        raise DatabaseError(f"database driver {exc.name!r} is not installed for {redacted_url(url)}") from exc
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(f"cannot reach database {redacted_url(url)}: {reason}") from exc
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot use database {redacted_url(url)}: {exc}") from exc
    return engine


def _sqlite_file_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def create_tables(engine: Engine, *tables: sa.Table) -> None:
    """Create those of ``tables`` that do not exist yet; :class:`DatabaseError` if it fails."""
    try:
        metadata.create_all(engine, tables=list(tables))
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot create tables in {redacted_url(str(engine.url))}: {exc}") from exc


@contextmanager
def connection(engine: Engine, what: str, *, write: bool = False) -> Iterator[sa.Connection]:
    """A connection (in a transaction if ``write``) whose errors are :class:`DatabaseError` naming ``what``.

    The message has the driver's first line, never the statement's parameters.
    """
    try:
        with engine.begin() if write else engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["unknown error"]
        raise DatabaseError(f"cannot {what}: {reason[0]}") from exc


def json_rows(engine: Engine, name: str) -> tuple[Any, Callable[[int, Any], Any]]:
    """A batch of rows bound as one JSON text (an array of arrays) in parameter ``name``: the
    FROM clause that expands it (``json_each`` on SQLite, ``jsonb_array_elements`` on PostgreSQL)
    and ``cell(i, type)``, a row's ``i``-th item as a column of ``type``.

    One parameter instead of one per value keeps a statement short (drivers parse it once) and
    lets orjson encode the rows.
    """
    text = sa.bindparam(name, type_=sa.String)
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        # jsonb: the batch is parsed once, not once for every ->> of every row
        rows = sa.func.jsonb_array_elements(sa.cast(text, postgresql.JSONB)).table_valued("value")
        return rows, lambda i, type_: sa.cast(rows.c.value.op("->>")(i), type_)
    if engine.dialect.name == "sqlite":
        rows = sa.func.json_each(text).table_valued("value")
        return rows, lambda i, type_: sa.type_coerce(sa.func.json_extract(rows.c.value, f"$[{i}]"), type_)
    raise DatabaseError(f"batches of rows need SQLite or PostgreSQL, not {engine.dialect.name}")
