"""Unit tests for hub.schema_registry.app through Starlette's TestClient, on a SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from hub.db import connect
from hub.errors import DatabaseError
from hub.schema_registry import create_app
from hub.schema_store import SchemaStore

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
HEADERS = {"Content-Type": MEDIA_TYPE}
SUBJECT = "people-value"


def record(*fields: dict[str, Any]) -> str:
    return json.dumps({"type": "record", "name": "Person", "namespace": "t", "fields": list(fields)})


NAME = {"name": "name", "type": "string"}
V1 = record(NAME)
V2 = record(NAME, {"name": "nickname", "type": "string", "default": ""})
NO_DEFAULT = record(NAME, {"name": "age", "type": "int"})


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    hub_engine = connect(f"sqlite:///{tmp_path / 'hub.db'}")
    yield hub_engine
    hub_engine.dispose()


@pytest.fixture
def store(engine: Engine) -> SchemaStore:
    return SchemaStore(engine, "BACKWARD")


@pytest.fixture
def client(store: SchemaStore) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


def register(client: TestClient, text: str, subject: str = SUBJECT, **extra: Any) -> Any:
    return client.post(f"/subjects/{subject}/versions", json={"schema": text, **extra}, headers=HEADERS)


def test_register_and_read_back(client: TestClient) -> None:
    first = register(client, V1)
    assert first.status_code == 200 and first.headers["content-type"] == MEDIA_TYPE
    schema_id = first.json()["id"]
    assert register(client, V1).json() == {"id": schema_id}  # idempotent
    assert client.get("/subjects").json() == [SUBJECT]
    assert client.get(f"/subjects/{SUBJECT}/versions").json() == [1]
    expected = {"subject": SUBJECT, "version": 1, "id": schema_id, "schema": V1}
    assert client.get(f"/subjects/{SUBJECT}/versions/1").json() == expected
    assert client.get(f"/subjects/{SUBJECT}/versions/latest").json() == expected
    assert client.get(f"/subjects/{SUBJECT}/versions/-1").json() == expected
    assert client.get(f"/subjects/{SUBJECT}/versions/1/schema").json() == json.loads(V1)
    assert client.get(f"/schemas/ids/{schema_id}").json() == {"schema": V1}
    assert client.get(f"/schemas/ids/{schema_id}/schema").json() == json.loads(V1)
    assert client.get(f"/schemas/ids/{schema_id}/subjects").json() == [SUBJECT]
    assert client.get(f"/schemas/ids/{schema_id}/versions").json() == [{"subject": SUBJECT, "version": 1}]
    assert client.get("/schemas/types").json() == ["AVRO"]


def test_accepted_request_media_types(client: TestClient) -> None:
    body = json.dumps({"schema": V1})
    for media_type in (MEDIA_TYPE, "application/vnd.schemaregistry+json", "application/json; charset=utf-8"):
        answer = client.post(
            f"/subjects/{SUBJECT}/versions", content=body, headers={"Content-Type": media_type}
        )
        assert answer.status_code == 200, media_type
    refused = client.post(
        f"/subjects/{SUBJECT}/versions", content=body, headers={"Content-Type": "text/plain"}
    )
    assert refused.status_code == 415 and refused.json()["error_code"] == 415


def test_incompatible_schema_is_409_naming_the_field(client: TestClient) -> None:
    register(client, V1)
    answer = register(client, NO_DEFAULT)
    assert answer.status_code == 409
    assert answer.json()["error_code"] == 409
    assert "field 'age' (/fields/1) has no default value" in answer.json()["message"]
    assert "[READER_FIELD_MISSING_DEFAULT_VALUE]" in answer.json()["message"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"schema": "{not json"}, "not JSON"),
        (
            {"schema": '{"type": "record", "name": "P", "fields": [{"name": "a", "type": "x"}]}'},
            "not a valid Avro",
        ),
        ({"schema": V1, "schemaType": "PROTOBUF"}, "schemaType 'PROTOBUF' is not supported"),
        ({"schema": V1, "schemaType": "JSON"}, "AVRO only"),
        ({"schema": V1, "references": [{"name": "a", "subject": "b", "version": 1}]}, "references"),
        ({}, '"schema"'),
    ],
)
def test_invalid_schemas_are_42201(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    answer = client.post(f"/subjects/{SUBJECT}/versions", json=body, headers=HEADERS)
    assert answer.status_code == 422
    assert answer.json()["error_code"] == 42201 and fragment in answer.json()["message"]


def test_not_found_codes(client: TestClient) -> None:
    register(client, V1)
    cases = {
        "/subjects/nobody/versions": 40401,
        "/subjects/nobody/versions/1": 40401,
        f"/subjects/{SUBJECT}/versions/7": 40402,
        "/schemas/ids/999": 40403,
        "/schemas/ids/999/subjects": 40403,
        f"/config/{SUBJECT}": 40408,
        "/no/such/route": 404,
    }
    for path, code in cases.items():
        answer = client.get(path)
        assert (answer.status_code, answer.json()["error_code"]) == (404, code), path


def test_invalid_version_is_42202(client: TestClient) -> None:
    register(client, V1)
    for version in ("0", "two", "99999999999"):
        answer = client.get(f"/subjects/{SUBJECT}/versions/{version}")
        assert (answer.status_code, answer.json()["error_code"]) == (422, 42202), version


def test_lookup_under_a_subject(client: TestClient) -> None:
    schema_id = register(client, V1).json()["id"]
    found = client.post(
        f"/subjects/{SUBJECT}?normalize=False&deleted=False", json={"schema": V1}, headers=HEADERS
    )
    assert found.json() == {"subject": SUBJECT, "version": 1, "id": schema_id, "schema": V1}
    missing = client.post(f"/subjects/{SUBJECT}", json={"schema": V2}, headers=HEADERS)
    assert (missing.status_code, missing.json()["error_code"]) == (404, 40403)
    nobody = client.post("/subjects/nobody", json={"schema": V1}, headers=HEADERS)
    assert nobody.json()["error_code"] == 40401


def test_config_global_and_per_subject(client: TestClient) -> None:
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert client.put("/config", json={"compatibility": "FULL"}, headers=HEADERS).json() == {
        "compatibility": "FULL"
    }
    assert client.get("/config").json() == {"compatibilityLevel": "FULL"}
    put = client.put(f"/config/{SUBJECT}", json={"compatibility": "NONE"}, headers=HEADERS)
    assert put.json() == {"compatibility": "NONE"}
    assert client.get(f"/config/{SUBJECT}").json() == {"compatibilityLevel": "NONE"}
    register(client, V1)
    assert register(client, NO_DEFAULT).status_code == 200  # NONE for this subject
    assert client.delete(f"/config/{SUBJECT}").json() == {"compatibilityLevel": "NONE"}
    assert client.get(f"/config/{SUBJECT}").json()["error_code"] == 40408
    assert client.get(f"/config/{SUBJECT}?defaultToGlobal=true").json() == {"compatibilityLevel": "FULL"}
    assert client.delete("/config").json() == {"compatibilityLevel": "FULL"}
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    bad = client.put("/config", json={"compatibility": "SIDEWAYS"}, headers=HEADERS)
    assert (bad.status_code, bad.json()["error_code"]) == (422, 42203)


def test_compatibility_endpoint(client: TestClient) -> None:
    register(client, V1)
    path = f"/compatibility/subjects/{SUBJECT}/versions"
    good = client.post(path + "/latest", json={"schema": V2}, headers=HEADERS)
    assert good.json() == {"is_compatible": True}
    bad = client.post(path + "/1?verbose=true", json={"schema": NO_DEFAULT}, headers=HEADERS)
    assert bad.json()["is_compatible"] is False
    assert "field 'age'" in bad.json()["messages"][0]
    assert client.post(path, json={"schema": NO_DEFAULT}, headers=HEADERS).json() == {"is_compatible": False}
    fresh = client.post("/compatibility/subjects/nobody/versions", json={"schema": V1}, headers=HEADERS)
    assert fresh.json() == {"is_compatible": True}
    missing = client.post(
        "/compatibility/subjects/nobody/versions/latest", json={"schema": V1}, headers=HEADERS
    )
    assert missing.json()["error_code"] == 40401
    assert client.post(path + "/9", json={"schema": V1}, headers=HEADERS).json()["error_code"] == 40402


def test_soft_and_permanent_deletes(client: TestClient) -> None:
    first_id = register(client, V1).json()["id"]
    register(client, V2)
    assert client.delete(f"/subjects/{SUBJECT}/versions/1?permanent=true").json()["error_code"] == 40407
    assert client.delete(f"/subjects/{SUBJECT}/versions/1").json() == 1
    assert client.delete(f"/subjects/{SUBJECT}/versions/1").json()["error_code"] == 40406
    assert client.get(f"/subjects/{SUBJECT}/versions").json() == [2]
    assert client.get(f"/subjects/{SUBJECT}/versions?deleted=true").json() == [1, 2]
    assert client.get(f"/subjects/{SUBJECT}/versions?deleted_only=true").json() == [1]
    assert client.get(f"/subjects/{SUBJECT}/versions/1").json()["error_code"] == 40402
    assert client.get(f"/subjects/{SUBJECT}/versions/1?deleted=true").json()["id"] == first_id
    assert client.get(f"/schemas/ids/{first_id}").json() == {"schema": V1}
    assert client.get(f"/schemas/ids/{first_id}/subjects").json() == []
    assert client.get(f"/schemas/ids/{first_id}/subjects?deleted=true").json() == [SUBJECT]
    assert client.delete(f"/subjects/{SUBJECT}?permanent=true").json()["error_code"] == 40405
    assert client.delete(f"/subjects/{SUBJECT}").json() == [2]
    assert client.delete(f"/subjects/{SUBJECT}").json()["error_code"] == 40404
    assert client.get("/subjects").json() == []
    assert client.get("/subjects?deleted=true").json() == [SUBJECT]
    assert client.get(f"/subjects/{SUBJECT}/versions").json()["error_code"] == 40401
    assert client.get(f"/subjects/{SUBJECT}/versions/latest").json()["error_code"] == 40401
    assert client.delete(f"/subjects/{SUBJECT}?permanent=true").json() == [1, 2]
    assert client.get("/subjects?deleted=true").json() == []
    assert client.delete(f"/subjects/{SUBJECT}").json()["error_code"] == 40401
    assert client.get(f"/schemas/ids/{first_id}").json() == {"schema": V1}


def test_subject_listing_filters_and_pages(client: TestClient) -> None:
    for subject in ("a-value", "b-value", "b-key"):
        register(client, V1, subject)
    assert client.get("/subjects?subjectPrefix=b-").json() == ["b-key", "b-value"]
    assert client.get("/subjects?offset=1&limit=1").json() == ["b-key"]
    assert client.get("/subjects?deleted=False&deleted_only=False&offset=0&limit=-1").json() == [
        "a-value",
        "b-key",
        "b-value",
    ]


def test_root_health_and_associations(client: TestClient) -> None:
    assert client.get("/").json() == {}
    assert client.get("/health").json() == {"status": "ok"}
    answer = client.get(
        "/associations/resources/-/lgsp.land.records?resourceType=topic&associationType=value"
    )
    assert answer.json() == []


def test_database_errors_are_50001(store: SchemaStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise DatabaseError("cannot list subjects: the disk is gone")

    monkeypatch.setattr(store, "subjects", broken)
    monkeypatch.setattr(store, "ping", broken)
    with TestClient(create_app(store)) as client:
        answer = client.get("/subjects")
        assert answer.status_code == 500
        assert answer.json() == {
            "error_code": 50001,
            "message": "Error in the backend datastore: cannot list subjects: the disk is gone",
        }
        assert client.get("/health").status_code == 503


def test_metrics_say_how_many_subjects_it_holds(client: TestClient) -> None:
    register(client, '"string"')
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert "hub_schema_registry_subjects 1.0" in answer.text
