"""Unit tests for hub.avro.catalog: the catalog of .avsc files and what the topics need from it."""

from __future__ import annotations

import json
from pathlib import Path

import fastavro
import pytest

from hub.avro.catalog import SchemaCatalog, get_catalog, schemas_dir
from hub.errors import SchemaError
from hub.topics import ALL_TOPICS, DEPARTMENT_TOPICS, RECONCILED, Topic

VALUED_TOPICS = [topic for topic in ALL_TOPICS if topic.value_schema is not None]
RECORD_SCHEMAS = [topic.value_schema for topic in DEPARTMENT_TOPICS.values()] + [RECONCILED.value_schema]


def test_catalog_is_the_repository_schemas() -> None:
    catalog = get_catalog()
    assert catalog is get_catalog()
    expected = sorted(p.stem for p in schemas_dir().glob("*.avsc"))
    assert catalog.names() == expected
    assert "vn.lgsp.Citizen" in expected


@pytest.mark.parametrize("topic", VALUED_TOPICS, ids=lambda t: t.name)
def test_every_topic_value_schema_exists_and_parses(topic: Topic) -> None:
    catalog = get_catalog()
    assert topic.value_schema in catalog.names()
    parsed = catalog.parsed(topic.value_schema)
    assert parsed["name"] == topic.value_schema
    # The registered text is self-contained: it parses without the rest of the catalog.
    text = catalog.text(topic.value_schema)
    standalone = fastavro.parse_schema(json.loads(text), named_schemas={})
    assert standalone["type"] == "record"


@pytest.mark.parametrize("name", get_catalog().names())
def test_every_catalog_schema_parses(name: str) -> None:
    assert fastavro.parse_schema(json.loads(get_catalog().text(name)), named_schemas={})


@pytest.mark.parametrize("name", RECORD_SCHEMAS)
def test_department_schemas_share_citizen_and_dossier(name: str) -> None:
    catalog = get_catalog()
    fields = {field["name"]: field["type"] for field in catalog.document(name)["fields"]}
    assert fields["citizen"] == catalog.document("vn.lgsp.Citizen")
    assert fields["dossier"] == catalog.document("vn.lgsp.Dossier")
    for shared in ("record_id", "agency", "occurred_at"):
        assert shared in fields


def test_department_records_have_the_same_common_fields() -> None:
    catalog = get_catalog()
    heads = {
        name: [f["name"] for f in catalog.document(name)["fields"][:5]]
        for name in (topic.value_schema for topic in DEPARTMENT_TOPICS.values())
    }
    assert set(map(tuple, heads.values())) == {("record_id", "agency", "occurred_at", "citizen", "dossier")}


def test_unknown_schema_name() -> None:
    with pytest.raises(SchemaError, match=r"vn\.lgsp\.Nope"):
        get_catalog().document("vn.lgsp.Nope")


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match=r"no \.avsc schemas"):
        SchemaCatalog(tmp_path).names()


@pytest.mark.parametrize(
    "text",
    [
        "not json at all",
        '{"type": "nonsense"}',
        '{"type": "record", "name": "Broken", "fields": [{"name": "a", "type": "vn.lgsp.Nope"}]}',
    ],
)
def test_invalid_schema_file_is_a_schema_error(tmp_path: Path, text: str) -> None:
    (tmp_path / "vn.lgsp.Broken.avsc").write_text(text)
    with pytest.raises(SchemaError, match=r"vn\.lgsp\.Broken\.avsc: not a valid Avro schema"):
        SchemaCatalog(tmp_path).names()
