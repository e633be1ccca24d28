"""Kafka clients configured once: admin, producer and consumer, with the hub's errors."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from hub.errors import BrokerError, TopicError
from hub.topics import Topic

__all__ = ["KafkaClients"]

_log = logging.getLogger("hub.kafka")

# Group joins take ~23 s with the default 45 s session timeout on Tansu; 6 s/1 s joins in ~3 s.
_CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    "enable.auto.commit": False,
    "enable.partition.eof": True,
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 1000,
}
_PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 20,
    "batch.num.messages": 10000,
    "compression.type": "none",
}


class KafkaClients:
    """Makes the hub's Kafka clients for one cluster; only address and security differ."""

    def __init__(self, base_config: dict[str, str]) -> None:
        self.base_config = dict(base_config)

    @property
    def bootstrap(self) -> str:
        return self.base_config["bootstrap.servers"]

    def _config(self, defaults: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
        return {**self.base_config, "logger": _log, **defaults, **overrides}

    def admin(self) -> AdminClient:
        return AdminClient(self._config({}, {}))

    def producer(self, **overrides: Any) -> Producer:
        return Producer(self._config(_PRODUCER_DEFAULTS, overrides))

    def consumer(self, group: str, **overrides: Any) -> Consumer:
        return Consumer(self._config(_CONSUMER_DEFAULTS, {"group.id": group, **overrides}))

    def check_reachable(self, timeout: float = 10.0) -> None:
        """Raise :class:`BrokerError` unless the cluster answers a metadata request."""
        try:
            self.admin().list_topics(timeout=timeout)
        except KafkaException as exc:
            raise BrokerError(f"cannot reach Kafka at {self.bootstrap}: {exc.args[0].str()}") from exc

    def existing_topics(self, timeout: float = 10.0) -> dict[str, int]:
        """Topic name → partition count, as the cluster reports them."""
        try:
            metadata = self.admin().list_topics(timeout=timeout)
        except KafkaException as exc:
            raise BrokerError(f"cannot reach Kafka at {self.bootstrap}: {exc.args[0].str()}") from exc
        return {name: len(t.partitions) for name, t in metadata.topics.items()}

    def ensure_topics(self, topics: Iterable[Topic], replication: int = 1) -> list[str]:
        """Create the topics that do not exist yet; returns the names created."""
        wanted = [NewTopic(t.name, t.partitions, replication) for t in topics]
        admin = self.admin()  # must outlive the futures
        futures = admin.create_topics(wanted, operation_timeout=10, request_timeout=15)
        created = []
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise TopicError(f"cannot create topic {name!r}: {error.str()}") from exc
        return created
