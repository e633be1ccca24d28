"""Register schemas under subjects and look them up by id, in SQL."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from hub.errors import DatabaseError, SchemaError
from hub.schema_store.tables import schemas, subject_versions

__all__ = ["RegisteredSchema", "SchemaStore", "fingerprint"]


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


class SchemaStore:
    """Subjects, versions and global schema ids; registering the same schema twice is a no-op."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def register(self, subject: str, schema_text: str) -> RegisteredSchema:
        """Register ``schema_text`` under ``subject``; returns the existing version if present."""
        digest = fingerprint(schema_text)
        try:
            with self.engine.begin() as conn:
                schema_id = self._schema_id(conn, digest, schema_text)
                version = conn.scalar(
                    sa.select(subject_versions.c.version).where(
                        subject_versions.c.subject == subject,
                        subject_versions.c.schema_id == schema_id,
                    )
                )
                if version is None:
                    version = 1 + (
                        conn.scalar(
                            sa.select(sa.func.max(subject_versions.c.version)).where(
                                subject_versions.c.subject == subject
                            )
                        )
                        or 0
                    )
                    conn.execute(
                        subject_versions.insert().values(
                            subject=subject,
                            version=version,
                            schema_id=schema_id,
                            registered_at=datetime.now(UTC),
                        )
                    )
        except IntegrityError:
            # Another process registered the same schema at the same moment: read theirs.
            return self.register(subject, schema_text)
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot register schema for {subject!r}: {exc}") from exc
        return RegisteredSchema(subject, version, schema_id, schema_text)

    def _schema_id(self, conn: sa.Connection, digest: str, schema_text: str) -> int:
        existing = conn.scalar(sa.select(schemas.c.id).where(schemas.c.fingerprint == digest))
        if existing is not None:
            return int(existing)
        result = conn.execute(schemas.insert().values(fingerprint=digest, schema_text=schema_text))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def schema_text(self, schema_id: int) -> str | None:
        """The schema registered with id ``schema_id``, or None."""
        try:
            with self.engine.connect() as conn:
                text = conn.scalar(sa.select(schemas.c.schema_text).where(schemas.c.id == schema_id))
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot read schema id {schema_id}: {exc}") from exc
        return None if text is None else str(text)
