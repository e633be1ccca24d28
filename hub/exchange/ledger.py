"""What the exchange has received, in SQL: one row per record id, kept across restarts.

A batch costs one or two statements whatever its size: an insert-or-ignore of all its record
ids, returning those it stored, and, only when some were held already (a resubmission, or a
concurrent request that carried the same ids), one SELECT of those. The primary key decides
such races, so a record id is stored once however many requests carry it at the same time. The
batch travels as one JSON text, not one parameter per value, which the database expands
(:func:`hub.db.json_rows`): the statements stay short, so
drivers parse them once, and the rows are encoded by orjson. SQLite takes one writer at a time:
the ledger's writes wait for each other on a lock in the process rather than in SQLite's busy
handler, which sleeps in steps.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from hub.db import connection, create_tables, json_rows
from hub.errors import DatabaseError, InputError
from hub.exchange.sql import ledger, utc
from hub.exchange.validation import Rejection, digest, problem
from hub.province import VIETNAM

__all__ = ["COUNT_KEYS", "ExchangeLedger", "ack"]

# What GET /api/v1/ledger/counts may group by, and the column behind each.
COUNT_KEYS = {"agency": ledger.c.agency, "day": ledger.c.received_on, "department": ledger.c.department}
_ENTRY = (ledger.c.record_id, ledger.c.digest, ledger.c.transaction_id)
_PER_ROW = ("record_id", "agency", "department", "digest", "transaction_id")  # the rest is the batch's

Row = tuple[str, str, str, str, str]  # as _PER_ROW


def ack(
    record_id: Any,
    status: str,
    transaction_id: str | None = None,
    reason: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """One acknowledgement, as the exchange answers it."""
    return {
        "record_id": record_id if isinstance(record_id, str) else None,
        "status": status,
        "transaction_id": transaction_id,
        "reason": reason,
        "detail": detail,
    }


@dataclass(frozen=True)
class _Statements:
    """The two batch statements; ``:ids`` and ``:rows`` are JSON arrays of arrays."""

    lookup: sa.Select[Any]  # the entries of the record ids in :ids
    insert: sa.Insert  # insert-or-ignore of :rows, returning the record ids it stored


def _statements(engine: Engine) -> _Statements:
    """The ledger's batch statements on ``engine``'s dialect (rows read by :func:`hub.db.json_rows`)."""
    rows, cell = json_rows(engine, "rows")
    values = {name: cell(i, ledger.c[name].type) for i, name in enumerate(_PER_ROW)}
    values["received_at"] = sa.bindparam("received_at", type_=ledger.c.received_at.type)
    values["received_on"] = sa.bindparam("received_on", type_=ledger.c.received_on.type)
    # WHERE true: SQLite reads ON CONFLICT after INSERT … SELECT … FROM only behind a WHERE.
    # ORDER BY record_id: concurrent batches take their overlapping ids' locks in one order, so
    # PostgreSQL cannot deadlock between them.
    select = sa.select(*values.values()).select_from(rows).where(sa.true()).order_by(values["record_id"])
    insert = _INSERTS[engine.dialect.name](ledger).from_select(list(values), select).on_conflict_do_nothing()
    ids, id_cell = json_rows(engine, "ids")
    wanted = sa.select(id_cell(0, ledger.c.record_id.type)).select_from(ids)
    return _Statements(
        lookup=sa.select(*_ENTRY).where(ledger.c.record_id.in_(wanted)),
        insert=insert.returning(ledger.c.record_id),
    )


_INSERTS: dict[str, Any] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class _Candidate(NamedTuple):
    """A document that passed validation, waiting for the ledger's verdict."""

    position: int
    record_id: str
    digest: str


class ExchangeLedger:
    """Records received, in table ``exchange_ledger`` of ``engine`` (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name not in _INSERTS:
            raise DatabaseError(
                f"the exchange's ledger needs SQLite or PostgreSQL, not {engine.dialect.name}"
            )
        self.engine = engine
        create_tables(engine, ledger)
        self._sql = _statements(engine)
        sqlite = engine.dialect.name == "sqlite"
        self._writing: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if sqlite else contextlib.nullcontext()
        )

    def receive(self, documents: Sequence[Any], now: datetime | None = None) -> list[dict[str, Any]]:
        """Validate and store a batch; one acknowledgement per document, in order.

        The caller has checked that the client may submit each document's agency.
        """
        now = now or datetime.now(UTC)
        acks: list[dict[str, Any]] = [{}] * len(documents)
        candidates: list[_Candidate] = []
        for index, document in enumerate(documents):
            found = problem(document, now)
            if found is None:
                candidates.append(_Candidate(index, document["record_id"], digest(document)))
            else:
                record_id = document.get("record_id") if isinstance(document, dict) else None
                acks[index] = ack(record_id, "REJECTED", reason=found[0], detail=found[1])
        if candidates:
            self._store(documents, candidates, acks, now)
        return acks

    def _store(
        self,
        documents: Sequence[Any],
        candidates: list[_Candidate],
        acks: list[dict[str, Any]],
        now: datetime,
    ) -> None:
        """Store the new candidates and acknowledge every one of them in ``acks``."""
        rows, owners = _rows(documents, candidates)
        batch = {"received_at": now, "received_on": now.astimezone(VIETNAM).date()}
        with self._writing, connection(self.engine, f"store {len(candidates)} records", write=True) as conn:
            stored = set(conn.scalars(self._sql.insert, {"rows": orjson.dumps(rows).decode(), **batch}))
            entries = {row[0]: (row[3], row[4]) for row in rows if row[0] in stored}
            held = [row[0] for row in rows if row[0] not in stored]
            if held:  # received before, or by a concurrent request
                entries.update(self._entries(conn, held))
        for candidate in candidates:
            held_digest, transaction_id = entries[candidate.record_id]
            if owners[candidate.record_id] == candidate.position and candidate.record_id in stored:
                acks[candidate.position] = ack(candidate.record_id, "ACCEPTED", transaction_id)
            elif held_digest == candidate.digest:
                acks[candidate.position] = ack(candidate.record_id, "DUPLICATE", transaction_id)
            else:
                detail = f"received before with other content (transaction {transaction_id})"
                acks[candidate.position] = ack(
                    candidate.record_id, "REJECTED", None, Rejection.CONFLICT, detail
                )

    def _entries(self, conn: sa.Connection, record_ids: list[str]) -> dict[str, tuple[str, str]]:
        """Record id → (digest, transaction id) of those of ``record_ids`` held."""
        found = conn.execute(self._sql.lookup, {"ids": orjson.dumps([[r] for r in record_ids]).decode()})
        return {row[0]: (row[1], row[2]) for row in found}

    # Reading

    def count(self) -> int:
        """Records held."""
        with connection(self.engine, "count the ledger") as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(ledger)) or 0)

    def record_ids(self) -> set[str]:
        """Every record id held."""
        with connection(self.engine, "read the ledger's record ids") as conn:
            return set(conn.scalars(sa.select(ledger.c.record_id)))

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The entry for ``record_id`` as ``GET /api/v1/ledger/records/{record_id}`` answers it, or None."""
        columns = [
            ledger.c[name]
            for name in ("record_id", "agency", "department", "received_at", "digest", "transaction_id")
        ]
        with connection(self.engine, "read a record from the ledger") as conn:
            row = conn.execute(sa.select(*columns).where(ledger.c.record_id == record_id)).first()
        if row is None:
            return None
        return {**row._asdict(), "received_at": utc(row.received_at).isoformat()}

    def counts(self, by: Sequence[str] = ("agency", "day")) -> list[dict[str, Any]]:
        """Records held, grouped by any of ``agency``, ``day`` (in Vietnam) and ``department``."""
        unknown = [key for key in by if key not in COUNT_KEYS]
        if unknown or not by:
            raise InputError(
                f"counts are by any of {', '.join(COUNT_KEYS)}, not {', '.join(unknown) or 'nothing'}"
            )
        keys = list(dict.fromkeys(by))
        grouped = [COUNT_KEYS[key] for key in keys]
        query = sa.select(*grouped, sa.func.count()).group_by(*grouped).order_by(*grouped)
        with connection(self.engine, "count the ledger") as conn:
            rows = conn.execute(query).all()
        return [{**dict(zip(keys, map(_plain, row[:-1]), strict=True)), "records": row[-1]} for row in rows]


def _rows(documents: Sequence[Any], candidates: list[_Candidate]) -> tuple[list[Row], dict[str, int]]:
    """A row for each record id among the candidates, and the document owning each: a record id
    twice in one batch is stored once, and its second copy acknowledged against the first."""
    rows: list[Row] = []
    owners: dict[str, int] = {}
    random = os.urandom(16 * len(candidates)).hex()  # one system call for the batch's transaction ids
    for n, candidate in enumerate(candidates):
        if candidate.record_id in owners:
            continue
        owners[candidate.record_id] = candidate.position
        document = documents[candidate.position]
        rows.append(
            (
                candidate.record_id,
                document["agency"],
                document["department"],
                candidate.digest,
                random[32 * n : 32 * n + 32],
            )
        )
    return rows, owners


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
