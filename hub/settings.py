"""The hub's one settings object, read once from the environment (prefix ``HUB_``)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.errors import ConfigError

__all__ = ["Settings", "get_settings", "redacted_url"]

_PASSWORD_IN_URL = re.compile(r"(//[^/:@]*:).*@")


class Settings(BaseSettings):
    """Everything the hub can be told. Unset values mean "use the embedded default"."""

    model_config = SettingsConfigDict(env_prefix="HUB_", frozen=True, extra="ignore")

    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers. Unset: the hub starts its embedded broker.",
    )
    kafka_security_protocol: str = Field(default="PLAINTEXT")
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_replication_factor: int = Field(default=1, ge=1)
    embedded_broker_port: int = Field(
        default=0, ge=0, le=65535, description="Port for the embedded broker; 0 picks a free one."
    )
    broker_start_timeout: float = Field(default=20.0, gt=0)

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("lgsp-hub")),
        validate_default=True,
        description="Where the embedded SQLite file lives; absolute once read, whatever the cwd. "
        "Unset: the user's data directory (e.g. ~/.local/share/lgsp-hub).",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL. Unset: a SQLite file in HUB_DATA_DIR."
    )

    archive_dir: Path | None = Field(
        default=None, description="The auditors' archive of every topic. Unset: HUB_DATA_DIR/archive."
    )
    archive_segment_bytes: int = Field(
        default=64 << 20, ge=4096, description="An archive segment is sealed at this size..."
    )
    archive_segment_seconds: float = Field(default=300.0, gt=0, description="...or at this age.")

    exchange_url: str | None = Field(
        default=None, description="National exchange base URL. Unset: the hub starts its mock."
    )
    exchange_credentials: Path | None = Field(
        default=None,
        description="TOML file with each agency's client id and secret for HUB_EXCHANGE_URL "
        "(unset with the mock: the hub makes fresh ones).",
    )
    exchange_timeout: float = Field(default=10.0, gt=0)
    exchange_max_attempts: int = Field(default=5, ge=1)
    exchange_request_size: int = Field(default=500, ge=1, le=1000, description="Documents per request.")
    exchange_concurrency: int = Field(default=4, ge=1, le=64, description="Requests in flight at once.")
    exchange_circuit_failures: int = Field(
        default=5, ge=1, description="Failures in a row that open the forwarder's circuit breaker."
    )
    exchange_circuit_seconds: float = Field(
        default=1.0,
        gt=0,
        description="First cool-down of an open circuit (doubles per failed probe, to 30 s).",
    )

    schema_registry_url: str | None = Field(
        default=None,
        description="Schema registry base URL for publishers. Unset: schemas come from the hub's database.",
    )
    schema_registry_host: str = "127.0.0.1"
    schema_registry_port: int = Field(default=8081, ge=0, le=65535, description="0 picks a free port.")
    schema_compatibility: str = Field(
        default="BACKWARD",
        pattern=r"^(NONE|BACKWARD|FORWARD|FULL)(_TRANSITIVE)?$",
        description="Global compatibility level of the schema registry until changed through /config.",
    )

    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port.")
    metrics_enabled: bool = Field(
        default=True, description="false: count nothing (what `hub bench --only metrics-cost` compares)."
    )
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(
        default=8090, ge=0, le=65535, description="The live operations page (0 picks a free port)."
    )
    health_max_lag: int = Field(
        default=100_000,
        ge=0,
        description="/health answers 503 when a stage has more records than this waiting on its inputs.",
    )

    province_code: str = Field(default="74", pattern=r"^\d{2,3}$")
    consumer_batch_size: int = Field(
        default=20_000,
        ge=1,
        description="Records per batch in the indicators stage: a batch costs a few statements and "
        "its snapshots, whatever its size.",
    )
    reconcile_batch_size: int = Field(
        default=20_000, ge=1, description="Records per batch in reconciliation (decided in array operations)."
    )
    registry_poll_seconds: float = Field(
        default=2.0, gt=0, description="How often reconciliation reads registry changes (births, deaths…)."
    )
    max_record_bytes: int = Field(default=1_000_000, ge=64)
    indicator_allowed_lateness_days: int = Field(
        default=31,
        ge=0,
        description="A dossier published more days than this after it was received is not counted in "
        "the indicators (it is kept on lgsp.indicators.late and counted in a metric).",
    )

    indicator_tables: bool = Field(
        default=True,
        description="Run the indicators' faust tables (live counts on HTTP) beside the indicators stage.",
    )
    indicator_tables_host: str = "127.0.0.1"
    indicator_tables_port: int = Field(
        default=6066,
        ge=0,
        le=65535,
        description="Port of the faust tables' web view (/indicators/); 0 picks a free one.",
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Resolved once, here: a relative HUB_DATA_DIR means the same directory to every later use,
        # even after a chdir, and commands started in different directories share one database.
        return value.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The database URL to use: the configured one, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hub.db').as_posix()}"

    @property
    def resolved_archive_dir(self) -> Path:
        """Where the archive is kept: the configured directory, or one in HUB_DATA_DIR."""
        return (self.archive_dir or self.data_dir / "archive").expanduser().resolve()

    @property
    def database_description(self) -> str:
        """The database URL for people to read: the password, if any, replaced by ``***``."""
        return redacted_url(self.resolved_database_url)

    def kafka_client_config(self, bootstrap: str) -> dict[str, str]:
        """librdkafka settings shared by every client: address and security, nothing else."""
        config = {
            "bootstrap.servers": bootstrap,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        return config


def redacted_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``: what may be printed or logged."""
    from sqlalchemy.engine import make_url  # here, not at the top: `hub --help` need not load SQLAlchemy
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # not a URL SQLAlchemy reads; still hide what looks like one
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once; a bad value becomes a one-line :class:`ConfigError`."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "HUB_" + "_".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(f"{name}: {first['msg']}") from exc
