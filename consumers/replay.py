"""Read a topic from an offset and print its records as JSON lines (auditors' first look)."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from hub.avro.wire import AvroCodec, jsonable
from hub.errors import RecordDecodeError, TopicError
from hub.kafka.clients import KafkaClients
from hub.topics import INDICATORS_COUNTS, Topic

__all__ = ["message_to_json", "replay"]

_log = logging.getLogger("hub.replay")
_BATCH = 500  # records taken from the client at once
_IDLE_CHECK = 0.1  # seconds without a record before looking at the fetched high watermarks


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
    if topic == INDICATORS_COUNTS:  # the hub's own JSON
        out["value"] = json.loads(value or b"null")
        return out
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
    on_done: Callable[[int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Records of ``topic`` from ``from_offset`` in every partition, until the end or ``limit``.

    Returns as soon as every partition has been read to its end (or ``limit`` records are
    out); ``timeout`` only bounds a wait in which the broker sends nothing at all. Once the
    replay has finished, ``on_done`` is called with the number of records it yielded.

    A partition's end is where the broker's fetches say it is: the end-of-partition event, or
    the high watermark of the last fetch (when ``from_offset`` is past the end there is no
    event). The high watermark is not asked for beforehand: the embedded broker (Tansu 0.6)
    answers ListOffsets with the first offset of its last record batch plus one, which would
    end a replay early.
    """
    partitions = clients.existing_topics().get(topic.name)
    if partitions is None:
        raise TopicError(f"topic {topic.name!r} does not exist on {clients.bootstrap}")
    # assign(), not subscribe(): no consumer-group join, which is slow on Tansu. An empty
    # fetch (how the end shows) comes back after fetch.wait.max.ms: keep that short.
    overrides = {"enable.auto.commit": False, "enable.partition.eof": True, "fetch.wait.max.ms": 50}
    consumer = clients.consumer("hub.replay", **overrides)
    consumer.assign([TopicPartition(topic.name, p, from_offset) for p in range(partitions)])
    next_offset = dict.fromkeys(range(partitions), from_offset)
    pending, produced = set(next_offset), 0
    idle_since = time.monotonic()
    try:
        while pending and (limit is None or produced < limit):
            first = consumer.poll(_IDLE_CHECK)  # back with the first record or event
            if first is None:
                pending -= {p for p in pending if _past_end(consumer, topic.name, p, next_offset[p])}
                if time.monotonic() - idle_since > timeout:
                    break
                continue
            idle_since = time.monotonic()
            wanted = _BATCH if limit is None else min(_BATCH, limit - produced)
            for message in [first, *consumer.consume(wanted, 0)]:  # and whatever else is here
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(message.partition())
                    else:
                        _log.warning("replay of %s: %s", topic.name, error.str())
                    continue
                next_offset[cast(int, message.partition())] = cast(int, message.offset()) + 1
                yield message_to_json(message, topic, codec)
                produced += 1
                if limit is not None and produced >= limit:
                    break
    finally:
        consumer.close()
    if on_done is not None:
        on_done(produced)


def _past_end(consumer: Consumer, topic: str, partition: int, next_offset: int) -> bool:
    """Whether ``next_offset`` is at or past the high watermark the last fetch reported."""
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
    return bool(high >= 0 and next_offset >= high)
