"""The schema registry over real HTTP, used by Confluent's own client, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, SchemaRegistryError
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from sqlalchemy import Engine

from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.schema_registry import SchemaRegistryServer
from hub.schema_store import SchemaStore
from hub.topics import ALL_TOPICS, DEPARTMENT_TOPICS, Department

pytestmark = pytest.mark.integration

SUBJECT = "people-value"
NAME = {"name": "name", "type": "string"}
CITY = {"name": "city", "type": "string"}
NICKNAME = {"name": "nickname", "type": "string", "default": ""}


def record(*fields: dict[str, Any]) -> Schema:
    text = json.dumps({"type": "record", "name": "Person", "namespace": "t", "fields": list(fields)})
    return Schema(text, "AVRO")


@pytest.fixture
def server(engine: Engine) -> Iterator[SchemaRegistryServer]:
    with SchemaRegistryServer(SchemaStore(engine, "BACKWARD")) as running:
        yield running


@pytest.fixture
def client(server: SchemaRegistryServer) -> Iterator[SchemaRegistryClient]:
    with SchemaRegistryClient({"url": server.url}) as registry_client:
        yield registry_client


def refusal(client: SchemaRegistryClient, schema: Schema) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as caught:
        client.register_schema(SUBJECT, schema)
    return caught.value


def test_confluent_client_registers_and_evolves_a_subject(client: SchemaRegistryClient) -> None:
    first_id = client.register_schema(SUBJECT, record(NAME, CITY))
    second_id = client.register_schema(SUBJECT, record(NAME, CITY, NICKNAME))
    assert second_id != first_id
    latest = client.get_latest_version(SUBJECT)
    assert (latest.version, latest.schema_id) == (2, second_id)

    added = refusal(client, record(NAME, CITY, NICKNAME, {"name": "age", "type": "int"}))
    assert (added.http_status_code, added.error_code) == (409, 409)
    assert "field 'age' (/fields/3) has no default value" in added.error_message
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in added.error_message

    retyped = refusal(client, record(NAME, {"name": "city", "type": "int"}, NICKNAME))
    assert retyped.http_status_code == 409
    assert (
        "field 'city' (/fields/1/type)" in retyped.error_message and "TYPE_MISMATCH" in retyped.error_message
    )

    for level in ("FORWARD", "FULL"):
        client.set_compatibility(SUBJECT, level)
        removed = refusal(client, record(NAME, NICKNAME))
        assert removed.http_status_code == 409
        assert (
            f"under {level}: field 'city' (/fields/1) is missing from the new schema" in removed.error_message
        )

    client.set_compatibility(SUBJECT, "BACKWARD")
    third_id = client.register_schema(SUBJECT, record(NAME, NICKNAME))  # removing is backward-compatible
    assert client.get_versions(SUBJECT) == [1, 2, 3]
    assert client.get_schema(third_id).schema_str == record(NAME, NICKNAME).schema_str
    assert client.lookup_schema(SUBJECT, record(NAME, CITY)).version == 1
    assert client.get_subjects() == [SUBJECT]


def land_record() -> dict[str, Any]:
    return {
        "record_id": "STNMT-2026-000001",
        "agency": "STNMT",
        "occurred_at": datetime(2026, 11, 3, 8, 30, tzinfo=UTC),
        "citizen": {
            "SoDinhDanh": "074085001234",
            "SoCMND": "280123456",
            "HoVaTen": "Nguyễn Văn An",
            "NgayThangNamSinh": date(1985, 3, 14),
            "GioiTinh": "MALE",
            "MaHuyen": "718",
            "MaXa": "25700",
        },
        "dossier": {
            "MaHoSo": "000.00.12.H57-261103-0001",
            "MaTTHC": "1.004227",
            "NgayTiepNhan": datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
            "NgayHenTra": datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
            "NgayKetThucXuLy": None,
            "KenhThucHien": 2,
            "PhiLePhi": 50_000,
            "DuocThanhToanTrucTuyen": 1,
            "MaKetQua": None,
            "DuongDanTepTinKetQua": None,
            "HoSoCoThanhPhanSoHoa": True,
            "DuocLayTuKhoDMQG": True,
            "TaiKhoanDuocXacThucVoiVNeID": True,
        },
        "transaction_type": "TRANSFER",
        "map_sheet_number": 12,
        "parcel_number": 345,
        "area_m2": 120.5,
    }


def test_avro_serde_round_trips_through_the_hub_registry(
    engine: Engine, server: SchemaRegistryServer, client: SchemaRegistryClient
) -> None:
    land = DEPARTMENT_TOPICS[Department.LAND]
    text = get_catalog().text("vn.lgsp.LandRecord")
    hub_id = SchemaStore(engine).register(land.subject, text).schema_id  # as Runtime.prepare() does
    context = SerializationContext(land.name, MessageField.VALUE)
    original = land_record()

    data = AvroSerializer(client, text)(original, context)
    assert data is not None and data[:5] == b"\x00" + hub_id.to_bytes(4, "big")
    assert client.get_versions(land.subject) == [1]  # auto-registration found the hub's schema

    decoded = AvroDeserializer(client)(data, context)
    schema_id, hub_decoded = AvroCodec(SchemaStore(engine).schema_text).decode(data)
    assert schema_id == hub_id and hub_decoded == decoded
    assert isinstance(decoded, dict) and {key: decoded[key] for key in original} == original

    latest = AvroSerializer(client, text, conf={"auto.register.schemas": False, "use.latest.version": True})
    again = latest(original, context)
    assert again == data
    reread = AvroDeserializer(client, conf={"use.latest.version": True})(again, context)
    assert reread == decoded


def test_compatibility_checks_and_levels(server: SchemaRegistryServer, client: SchemaRegistryClient) -> None:
    client.register_schema(SUBJECT, record(NAME))
    assert client.test_compatibility(SUBJECT, record(NAME, NICKNAME)) is True
    assert client.test_compatibility(SUBJECT, record(NAME, CITY), version=1) is False
    verbose = httpx.post(
        f"{server.url}/compatibility/subjects/{SUBJECT}/versions/latest?verbose=true",
        json={"schema": record(NAME, CITY).schema_str},
    ).json()
    assert verbose["is_compatible"] is False and "field 'city' (/fields/1)" in verbose["messages"][0]

    assert client.get_compatibility() == "BACKWARD"
    client.set_compatibility(level="NONE")
    assert client.get_compatibility() == "NONE"
    assert client.test_compatibility(SUBJECT, record(NAME, CITY)) is True
    client.set_compatibility(SUBJECT, "FULL_TRANSITIVE")
    assert client.get_compatibility(SUBJECT) == "FULL_TRANSITIVE"
    assert client.test_compatibility(SUBJECT, record(NAME, CITY)) is False
    assert str(client.delete_config(SUBJECT).compatibility_level) == "FULL_TRANSITIVE"
    with pytest.raises(SchemaRegistryError) as caught:
        client.get_compatibility(SUBJECT)
    assert caught.value.error_code == 40408
    assert client.register_schema(SUBJECT, record(NAME, CITY)) > 0  # global NONE applies again


def test_soft_deletes_keep_ids_resolvable(client: SchemaRegistryClient) -> None:
    first_id = client.register_schema(SUBJECT, record(NAME))
    client.register_schema(SUBJECT, record(NAME, NICKNAME))
    assert client.delete_version(SUBJECT, 1) == 1
    assert client.get_versions(SUBJECT) == [2]
    assert client.get_versions(SUBJECT, deleted=True) == [1, 2]
    client.clear_caches()
    assert client.get_schema(first_id).schema_str == record(NAME).schema_str
    assert client.delete_subject(SUBJECT) == [2]
    assert client.get_subjects() == [] and client.get_subjects(deleted=True) == [SUBJECT]
    assert client.delete_subject(SUBJECT, permanent=True) == [1, 2]
    assert client.get_schema(first_id).schema_str == record(NAME).schema_str


HUB = [sys.executable, "-m", "hub.cli"]


def _environment(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return {**clean, "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}", "COLUMNS": "200"}


def test_command_serves_until_interrupted(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*HUB, "schema-registry", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(tmp_path),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("export HUB_SCHEMA_REGISTRY_URL=http://127.0.0.1:"), line
        url = line.split("=", 1)[1]
        hub_subjects = {topic.subject for topic in ALL_TOPICS if topic.value_schema}
        assert set(httpx.get(f"{url}/subjects").json()) == hub_subjects  # registered at start
        land = httpx.get(f"{url}/subjects/lgsp.land.records-value/versions/1").json()
        assert land["version"] == 1 and "LandRecord" in land["schema"]
        answer = httpx.post(f"{url}/subjects/{SUBJECT}/versions", json={"schema": record(NAME).schema_str})
        assert answer.json()["id"] > max(land["id"], len(hub_subjects) - 1)
        assert set(httpx.get(f"{url}/subjects").json()) == {*hub_subjects, SUBJECT}
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"schema registry on {url}" in stderr
    assert f"database sqlite:///{tmp_path / 'hub.db'}" in " ".join(stderr.split())


def test_command_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*HUB, "schema-registry", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=_environment(tmp_path),
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"hub: error: schema registry: port 127.0.0.1:{port} is in use (Address already in use)"
    ]
