"""The SQL parts against real databases: SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from hub.avro.catalog import get_catalog
from hub.db import connect
from hub.errors import DatabaseError
from hub.registry import RegistryCitizen, RegistryStore
from hub.schema_store import SchemaStore

pytestmark = pytest.mark.integration


def test_schema_store_registers_once_and_versions(engine: Engine) -> None:
    store = SchemaStore(engine)
    text = get_catalog().text("vn.lgsp.LandRecord")
    first = store.register("lgsp.land.records-value", text)
    again = store.register("lgsp.land.records-value", text)
    other = store.register("lgsp.health.records-value", get_catalog().text("vn.lgsp.HealthRecord"))
    assert (first.schema_id, first.version) == (again.schema_id, again.version)
    assert first.version == 1 and other.schema_id != first.schema_id
    assert store.schema_text(first.schema_id) == text
    assert store.schema_text(999_999) is None


def test_registry_upsert_snapshot_and_stats(engine: Engine) -> None:
    store = RegistryStore(engine)
    alive = RegistryCitizen(
        "074090001234", "280123456", "Nguyễn Văn An", date(1990, 5, 1), "M", "718", "25708"
    )
    dead = RegistryCitizen(
        "074185000001", None, "Trần Thị Bình", date(1985, 2, 3), "F", "724", "25760", date(2024, 1, 2)
    )
    assert store.upsert([alive, dead]) == 2
    corrected = alive._replace(full_name="Nguyễn Văn Ân")
    store.upsert([corrected])
    snapshot = store.snapshot()
    assert len(snapshot) == 2
    assert snapshot.by_id("074090001234") == corrected
    assert snapshot.by_legacy("280123456") == corrected
    stats = store.stats()
    assert (stats.citizens, stats.with_legacy_id, stats.deceased) == (2, 1, 1)


def test_unreachable_database_is_one_clear_error() -> None:
    with pytest.raises(DatabaseError, match="cannot reach database"):
        connect("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_not_a_database_url() -> None:
    with pytest.raises(DatabaseError, match="not a database URL"):
        connect("this is not a url")


def test_a_url_with_a_port_that_is_not_a_number_is_one_clear_error() -> None:
    with pytest.raises(DatabaseError, match="not a database URL"):
        connect("postgresql+psycopg://hub:secret@db:port/hub")
    with pytest.raises(DatabaseError) as caught:
        connect("postgresql+psycopg://hub:secret@db:port/hub")
    assert "secret" not in str(caught.value)
