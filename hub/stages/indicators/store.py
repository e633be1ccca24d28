"""Dossiers the indicators have counted, one row per record id, in SQL; the exact source of
``hub report`` and of the stage's counts after a restart.

Writing is idempotent: a record id already held is ignored, so a batch read twice (a restart,
a replay) never counts twice. An acknowledgement from the national exchange marks its dossier
synced, whether it arrives before or after the dossier (``indicator_syncs`` keeps it until
then). Only counting happens here: :mod:`hub.stages.indicators.formulas` decides what counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from hub.db import connection, create_tables, json_rows, metadata
from hub.errors import DatabaseError
from hub.stages.indicators.formulas import Facts, facts_from_bits
from hub.stages.indicators.records import Dossier, Dossiers

__all__ = ["DIMENSIONS", "DossierStore", "Tallies"]

# What a report may group by, and the column behind each ("province" is every dossier).
DIMENSIONS = ("province", "department", "district", "commune", "procedure")
_SYNCED = 1 << Facts._fields.index("synced")  # the one fact the store, not the record, knows
_ROW = ("record_id", "department", "procedure", "district", "commune", "received_on", "facts")
_CHUNK = 5000  # record ids in one IN (...)

dossiers = sa.Table(
    "indicator_dossiers",
    metadata,
    sa.Column("record_id", sa.String(100), primary_key=True),
    sa.Column("department", sa.String(30), nullable=False),
    sa.Column("procedure", sa.String(40), nullable=False),
    sa.Column("district", sa.String(16), nullable=False),
    sa.Column("commune", sa.String(16), nullable=False),
    sa.Column("received_on", sa.Date, nullable=True, comment="Event time: the day in Vietnam."),
    sa.Column("facts", sa.Integer, nullable=False, comment="The Facts as bits, the first field lowest."),
    sqlite_with_rowid=False,  # one B-tree, by record id, not two
)
# On SQLite an index by day would double what each dossier costs to record, for reports that read
# most of the table anyway; PostgreSQL keeps it (bitmap scans of a month out of years).
sa.Index("ix_indicator_dossiers_received_on", dossiers.c.received_on).ddl_if(dialect="postgresql")
syncs = sa.Table(
    "indicator_syncs",
    metadata,
    sa.Column(
        "record_id", sa.String(100), primary_key=True, comment="Acknowledged by the national exchange."
    ),
)

sequence = sa.Table(
    "indicator_sequence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False, comment="The last seq given to a counts event."),
)

# (day received, dimension value) → how many dossiers share each Facts
Tallies = dict[tuple[date | None, str], Counter[Facts]]


class DossierStore:
    """The ``indicator_dossiers`` and ``indicator_syncs`` tables of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine, dossiers, syncs, sequence)
        self._postgres = engine.dialect.name == "postgresql"
        if self._postgres:
            self._add = self._insert_from_json()
        else:
            self._known = self._known_ids()
            self._insert_rows = (
                f"INSERT INTO {dossiers.name} ({', '.join(_ROW)}) VALUES ({', '.join('?' * len(_ROW))}) "
                "ON CONFLICT DO NOTHING"
            )

    def _insert_from_json(self) -> Any:
        """Insert-or-ignore of a JSON batch (rows of :data:`_ROW`), ``synced`` when the exchange's
        acknowledgement came first; returns the record ids stored and their ``synced``."""
        rows, cell = json_rows(self.engine, "rows")
        values = {name: cell(i, dossiers.c[name].type) for i, name in enumerate(_ROW)}
        acked = sa.exists().where(syncs.c.record_id == values["record_id"])
        values["facts"] = values["facts"] + sa.case((acked, _SYNCED), else_=0)
        # WHERE true: SQLite reads ON CONFLICT after INSERT … SELECT only behind a WHERE.
        select = sa.select(*values.values()).select_from(rows).where(sa.true())
        insert = self._insert(dossiers).from_select(list(values), select)
        return insert.returning(dossiers.c.record_id, dossiers.c.facts)

    def _known_ids(self) -> Any:
        """Of a JSON list of record ids, those held already or acknowledged already, and which."""
        given = sa.func.json_each(sa.bindparam("ids", type_=sa.String)).table_valued("value")
        held, acked = dossiers.c.record_id.is_not(None), syncs.c.record_id.is_not(None)
        joined = given.outerjoin(dossiers, dossiers.c.record_id == given.c.value).outerjoin(
            syncs, syncs.c.record_id == given.c.value
        )
        return sa.select(given.c.value, held, acked).select_from(joined).where(sa.or_(held, acked))

    def _insert(self, table: sa.Table) -> Any:
        if self._postgres:
            return postgresql.insert(table).on_conflict_do_nothing()
        if self.engine.dialect.name == "sqlite":
            return sqlite.insert(table).on_conflict_do_nothing()
        raise DatabaseError(f"the indicators need SQLite or PostgreSQL, not {self.engine.dialect.name}")

    def _serialize(self, conn: sa.Connection) -> None:
        """One writer at a time, so a dossier and its acknowledgement arriving together meet
        (SQLite serializes writers by itself)."""
        if self._postgres:
            conn.execute(sa.text("select pg_advisory_xact_lock(7466)"))

    def add(self, batch: Dossiers | Sequence[Dossier]) -> Dossiers:
        """Record dossiers; those not held before come back (with ``synced`` set when their
        acknowledgement came first), the others are left as they were."""
        given = batch if isinstance(batch, Dossiers) else Dossiers.of(batch)
        ids = given.record_id
        if len(set(ids)) == len(ids):
            first = given
        else:  # a record id twice in one batch: its first
            at: dict[str, int] = {}
            for i, record_id in enumerate(ids):
                at.setdefault(record_id, i)
            first = given.take(sorted(at.values()))
        if not first.row:
            return first
        unsynced = [bits & ~_SYNCED for bits in first.facts]
        new = self._add_postgres(first, unsynced) if self._postgres else self._add_sqlite(first, unsynced)
        if len(new) == len(first.row) and not any(bits & _SYNCED for bits in new.values()):
            first.facts = unsynced
            return first
        stored = first.take(i for i, record_id in enumerate(first.record_id) if record_id in new)
        stored.facts = [new[record_id] for record_id in stored.record_id]
        return stored

    def _add_postgres(self, first: Dossiers, unsynced: list[int]) -> dict[str, int]:
        """Insert-or-ignore in one statement and one round trip; the ids stored → their facts."""
        columns = (first.record_id, first.department, first.procedure, first.district, first.commune)
        rows = orjson.dumps(list(zip(*columns, first.received_on, unsynced, strict=True))).decode()
        with connection(self.engine, "record dossiers", write=True) as conn:
            self._serialize(conn)
            return {row[0]: row[1] for row in conn.execute(self._add, {"rows": rows})}

    def _add_sqlite(self, first: Dossiers, unsynced: list[int]) -> dict[str, int]:
        """The ids held or acknowledged already in one statement, the others inserted by the
        driver's executemany (in process: no round trips to save, and binding beats JSON)."""
        with connection(self.engine, "record dossiers", write=True) as conn:
            found = conn.execute(self._known, {"ids": orjson.dumps(first.record_id).decode()}).all()
            held = {record_id for record_id, is_held, _ in found if is_held}
            acked = {record_id for record_id, is_held, is_acked in found if is_acked and not is_held}
            iso = {day: day.isoformat() for day in set(first.received_on) if day is not None}
            days = [iso.get(day) if day is not None else None for day in first.received_on]
            columns = (
                first.record_id,
                first.department,
                first.procedure,
                first.district,
                first.commune,
                days,
            )
            rows = list(zip(*columns, unsynced, strict=True))
            if held or acked:
                rows = [(*r[:6], r[6] | _SYNCED if r[0] in acked else r[6]) for r in rows if r[0] not in held]
            if rows:
                inserted = conn.exec_driver_sql(self._insert_rows, rows).rowcount
                if inserted != len(rows):  # another writer between the look-up and the insert
                    raise DatabaseError(
                        f"cannot record dossiers: {len(rows) - inserted} of them were recorded meanwhile "
                        "by another writer; the batch is read again"
                    )
        return {row[0]: row[6] for row in rows}

    def sync(self, record_ids: Iterable[str]) -> list[Dossier]:
        """Mark dossiers acknowledged by the exchange; those that changed come back, synced."""
        wanted = list(dict.fromkeys(record_ids))
        if not wanted:
            return []
        changed: list[Dossier] = []
        with connection(self.engine, "record acknowledgements", write=True) as conn:
            self._serialize(conn)
            conn.execute(self._insert(syncs), [{"record_id": r} for r in wanted])
            for start in range(0, len(wanted), _CHUNK):
                ids = wanted[start : start + _CHUNK]
                update = (
                    dossiers.update()
                    .where(dossiers.c.record_id.in_(ids), dossiers.c.facts.op("&")(_SYNCED) == 0)
                    .values(facts=dossiers.c.facts + _SYNCED)
                    .returning(*dossiers.c)
                )
                changed += [_dossier(row._mapping) for row in conn.execute(update)]
        return changed

    def find(self, record_id: str) -> Dossier | None:
        """The dossier counted for ``record_id``, if the indicators counted one."""
        with connection(self.engine, "find a dossier") as conn:
            row = conn.execute(sa.select(dossiers).where(dossiers.c.record_id == record_id)).first()
        return None if row is None else _dossier(row._mapping)

    def next_seq(self) -> int:
        """The next number of the counts events (:mod:`.counts`): above every one given before."""
        bump = sequence.update().where(sequence.c.id == 1).values(seq=sequence.c.seq + 1)
        with connection(self.engine, "number a counts event", write=True) as conn:
            self._serialize(conn)
            seq = conn.scalar(bump.returning(sequence.c.seq))
            if seq is None:
                conn.execute(self._insert(sequence), {"id": 1, "seq": 1})
                seq = conn.scalar(sa.select(sequence.c.seq).where(sequence.c.id == 1))
        return int(seq)

    def tallies(
        self, by: str, first: date | None = None, last: date | None = None, by_day: bool = True
    ) -> Tallies:
        """Dossiers counted by (day received, value of dimension ``by``) and facts, received from
        ``first`` to ``last`` (each optional; dossiers without a receipt date only when neither);
        not ``by_day``: the days of each value together, under day None."""
        if by not in DIMENSIONS:
            raise DatabaseError(f"no dimension {by!r}; one of {', '.join(DIMENSIONS)}")
        member = sa.literal("all") if by == "province" else dossiers.c[by]
        keys = [dossiers.c.received_on if by_day else sa.null(), member, dossiers.c.facts]
        query = sa.select(*keys, sa.func.count()).group_by(*keys[:1] if by_day else (), *keys[1:])
        if first is not None:
            query = query.where(dossiers.c.received_on >= first)
        if last is not None:
            query = query.where(dossiers.c.received_on <= last)
        tallies: Tallies = {}
        with connection(self.engine, "count dossiers") as conn:
            for row in conn.execute(query):
                day, value, bits, n = row[0], row[1], row[2], row[3]
                tallies.setdefault((_day(day), str(value)), Counter())[facts_from_bits(bits)] += int(n)
        return tallies

    def latest_day(self) -> date | None:
        """The latest day a dossier held was received."""
        with connection(self.engine, "read the latest day") as conn:
            return _day(conn.scalar(sa.select(sa.func.max(dossiers.c.received_on))))

    def count(self) -> int:
        with connection(self.engine, "count dossiers") as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(dossiers)) or 0)


def _day(value: Any) -> date | None:
    """A date read back (SQLite's driver may give its text)."""
    return value if value is None or isinstance(value, date) else date.fromisoformat(str(value))


def _dossier(row: Any) -> Dossier:
    return Dossier(
        row["record_id"],
        row["department"],
        row["procedure"],
        row["district"],
        row["commune"],
        _day(row["received_on"]),
        facts_from_bits(row["facts"]),
    )
