"""Bring up what the hub needs: a broker (embedded unless configured), the database, topics, schemas."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Engine

from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.db import connect
from hub.kafka.broker import EmbeddedBroker
from hub.kafka.clients import KafkaClients
from hub.schema_store import RegisteredSchema, SchemaStore
from hub.settings import Settings
from hub.topics import ALL_TOPICS

__all__ = ["Runtime", "register_hub_schemas"]

_log = logging.getLogger("hub.runtime")


class Runtime:
    """The hub's connections for one process; a context manager that cleans up after itself."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.broker: EmbeddedBroker | None = None
        self._stack = ExitStack()
        self.schema_ids: dict[str, RegisteredSchema] = {}
        # The national exchange: the configured one, or the mock the composition root starts.
        self.exchange_url: str | None = settings.exchange_url
        # Each agency's credentials there (agency → Credential-like, with client_id and client_secret):
        # given by the composition root for the mock it starts; else the forwarder reads them from settings.
        self.exchange_credentials: dict[str, Any] | None = None

    def __enter__(self) -> Runtime:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self) -> None:
        s = self.settings
        if s.kafka_bootstrap:
            bootstrap = s.kafka_bootstrap
        else:
            self.broker = self._stack.enter_context(
                EmbeddedBroker(s.embedded_broker_port, start_timeout=s.broker_start_timeout)
            )
            bootstrap = self.broker.bootstrap
            _log.info("embedded broker listening on %s", bootstrap)
        self.clients = KafkaClients(s.kafka_client_config(bootstrap))
        if s.kafka_bootstrap:
            self.clients.check_reachable()
        self.engine: Engine = connect(s.resolved_database_url)
        self._stack.callback(self.engine.dispose)
        self.schemas = SchemaStore(self.engine)
        self.codec = AvroCodec(self.schemas.schema_text, s.max_record_bytes)

    def prepare(self) -> list[str]:
        """Create missing topics and register the hub's schemas; returns the topics created."""
        created = self.clients.ensure_topics(ALL_TOPICS, self.settings.kafka_replication_factor)
        self.schema_ids = register_hub_schemas(self.schemas)
        return created

    def schema_id(self, name: str) -> int:
        """Registered id of the hub schema ``name`` (after :meth:`prepare`)."""
        return self.schema_ids[name].schema_id

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()


def register_hub_schemas(store: SchemaStore) -> dict[str, RegisteredSchema]:
    """Register the schema of every declared topic under its subject (``<topic>-value``).

    Registering what is already registered changes nothing, so every process that starts does
    it: an agency then finds its department's subject, and cannot create an unrelated version 1.
    """
    catalog = get_catalog()
    return {
        topic.value_schema: store.register(topic.subject, catalog.text(topic.value_schema))
        for topic in ALL_TOPICS
        if topic.value_schema
    }
