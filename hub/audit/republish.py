"""Re-publishing records into another topic, for re-processing (``hub replay --to-topic``)."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, Message

from hub.audit.records import Row
from hub.errors import BrokerError
from hub.kafka.clients import KafkaClients
from hub.topics import Topic

__all__ = ["republish"]


def republish(clients: KafkaClients, rows: Iterable[Row], topic: str, partitions: int) -> int:
    """Produce every row's record (key, value, headers, timestamp, partition) into ``topic``,
    created with ``partitions`` partitions if absent; returns how many the broker acknowledged."""
    clients.ensure_topics([Topic(topic, partitions, "as the source", None, "re-published by hub replay")])
    have = clients.existing_topics().get(topic, partitions)
    producer = clients.producer()
    failures: list[str] = []

    def delivered(error: KafkaError | None, _: Message) -> None:
        if error is not None:
            failures.append(error.str())

    sent = 0
    for row in rows:
        record = row.record
        while True:
            try:
                producer.produce(
                    topic,
                    record.value,
                    record.key,
                    partition=record.partition % have,
                    timestamp=record.timestamp or 0,
                    headers=list(record.headers),
                    on_delivery=delivered,
                )
                break
            except BufferError:
                producer.poll(0.1)
        sent += 1
        producer.poll(0)
    left = producer.flush(60)
    if left or failures:
        raise BrokerError(
            f"re-publishing into {topic}: {len(failures) or left} of {sent:,} records not acknowledged: "
            f"{failures[0] if failures else 'flush timed out'}"
        )
    return sent
