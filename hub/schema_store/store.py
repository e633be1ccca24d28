"""Register schemas under subjects, look them up, soft-delete them and keep compatibility levels, in SQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hub.db import create_tables
from hub.errors import DatabaseError, IncompatibleSchemaError, SchemaError
from hub.schema_store.compatibility import Compatibility, check_compatibility, parse_avro, validate_level
from hub.schema_store.tables import compatibility_levels, deleted_versions, schemas, subject_versions
from hub.settings import get_settings

__all__ = ["RegisteredSchema", "SchemaStore", "fingerprint"]

_GLOBAL = ""  # the key of the global compatibility level
_SUBJECT_LENGTH = 255  # the length of the subject columns
_ATTEMPTS = 5  # registrations that collide with concurrent ones are retried this many times

_versions = subject_versions.outerjoin(
    deleted_versions,
    sa.and_(
        deleted_versions.c.subject == subject_versions.c.subject,
        deleted_versions.c.version == subject_versions.c.version,
    ),
).join(schemas, schemas.c.id == subject_versions.c.schema_id)
_live = deleted_versions.c.subject.is_(None)


@dataclass(frozen=True)
class RegisteredSchema:
    """A schema as registered under a subject."""

    subject: str
    version: int
    schema_id: int
    schema_text: str


def fingerprint(schema_text: str) -> str:
    """Identity of a schema: the SHA-256 of its JSON with keys sorted and no spaces."""
    try:
        normal = json.dumps(json.loads(schema_text), sort_keys=True, separators=(",", ":"))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"schema is not JSON: {exc}") from exc
    return hashlib.sha256(normal.encode()).hexdigest()


def _check_subject(subject: str) -> None:
    if not subject or len(subject) > _SUBJECT_LENGTH:
        raise SchemaError(f"a subject name must have 1 to {_SUBJECT_LENGTH} characters, not {len(subject)}")


def _reason(exc: SQLAlchemyError) -> str:
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["unknown error"])[0]


class SchemaStore:
    """Subjects, versions, global schema ids and compatibility levels.

    ``compatibility`` is the global level until one is set; unset, it is
    ``HUB_SCHEMA_COMPATIBILITY``. Soft-deleted versions are neither listed nor checked against,
    but their ids still resolve, so records written with them stay readable.
    """

    def __init__(self, engine: Engine, compatibility: str | None = None) -> None:
        self.engine = engine
        create_tables(engine, schemas, subject_versions, deleted_versions, compatibility_levels)
        self.default_compatibility = validate_level(compatibility or get_settings().schema_compatibility)

    @contextmanager
    def _connection(self, what: str, *, write: bool = False) -> Iterator[sa.Connection]:
        try:
            with self.engine.begin() if write else self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot {what}: {_reason(exc)}") from exc

    # Registering and checking

    def register(self, subject: str, schema_text: str) -> RegisteredSchema:
        """Register under ``subject``, checked against the subject's compatibility level.

        A schema already live under the subject returns its version without a check (as
        Confluent does), so registering at every start is idempotent. Raises SchemaError for
        invalid Avro and IncompatibleSchemaError naming the field and the rule it breaks.
        """
        _check_subject(subject)
        digest = fingerprint(schema_text)
        parse_avro(schema_text)
        for _ in range(_ATTEMPTS):
            try:
                with self._connection(f"register a schema under {subject!r}", write=True) as conn:
                    return self._register(conn, subject, digest, schema_text)
            except DatabaseError as exc:
                if not isinstance(exc.__cause__, IntegrityError):
                    raise
                # Another process registered under the subject at the same moment: look again.
        raise DatabaseError(
            f"cannot register a schema under {subject!r}: concurrent registrations kept colliding"
        )

    def _register(self, conn: sa.Connection, subject: str, digest: str, schema_text: str) -> RegisteredSchema:
        existing = self._find(conn, subject, digest, deleted=False)
        if existing is not None:
            return existing
        previous = [(version, text) for version, _, text in self._rows(conn, subject, deleted=False)]
        outcome = check_compatibility(schema_text, previous, self._level(conn, subject))
        if not outcome.is_compatible:
            raise IncompatibleSchemaError(f"schema for subject {subject!r} is {outcome.summary()}")
        schema_id = self._schema_id(conn, digest, schema_text)
        highest = conn.scalar(
            sa.select(sa.func.max(subject_versions.c.version)).where(subject_versions.c.subject == subject)
        )
        version = 1 + (highest or 0)
        conn.execute(
            subject_versions.insert().values(
                subject=subject, version=version, schema_id=schema_id, registered_at=datetime.now(UTC)
            )
        )
        return RegisteredSchema(subject, version, schema_id, schema_text)

    def _schema_id(self, conn: sa.Connection, digest: str, schema_text: str) -> int:
        existing = conn.scalar(sa.select(schemas.c.id).where(schemas.c.fingerprint == digest))
        if existing is not None:
            return int(existing)
        result = conn.execute(schemas.insert().values(fingerprint=digest, schema_text=schema_text))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def check(self, subject: str, schema_text: str, version: int | None = None) -> Compatibility:
        """Would ``schema_text`` be accepted? Against ``version`` only, or as :meth:`register` checks."""
        with self._connection(f"check a schema against {subject!r}") as conn:
            rows = self._rows(conn, subject, deleted=False)
            previous = [(v, text) for v, _, text in rows if version is None or v == version]
            level = self._level(conn, subject)
        return check_compatibility(schema_text, previous, level)

    # Reading

    def lookup(self, subject: str, schema_text: str, *, deleted: bool = False) -> RegisteredSchema | None:
        """The version of ``subject`` holding this schema (live first), or None."""
        digest = fingerprint(schema_text)
        with self._connection(f"look up a schema under {subject!r}") as conn:
            return self._find(conn, subject, digest, deleted=deleted)

    def subjects(self, *, deleted: bool = False) -> list[str]:
        """Subjects with a live version; with ``deleted``, also those with only soft-deleted ones."""
        query = sa.select(subject_versions.c.subject).select_from(_versions).distinct()
        with self._connection("list subjects") as conn:
            found = conn.scalars(query if deleted else query.where(_live)).all()
        return sorted(found)

    def versions(self, subject: str, *, deleted: bool = False) -> list[int]:
        """Version numbers of ``subject``, ascending; empty when it has none."""
        with self._connection(f"list the versions of {subject!r}") as conn:
            return [version for version, _, _ in self._rows(conn, subject, deleted=deleted)]

    def version(self, subject: str, version: int | None, *, deleted: bool = False) -> RegisteredSchema | None:
        """Version ``version`` of ``subject`` (None: the latest live one), or None."""
        with self._connection(f"read a version of {subject!r}") as conn:
            rows = self._rows(conn, subject, deleted=deleted and version is not None)
        if version is None:
            rows = rows[-1:]
        for number, schema_id, text in rows:
            if version is None or number == version:
                return RegisteredSchema(subject, number, schema_id, text)
        return None

    def schema_text(self, schema_id: int) -> str | None:
        """The schema registered with id ``schema_id``, or None."""
        with self._connection(f"read schema id {schema_id}") as conn:
            text = conn.scalar(sa.select(schemas.c.schema_text).where(schemas.c.id == schema_id))
        return None if text is None else str(text)

    def usages(self, schema_id: int, *, deleted: bool = False) -> list[tuple[str, int]]:
        """The (subject, version) pairs registered with ``schema_id``."""
        query = (
            sa.select(subject_versions.c.subject, subject_versions.c.version)
            .select_from(_versions)
            .where(subject_versions.c.schema_id == schema_id)
            .order_by(subject_versions.c.subject, subject_versions.c.version)
        )
        with self._connection(f"find the subjects of schema id {schema_id}") as conn:
            rows = conn.execute(query if deleted else query.where(_live)).all()
        return [(str(subject), int(version)) for subject, version in rows]

    def ping(self) -> None:
        """Raise DatabaseError unless the database answers."""
        with self._connection("reach the schema store's database") as conn:
            conn.execute(sa.select(1))

    def _rows(self, conn: sa.Connection, subject: str, *, deleted: bool) -> list[tuple[int, int, str]]:
        query = (
            sa.select(subject_versions.c.version, schemas.c.id, schemas.c.schema_text)
            .select_from(_versions)
            .where(subject_versions.c.subject == subject)
            .order_by(subject_versions.c.version)
        )
        rows = conn.execute(query if deleted else query.where(_live)).all()
        return [(int(version), int(schema_id), str(text)) for version, schema_id, text in rows]

    def _find(
        self, conn: sa.Connection, subject: str, digest: str, *, deleted: bool
    ) -> RegisteredSchema | None:
        query = (
            sa.select(subject_versions.c.version, schemas.c.id, schemas.c.schema_text)
            .select_from(_versions)
            .where(subject_versions.c.subject == subject, schemas.c.fingerprint == digest)
            .order_by(sa.case((_live, 1), else_=0).desc(), subject_versions.c.version.desc())
            .limit(1)
        )
        row = conn.execute(query if deleted else query.where(_live)).first()
        return None if row is None else RegisteredSchema(subject, int(row[0]), int(row[1]), str(row[2]))

    # Deleting

    def delete_subject(self, subject: str, *, permanent: bool = False) -> list[int]:
        """Soft-delete the live versions of ``subject`` (and its compatibility level).

        ``permanent`` removes the versions already soft-deleted instead; live ones are never
        removed at once. Returns the versions deleted. Schema ids keep resolving either way.
        """
        with self._connection(f"delete subject {subject!r}", write=True) as conn:
            every = [version for version, _, _ in self._rows(conn, subject, deleted=True)]
            live = {version for version, _, _ in self._rows(conn, subject, deleted=False)}
            chosen = [version for version in every if (version not in live) == permanent]
            for version in chosen:
                self._delete(conn, subject, version, permanent=permanent)
            if not permanent and chosen:
                conn.execute(compatibility_levels.delete().where(compatibility_levels.c.subject == subject))
        return chosen

    def delete_version(self, subject: str, version: int, *, permanent: bool = False) -> bool:
        """Soft-delete a live version, or (``permanent``) remove a soft-deleted one; False if none."""
        with self._connection(f"delete version {version} of {subject!r}", write=True) as conn:
            live = {number for number, _, _ in self._rows(conn, subject, deleted=False)}
            every = {number for number, _, _ in self._rows(conn, subject, deleted=True)}
            if version not in (every - live if permanent else live):
                return False
            self._delete(conn, subject, version, permanent=permanent)
        return True

    def _delete(self, conn: sa.Connection, subject: str, version: int, *, permanent: bool) -> None:
        if not permanent:
            conn.execute(
                deleted_versions.insert().values(
                    subject=subject, version=version, deleted_at=datetime.now(UTC)
                )
            )
            return
        for table in (deleted_versions, subject_versions):
            conn.execute(table.delete().where(table.c.subject == subject, table.c.version == version))

    # Compatibility levels

    def compatibility(self, subject: str | None = None) -> str:
        """The level that applies to ``subject`` (its own, else the global one), or the global level."""
        with self._connection("read the compatibility level") as conn:
            return self._level(conn, subject)

    def subject_compatibility(self, subject: str) -> str | None:
        """The level set for ``subject`` itself, or None when it follows the global level."""
        with self._connection(f"read the compatibility level of {subject!r}") as conn:
            level = conn.scalar(
                sa.select(compatibility_levels.c.level).where(compatibility_levels.c.subject == subject)
            )
        return None if level is None else str(level)

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        """Set the level of ``subject``, or the global level; ConfigError for an unknown level."""
        validate_level(level)
        if subject is not None:
            _check_subject(subject)
        key = _GLOBAL if subject is None else subject
        table = compatibility_levels
        with self._connection("set the compatibility level", write=True) as conn:
            updated = conn.execute(table.update().where(table.c.subject == key).values(level=level))
            if not updated.rowcount:
                conn.execute(table.insert().values(subject=key, level=level))
        return level

    def delete_compatibility(self, subject: str | None = None) -> str | None:
        """Forget the level of ``subject`` (or the global one, back to the default); the old level."""
        key = _GLOBAL if subject is None else subject
        table = compatibility_levels
        with self._connection("delete the compatibility level", write=True) as conn:
            old = conn.scalar(sa.select(table.c.level).where(table.c.subject == key))
            conn.execute(table.delete().where(table.c.subject == key))
        return None if old is None else str(old)

    def _level(self, conn: sa.Connection, subject: str | None) -> str:
        keys = [_GLOBAL] if subject is None else [subject, _GLOBAL]
        rows = dict(
            conn.execute(
                sa.select(compatibility_levels.c.subject, compatibility_levels.c.level).where(
                    compatibility_levels.c.subject.in_(keys)
                )
            ).all()
        )
        return next((str(rows[key]) for key in keys if key in rows), self.default_compatibility)
