"""Unit tests for hub.settings: Settings from the environment, get_settings and its errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from hub.errors import ConfigError
from hub.settings import Settings, get_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No HUB_ variable from the caller's shell, and no cached settings, before or after."""
    for name in list(os.environ):
        if name.upper().startswith("HUB_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults() -> None:
    settings = Settings()
    assert settings.kafka_bootstrap is None
    assert settings.exchange_url is None
    assert settings.kafka_security_protocol == "PLAINTEXT"
    assert settings.province_code == "74"
    assert settings.exchange_max_attempts == 5
    assert settings.data_dir == Path(platformdirs.user_data_dir("lgsp-hub")).resolve()
    assert settings.data_dir.is_absolute()
    assert settings.resolved_database_url == f"sqlite:///{(settings.data_dir / 'hub.db').as_posix()}"


def test_values_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HUB_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("HUB_EXCHANGE_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("HUB_EXCHANGE_TIMEOUT", "2.5")
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HUB_PROVINCE_CODE", "079")
    settings = Settings()
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.exchange_max_attempts == 3
    assert settings.exchange_timeout == 2.5
    assert settings.data_dir == tmp_path
    assert settings.province_code == "079"
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'hub.db').as_posix()}"


def test_default_database_does_not_depend_on_the_working_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = []
    for name in ("one", "two"):  # e.g. the schema registry started in one directory, a consumer in another
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        url = Settings().resolved_database_url
        database = make_url(url).database
        assert database is not None
        files.append((url, Path.cwd() / database))  # the file SQLite opens, from this cwd
    (first_url, first_file), (second_url, second_file) = files
    assert first_url == second_url
    assert first_file == second_file
    assert first_file.is_relative_to(Path(platformdirs.user_data_dir("lgsp-hub")).resolve())


def test_relative_data_dir_is_made_absolute_when_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUB_DATA_DIR", "state/../data")
    settings = Settings()
    assert settings.data_dir == tmp_path / "data"
    monkeypatch.chdir("/")  # later uses agree with the directory the settings were read in
    assert settings.resolved_database_url == f"sqlite:///{(tmp_path / 'data' / 'hub.db').as_posix()}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://hub:s3cret@db:5432/hub", "postgresql+psycopg://hub:***@db:5432/hub"),
        ("postgresql+psycopg://hub@db/hub", "postgresql+psycopg://hub@db/hub"),
        ("postgresql://hub:s3cret@db:notaport/hub", "postgresql://hub:***@db:notaport/hub"),
        ("nonsense", "nonsense"),
    ],
)
def test_database_description_hides_the_password(
    monkeypatch: pytest.MonkeyPatch, url: str, shown: str
) -> None:
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    assert Settings().database_description == shown


def test_database_description_of_the_default_sqlite_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    assert Settings().database_description == f"sqlite:///{(tmp_path / 'hub.db').as_posix()}"


def test_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("hub_metrics_port", "9100")
    assert Settings().metrics_port == 9100


def test_unprefixed_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "elsewhere:9092")
    assert Settings().kafka_bootstrap is None


def test_configured_database_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql+psycopg://hub@db:5432/hub"
    monkeypatch.setenv("HUB_DATABASE_URL", url)
    assert Settings().resolved_database_url == url


def test_kafka_client_config_plaintext() -> None:
    assert Settings().kafka_client_config("127.0.0.1:9092") == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "PLAINTEXT",
    }


def test_kafka_client_config_with_sasl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("HUB_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("HUB_KAFKA_SASL_USERNAME", "hub")
    monkeypatch.setenv("HUB_KAFKA_SASL_PASSWORD", "s3cret-value")
    settings = Settings()
    assert settings.kafka_client_config("broker:9093") == {
        "bootstrap.servers": "broker:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "hub",
        "sasl.password": "s3cret-value",
    }
    assert "s3cret-value" not in repr(settings)
    assert "s3cret-value" not in str(settings.model_dump())


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.province_code = "79"  # type: ignore[misc]


def test_get_settings_reads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_CONSUMER_BATCH_SIZE", "10")
    first = get_settings()
    monkeypatch.setenv("HUB_CONSUMER_BATCH_SIZE", "20")
    assert get_settings() is first
    assert first.consumer_batch_size == 10
    get_settings.cache_clear()
    assert get_settings().consumer_batch_size == 20


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HUB_KAFKA_REPLICATION_FACTOR", "0"),
        ("HUB_EMBEDDED_BROKER_PORT", "70000"),
        ("HUB_METRICS_PORT", "-1"),
        ("HUB_PROVINCE_CODE", "Bình Dương"),
        ("HUB_EXCHANGE_MAX_ATTEMPTS", "many"),
        ("HUB_EXCHANGE_TIMEOUT", "0"),
        ("HUB_MAX_RECORD_BYTES", "10"),
    ],
)
def test_get_settings_error_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        get_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}: ")
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, ValidationError)


def test_get_settings_error_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_CONSUMER_BATCH_SIZE", "0")
    with pytest.raises(ConfigError, match="HUB_CONSUMER_BATCH_SIZE"):
        get_settings()
    monkeypatch.setenv("HUB_CONSUMER_BATCH_SIZE", "5")
    assert get_settings().consumer_batch_size == 5
