"""hub.kafka.loop with a pipelined stage, on the real embedded broker: the next batch starts
before the one in flight finishes, batches are committed in order, and a failed batch is read
again together with the batch started after it: nothing skipped."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Message, TopicPartition

from hub.errors import ExchangeError
from hub.kafka.broker import EmbeddedBroker
from hub.kafka.clients import KafkaClients
from hub.kafka.loop import StageRunner
from hub.kafka.stage import OutMessage, PipelinedStage
from hub.topics import Topic

pytestmark = pytest.mark.integration

RECORDS = 3000


class _Pipelined:
    """Copies each value to ``out``; its batch number ``fail_at`` fails once, as an unreachable
    exchange would; starting batch ``start_raises`` raises what the stage does not expect."""

    def __init__(self, inputs: str, out: str, fail_at: int | None = None, start_raises: int | None = None):
        self.name, self.group = "pipelined", f"hub.test.{uuid.uuid4().hex[:8]}"
        self.inputs, self.dead_letters, self.out = (inputs,), f"{inputs}.dead-letters", out
        self.fail_at, self.start_raises = fail_at, start_raises
        self.events: list[tuple[str, int]] = []
        self.started = self.committed_batches = 0

    def start(self, batch: list[Message]) -> Callable[[], list[OutMessage]]:
        n, self.started = self.started, self.started + 1
        if n == self.start_raises:
            raise ValueError("a start that fails")
        self.events.append(("start", n))
        values = [m.value() for m in batch]

        def finish() -> list[OutMessage]:
            self.events.append(("finish", n))
            if n == self.fail_at:
                raise ExchangeError("national exchange is not reachable")
            return [OutMessage(self.out, None, value) for value in values]

        return finish

    def process(self, batch: list[Message]) -> list[OutMessage]:
        return [OutMessage(self.out, None, m.value()) for m in batch]

    def committed(self) -> None:
        self.committed_batches += 1

    def discard(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def clients(broker: EmbeddedBroker) -> KafkaClients:
    return KafkaClients({"bootstrap.servers": broker.bootstrap})


@pytest.fixture
def topics(clients: KafkaClients) -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    source = Topic(f"lgsp.test.pipe-in-{suffix}", 3, "key", None, "pipelined runner input")
    sink = Topic(f"lgsp.test.pipe-out-{suffix}", 1, "key", None, "pipelined runner output")
    clients.ensure_topics([source, sink])
    producer = clients.producer()
    for i in range(RECORDS):
        producer.produce(source.name, f"v{i}".encode(), f"k{i}".encode())
    assert producer.flush(30) == 0
    yield source.name, sink.name


def _run(clients: KafkaClients, stage: _Pipelined) -> StageRunner:
    runner = StageRunner(stage, clients, batch_size=100, retry_pause=0.1, poll_seconds=0.1)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while runner.stats.consumed < RECORDS and time.monotonic() < deadline:
        time.sleep(0.05)
    runner.stop.set()
    thread.join(30)
    assert not thread.is_alive()
    return runner


def _output(clients: KafkaClients, topic: str) -> list[bytes]:
    consumer = clients.consumer(f"hub.test.read-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True})
    consumer.assign([TopicPartition(topic, 0, 0)])
    values: list[bytes] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error():
            break  # the end of the partition
        values.append(message.value())
    consumer.close()
    return values


def _committed(clients: KafkaClients, stage: _Pipelined) -> int:
    consumer = clients.consumer(stage.group)
    offsets = consumer.committed([TopicPartition(stage.inputs[0], p) for p in range(3)], timeout=10)
    consumer.close()
    return sum(max(tp.offset, 0) for tp in offsets)


def test_the_next_batch_starts_before_the_one_in_flight_finishes(
    clients: KafkaClients, topics: tuple[str, str]
) -> None:
    stage = _Pipelined(*topics)
    runner = _run(clients, stage)
    assert runner.stats.consumed == RECORDS and runner.stats.failures == 0
    assert sorted(_output(clients, topics[1])) == sorted(f"v{i}".encode() for i in range(RECORDS))
    assert _committed(clients, stage) == RECORDS
    order = stage.events
    assert [n for kind, n in order if kind == "finish"] == sorted(n for kind, n in order if kind == "finish")
    overlapped = [
        n for n in range(stage.started - 1) if order.index(("start", n + 1)) < order.index(("finish", n))
    ]
    assert overlapped, f"no batch started before the one before it finished: {order[:12]}"


def test_a_failed_batch_is_read_again_with_the_batch_started_after_it(
    clients: KafkaClients, topics: tuple[str, str]
) -> None:
    stage = _Pipelined(*topics, fail_at=3)
    runner = _run(clients, stage)
    assert runner.stats.failures == 1 and runner.stats.consumed == RECORDS
    values = _output(clients, topics[1])
    assert set(values) == {f"v{i}".encode() for i in range(RECORDS)}
    assert len(values) == RECORDS  # the failed batch and the one abandoned after it: produced once
    assert _committed(clients, stage) == RECORDS
    finished = [n for kind, n in stage.events if kind == "finish"]
    assert finished[:5] == [0, 1, 2, 3, 4]  # batch 4, started before 3 failed, was finished (abandoned)


def test_a_start_that_raises_leaves_the_batch_to_the_ordinary_path(
    clients: KafkaClients, topics: tuple[str, str]
) -> None:
    stage = _Pipelined(*topics, start_raises=2)
    runner = _run(clients, stage)
    assert runner.stats.consumed == RECORDS and runner.stats.failures == 0
    assert sorted(_output(clients, topics[1])) == sorted(f"v{i}".encode() for i in range(RECORDS))


def test_the_stand_in_is_a_pipelined_stage() -> None:
    assert isinstance(_Pipelined("a", "b"), PipelinedStage)
