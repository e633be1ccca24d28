"""Read a topic from an offset and print its records as JSON lines (auditors' first look)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from confluent_kafka import KafkaError, Message, TopicPartition

from hub.avro.wire import AvroCodec, jsonable
from hub.errors import RecordDecodeError, TopicError
from hub.kafka.clients import KafkaClients
from hub.topics import Topic

__all__ = ["message_to_json", "replay"]


def message_to_json(message: Message, topic: Topic, codec: AvroCodec) -> dict[str, Any]:
    """A message as a JSON-ready dict: position, key, headers and the decoded value."""
    out: dict[str, Any] = {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp_ms": message.timestamp()[1],
        "key": message.key().decode(errors="replace") if message.key() else None,
        "headers": {k: (v or b"").decode(errors="replace") for k, v in message.headers() or []},
    }
    value = message.value()
    if topic.value_schema is None:
        out["value_base64"] = base64.b64encode(value or b"").decode()
        return out
    try:
        schema_id, record = codec.decode(value)
        out["schema_id"], out["value"] = schema_id, jsonable(record)
    except RecordDecodeError as exc:
        out["decode_error"] = {"reason": exc.reason, "message": str(exc)}
        out["value_base64"] = base64.b64encode(value or b"").decode()
    return out


def replay(
    clients: KafkaClients,
    topic: Topic,
    codec: AvroCodec,
    from_offset: int = 0,
    limit: int | None = None,
    timeout: float = 5.0,
) -> Iterator[dict[str, Any]]:
    """Records of ``topic`` from ``from_offset`` in every partition, until the end or ``limit``."""
    partitions = clients.existing_topics().get(topic.name)
    if partitions is None:
        raise TopicError(f"topic {topic.name!r} does not exist on {clients.bootstrap}")
    consumer = clients.consumer("hub.replay", **{"enable.auto.commit": False})
    consumer.assign([TopicPartition(topic.name, p, from_offset) for p in range(partitions)])
    remaining, produced = set(range(partitions)), 0
    try:
        while remaining and (limit is None or produced < limit):
            messages = consumer.consume(500, timeout)
            if not messages:
                break
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(message.partition())
                    continue
                yield message_to_json(message, topic, codec)
                produced += 1
                if limit is not None and produced >= limit:
                    return
    finally:
        consumer.close()
