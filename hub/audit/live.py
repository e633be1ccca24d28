"""Reading a live topic for auditors: by offset range, or by time range found by timestamps.

A partition's end is where the broker's fetches say it is: the end-of-partition event, or the
high watermark of the last fetch. The high watermark is not asked for beforehand: the embedded
broker (Tansu 0.6) answers ListOffsets with the first offset of its last record batch plus one,
which would end a read early.

Time ranges: Kafka's timestamp index (``offsets_for_times``) answers the first offset whose
timestamp is at or after a time; the embedded broker always answers offset 0. So the answer is
checked where it lands (the record before it must be earlier, the record at it not) and, when it
is wrong, the first such offset is searched for by bisection, each probe fetching one record.
Like Kafka's index, this takes a partition's timestamps to rise with its offsets (the hub's
producers stamp records as they send them); records inside the offset range whose timestamp
falls outside the time range are dropped as well.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from typing import cast

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, Message, TopicPartition

from hub.errors import BrokerError, TopicError
from hub.kafka.clients import KafkaClients

__all__ = ["partitions_of", "read", "time_offsets"]

_log = logging.getLogger("hub.audit")
_BATCH = 500  # records taken from the client at once
_IDLE_CHECK = 0.1  # seconds without a record before looking at the fetched high watermarks
_READ = {"enable.auto.commit": False, "enable.partition.eof": True, "fetch.wait.max.ms": 50}


def partitions_of(clients: KafkaClients, topic: str) -> int:
    """How many partitions ``topic`` has; :class:`TopicError` if it does not exist."""
    partitions = clients.existing_topics().get(topic)
    if partitions is None:
        raise TopicError(f"topic {topic!r} does not exist on {clients.bootstrap}")
    return partitions


def read(
    clients: KafkaClients,
    topic: str,
    starts: Mapping[int, int],
    ends: Mapping[int, int | None] | None = None,
    timeout: float = 5.0,
) -> Iterator[Message]:
    """The records of ``topic`` from ``starts[p]`` up to (not including) ``ends[p]`` (None or
    absent: the partition's end) in each partition of ``starts``, as they arrive.

    Returns as soon as every partition is read to its end; ``timeout`` bounds only a wait in
    which the broker sends nothing at all.
    """
    ends = ends or {}
    pending = {p for p, start in starts.items() if ends.get(p) is None or start < cast(int, ends.get(p))}
    if not pending:
        return
    # assign(), not subscribe(): no consumer-group join, which is slow on Tansu. An empty
    # fetch (how the end shows) comes back after fetch.wait.max.ms: kept short.
    consumer = clients.consumer("hub.audit", **_READ)
    consumer.assign([TopicPartition(topic, p, starts[p]) for p in sorted(pending)])
    next_offset = {p: starts[p] for p in pending}
    idle_since = time.monotonic()
    try:
        while pending:
            first = consumer.poll(_IDLE_CHECK)  # back with the first record or event
            if first is None:
                pending -= {p for p in pending if _past_end(consumer, topic, p, next_offset[p])}
                if time.monotonic() - idle_since > timeout:
                    break
                continue
            idle_since = time.monotonic()
            for message in [first, *consumer.consume(_BATCH, 0)]:  # and whatever else is here
                partition = cast(int, message.partition())
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard(partition)
                    else:
                        _log.warning("reading %s: %s", topic, error.str())
                    continue
                if partition not in pending:
                    continue
                offset = cast(int, message.offset())
                end = ends.get(partition)
                if end is not None and offset >= end:
                    pending.discard(partition)
                    consumer.incremental_unassign([TopicPartition(topic, partition)])
                    continue
                next_offset[partition] = offset + 1
                yield message
                if end is not None and offset + 1 >= end:
                    pending.discard(partition)
                    consumer.incremental_unassign([TopicPartition(topic, partition)])
    finally:
        consumer.close()


def _past_end(consumer: Consumer, topic: str, partition: int, next_offset: int) -> bool:
    """Whether ``next_offset`` is at or past the high watermark the last fetch reported."""
    _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
    return bool(high >= 0 and next_offset >= high)


class _Probe:
    """Reads the first record at or after an offset of one partition, one at a time."""

    def __init__(self, clients: KafkaClients, topic: str, timeout: float) -> None:
        self.topic, self.timeout = topic, timeout
        self.consumer = clients.consumer("hub.audit", **_READ)
        self.probes = 0

    def timestamp_at(self, partition: int, offset: int) -> tuple[int, int] | None:
        """(offset, timestamp) of the first record at or after ``offset``, None past the end."""
        self.probes += 1
        self.consumer.assign([TopicPartition(self.topic, partition, offset)])
        deadline = time.monotonic() + self.timeout
        try:
            while time.monotonic() < deadline:
                message = self.consumer.poll(_IDLE_CHECK)
                if message is None:
                    if _past_end(self.consumer, self.topic, partition, offset):
                        return None
                    continue
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return None
                    continue
                if message.partition() == partition and cast(int, message.offset()) >= offset:
                    return cast(int, message.offset()), message.timestamp()[1]
            raise BrokerError(f"no answer from the broker reading {self.topic}[{partition}] at {offset}")
        finally:
            self.consumer.unassign()

    def close(self) -> None:
        self.consumer.close()


def time_offsets(
    clients: KafkaClients, topic: str, partitions: int, at_ms: int, timeout: float = 10.0
) -> dict[int, int | None]:
    """For each partition, the first offset whose record's timestamp is at or after ``at_ms``
    (None: no record that late; the read of a range then stops at the partition's end)."""
    consumer = clients.consumer("hub.audit", **_READ)
    try:
        asked = [TopicPartition(topic, p, at_ms) for p in range(partitions)]
        answered = {tp.partition: tp.offset for tp in consumer.offsets_for_times(asked, timeout)}
    except KafkaException as exc:
        raise BrokerError(f"the broker cannot look up times in {topic}: {exc.args[0].str()}") from exc
    finally:
        consumer.close()
    probe = _Probe(clients, topic, timeout)
    try:
        return {p: _checked(probe, p, answered.get(p, OFFSET_END), at_ms) for p in range(partitions)}
    finally:
        probe.close()


def _checked(probe: _Probe, partition: int, answer: int, at_ms: int) -> int | None:
    """``answer`` if the records around it say it is right, else the offset found by bisection."""
    if answer >= 0:
        here = probe.timestamp_at(partition, answer)
        if here is not None and here[1] >= at_ms:
            before = probe.timestamp_at(partition, answer - 1) if answer > 0 else None
            if before is None or before[0] >= answer or before[1] < at_ms:
                return here[0]
    # Every record before ``low`` is earlier than at_ms; the first record at or after ``high``
    # is not (or there is none). The end is not known beforehand: ``high`` is found by doubling.
    low, high, step = 0, None, 1
    while high is None:
        here = probe.timestamp_at(partition, low + step - 1)
        if here is None or here[1] >= at_ms:
            high = low + step - 1
        else:
            low, step = here[0] + 1, step * 2
    while low < high:
        middle = (low + high) // 2
        here = probe.timestamp_at(partition, middle)
        if here is None or here[1] >= at_ms:
            high = middle
        else:
            low = min(here[0] + 1, high)
    here = probe.timestamp_at(partition, low)
    return None if here is None else here[0]
