"""hub.audit.replay against the real embedded broker: it stops at the end of every partition;
its time ranges are right although the broker's timestamp look-up always answers offset 0."""

from __future__ import annotations

import base64
import time
import uuid
from collections import Counter
from typing import Any

import pytest

from hub.audit.live import time_offsets
from hub.audit.replay import Span, from_topic, replay_json
from hub.avro.wire import AvroCodec
from hub.kafka.broker import EmbeddedBroker
from hub.kafka.clients import KafkaClients
from hub.topics import Topic

pytestmark = pytest.mark.integration

# Generous against a shared, noisy machine; a replay that waits out its 5 s timeout still fails.
QUICK = 3.0


def _topic(clients: KafkaClients, records: int, partitions: int = 3) -> Topic:
    """A new topic (raw bytes, no schema) holding ``records`` records, sent in multi-record batches."""
    topic = Topic(f"lgsp.test.replay-{uuid.uuid4().hex[:8]}", partitions, "key", None, "replay test")
    clients.ensure_topics([topic])
    producer = clients.producer()
    for i in range(records):
        producer.produce(topic.name, f"value-{i}".encode(), f"key-{i}".encode())
    assert producer.flush(30) == 0
    return topic


def _replay(clients: KafkaClients, topic: Topic, **options: Any) -> tuple[list[dict[str, Any]], int, float]:
    """The records, their count, and the seconds the replay took."""
    started = time.monotonic()
    records = list(replay_json(clients, topic, AvroCodec(lambda _: None), **options))
    return records, len(records), time.monotonic() - started


@pytest.fixture
def clients(broker: EmbeddedBroker) -> KafkaClients:
    return KafkaClients({"bootstrap.servers": broker.bootstrap})


def test_empty_topic_returns_at_once_with_nothing(clients: KafkaClients) -> None:
    records, count, elapsed = _replay(clients, _topic(clients, 0))
    assert records == [] and count == 0
    assert elapsed < 2.0


def test_limit_returns_that_many_quickly(clients: KafkaClients) -> None:
    records, count, elapsed = _replay(clients, _topic(clients, 20), limit=2)
    assert len(records) == 2 and count == 2
    assert elapsed < QUICK


def test_reads_every_partition_to_its_end(clients: KafkaClients) -> None:
    topic = _topic(clients, 300)
    records, count, elapsed = _replay(clients, topic)
    assert count == 300
    assert sorted(r["value_base64"] for r in records) == sorted(
        base64.b64encode(f"value-{i}".encode()).decode() for i in range(300)
    )
    per_partition = Counter(r["partition"] for r in records)
    assert set(per_partition) == {0, 1, 2}
    for partition, n in per_partition.items():  # each partition from offset 0 to its end, once
        offsets = sorted(r["offset"] for r in records if r["partition"] == partition)
        assert offsets == list(range(n))
    assert elapsed < QUICK


def test_from_offset_reads_the_rest_of_each_partition(clients: KafkaClients) -> None:
    topic = _topic(clients, 60)
    everything, _, _ = _replay(clients, topic)
    per_partition = Counter(r["partition"] for r in everything)
    records, count, elapsed = _replay(clients, topic, from_offset=5)
    assert count == sum(max(n - 5, 0) for n in per_partition.values())
    assert all(r["offset"] >= 5 for r in records)
    assert elapsed < QUICK


def test_from_offset_past_the_end_returns_at_once_with_nothing(clients: KafkaClients) -> None:
    records, count, elapsed = _replay(clients, _topic(clients, 30), from_offset=1000)
    assert records == [] and count == 0
    assert elapsed < QUICK


DAY = 86_400_000
WEEK_START = 1_793_466_000_000  # 2026-11-01T00:00 Vietnam time, in ms


def _week(clients: KafkaClients, per_day: int = 40) -> tuple[Topic, list[tuple[int, int]]]:
    """A topic holding a week of records, ``per_day`` a day, stamped in order; (index, ms) of each."""
    topic = Topic(f"lgsp.test.week-{uuid.uuid4().hex[:8]}", 3, "key", None, "replay test")
    clients.ensure_topics([topic])
    producer = clients.producer()
    stamped = []
    for i in range(7 * per_day):
        ms = WEEK_START + i * (DAY // per_day)
        producer.produce(topic.name, f"value-{i}".encode(), f"key-{i}".encode(), timestamp=ms)
        stamped.append((i, ms))
    assert producer.flush(30) == 0
    return topic, stamped


def test_a_time_range_reads_exactly_its_records_though_the_broker_answers_offset_0(
    clients: KafkaClients,
) -> None:
    topic, stamped = _week(clients)
    start, end = WEEK_START + 2 * DAY + DAY // 3, WEEK_START + 4 * DAY
    got = [r.value for r in from_topic(clients, topic.name, Span(from_ms=start, to_ms=end))]
    expected = [f"value-{i}".encode() for i, ms in stamped if start <= ms < end]
    assert sorted(got) == sorted(expected) and len(got) == len(set(got)) > 0


def test_time_ranges_at_the_edges(clients: KafkaClients) -> None:
    topic, stamped = _week(clients, per_day=10)
    assert list(from_topic(clients, topic.name, Span(from_ms=WEEK_START + 8 * DAY))) == []  # after the end
    assert list(from_topic(clients, topic.name, Span(to_ms=WEEK_START))) == []  # before the start
    every = list(from_topic(clients, topic.name, Span(from_ms=WEEK_START - DAY)))
    assert len(every) == len(stamped)
    first_day = time_offsets(clients, topic.name, 3, WEEK_START + DAY)
    assert all(offset is not None and offset > 0 for offset in first_day.values())
