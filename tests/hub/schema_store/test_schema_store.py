"""Unit tests for hub.schema_store.store on a SQLite file: registration, levels, soft deletes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from hub.avro.catalog import get_catalog
from hub.db import connect
from hub.errors import ConfigError, IncompatibleSchemaError, SchemaError
from hub.schema_store import SchemaStore
from hub.topics import ALL_TOPICS


def record(*fields: dict[str, Any]) -> str:
    return json.dumps({"type": "record", "name": "Person", "namespace": "t", "fields": list(fields)})


NAME = {"name": "name", "type": "string"}
V1 = record(NAME)
V2 = record(NAME, {"name": "nickname", "type": "string", "default": ""})
NO_DEFAULT = record(NAME, {"name": "nickname", "type": "string"})
SUBJECT = "people-value"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    hub_engine = connect(f"sqlite:///{tmp_path / 'hub.db'}")
    yield hub_engine
    hub_engine.dispose()


@pytest.fixture
def store(engine: Engine) -> SchemaStore:
    return SchemaStore(engine, "BACKWARD")


def test_registering_the_hub_schemas_twice_is_idempotent(store: SchemaStore) -> None:
    catalog = get_catalog()
    topics = [topic for topic in ALL_TOPICS if topic.value_schema]
    first = [store.register(t.subject, catalog.text(t.value_schema or "")) for t in topics]
    again = [store.register(t.subject, catalog.text(t.value_schema or "")) for t in topics]
    assert first == again
    assert all(registered.version == 1 for registered in first)
    assert store.subjects() == sorted(t.subject for t in topics)


def test_evolution_is_checked_against_the_subject_level(store: SchemaStore) -> None:
    first = store.register(SUBJECT, V1)
    second = store.register(SUBJECT, V2)
    assert (first.version, second.version) == (1, 2) and second.schema_id != first.schema_id
    with_age = record(
        NAME, {"name": "nickname", "type": "string", "default": ""}, {"name": "age", "type": "int"}
    )
    with pytest.raises(
        IncompatibleSchemaError,
        match=r"^schema for subject 'people-value' is incompatible with version 2 under BACKWARD: "
        r"field 'age' \(/fields/2\) has no default value",
    ):
        store.register(SUBJECT, with_age)
    assert store.versions(SUBJECT) == [1, 2]


def test_same_schema_returns_its_version_without_a_check(store: SchemaStore) -> None:
    store.set_compatibility("NONE", SUBJECT)
    store.register(SUBJECT, V1)
    store.register(SUBJECT, NO_DEFAULT)
    store.set_compatibility("BACKWARD", SUBJECT)
    spaced = json.dumps(json.loads(V1), indent=4)  # same schema, other whitespace
    assert store.register(SUBJECT, spaced).version == 1


def test_the_same_schema_under_two_subjects_has_one_id(store: SchemaStore) -> None:
    a, b = store.register("a-value", V1), store.register("b-value", V1)
    assert a.schema_id == b.schema_id
    assert store.usages(a.schema_id) == [("a-value", 1), ("b-value", 1)]


def test_invalid_schemas_and_subjects_are_refused(store: SchemaStore) -> None:
    with pytest.raises(SchemaError, match="not JSON"):
        store.register(SUBJECT, "{")
    with pytest.raises(SchemaError, match="not a valid Avro schema"):
        store.register(SUBJECT, '{"type": "record", "name": "P", "fields": [{"name": "a", "type": "nope"}]}')
    with pytest.raises(SchemaError, match="must have 1 to 255 characters, not 0"):
        store.register("", V1)
    with pytest.raises(SchemaError, match="not 256"):
        store.register("s" * 256, V1)
    assert store.subjects() == []


def test_levels_global_default_subject_override_and_delete(engine: Engine) -> None:
    store = SchemaStore(engine, "FULL")
    assert store.compatibility() == "FULL" and store.compatibility(SUBJECT) == "FULL"
    assert store.set_compatibility("NONE") == "NONE"
    assert store.compatibility(SUBJECT) == "NONE"
    store.set_compatibility("FORWARD_TRANSITIVE", SUBJECT)
    store.set_compatibility("FORWARD", SUBJECT)
    assert store.subject_compatibility(SUBJECT) == "FORWARD" and store.compatibility(SUBJECT) == "FORWARD"
    assert store.delete_compatibility(SUBJECT) == "FORWARD"
    assert store.subject_compatibility(SUBJECT) is None and store.compatibility(SUBJECT) == "NONE"
    assert store.delete_compatibility() == "NONE" and store.compatibility() == "FULL"
    assert store.delete_compatibility(SUBJECT) is None
    with pytest.raises(ConfigError, match="unknown compatibility level"):
        store.set_compatibility("SIDEWAYS")


def test_the_default_level_comes_from_settings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from hub.settings import get_settings

    monkeypatch.setenv("HUB_SCHEMA_COMPATIBILITY", "FULL_TRANSITIVE")
    get_settings.cache_clear()
    try:
        assert SchemaStore(engine).compatibility() == "FULL_TRANSITIVE"
    finally:
        get_settings.cache_clear()


def test_subject_level_is_used_when_registering(store: SchemaStore) -> None:
    store.register(SUBJECT, V1)
    store.set_compatibility("FORWARD", SUBJECT)
    assert store.register(SUBJECT, NO_DEFAULT).version == 2  # forward-compatible, not backward
    assert not store.check(SUBJECT, V1).is_compatible  # removes a field without default
    assert store.check(SUBJECT, V1, version=1).is_compatible  # against version 1 only


def test_versions_lookup_and_latest(store: SchemaStore) -> None:
    store.register(SUBJECT, V1)
    second = store.register(SUBJECT, V2)
    assert store.version(SUBJECT, None) == second
    assert store.version(SUBJECT, 1) is not None and store.version(SUBJECT, 3) is None
    assert store.lookup(SUBJECT, V2) == second
    assert store.lookup(SUBJECT, NO_DEFAULT) is None
    assert store.lookup("other", V2) is None
    assert store.schema_text(second.schema_id) == V2


def test_soft_deleted_versions_are_hidden_unchecked_and_still_resolvable(store: SchemaStore) -> None:
    first = store.register(SUBJECT, V1)
    store.register(SUBJECT, V2)
    assert store.delete_version(SUBJECT, 2)
    assert not store.delete_version(SUBJECT, 2)  # already soft-deleted
    assert store.versions(SUBJECT) == [1] and store.versions(SUBJECT, deleted=True) == [1, 2]
    assert store.version(SUBJECT, None) == first
    assert store.version(SUBJECT, 2) is None and store.version(SUBJECT, 2, deleted=True) is not None
    assert store.lookup(SUBJECT, V2) is None and store.lookup(SUBJECT, V2, deleted=True) is not None
    # Re-registering the deleted schema makes a new version.
    assert store.register(SUBJECT, V2).version == 3
    assert store.delete_subject(SUBJECT) == [1, 3]
    assert store.subjects() == [] and store.subjects(deleted=True) == [SUBJECT]
    assert store.schema_text(first.schema_id) == V1
    # Nothing live is left to be compatible with.
    assert store.register(SUBJECT, NO_DEFAULT).version == 4


def test_subject_delete_forgets_its_level(store: SchemaStore) -> None:
    store.register(SUBJECT, V1)
    store.set_compatibility("NONE", SUBJECT)
    store.delete_subject(SUBJECT)
    assert store.subject_compatibility(SUBJECT) is None


def test_permanent_delete_removes_only_soft_deleted_versions(store: SchemaStore) -> None:
    first = store.register(SUBJECT, V1)
    store.register(SUBJECT, V2)
    assert store.delete_subject(SUBJECT, permanent=True) == []  # nothing soft-deleted yet
    assert not store.delete_version(SUBJECT, 1, permanent=True)
    store.delete_version(SUBJECT, 1)
    assert store.delete_version(SUBJECT, 1, permanent=True)
    assert store.versions(SUBJECT, deleted=True) == [2]
    store.delete_subject(SUBJECT)
    assert store.delete_subject(SUBJECT, permanent=True) == [2]
    assert store.versions(SUBJECT, deleted=True) == []
    assert store.schema_text(first.schema_id) == V1  # ids stay resolvable


def test_ping_answers(store: SchemaStore) -> None:
    store.ping()
