"""The thin loop around a stream-processing stage: consume, process, produce, commit.

Delivery is at-least-once: a batch's offsets are committed only after every output of the
batch (dead letters included) has been acknowledged by the broker. A failure of the
infrastructure rewinds to the batch's first offsets and tries again after a pause, so nothing
is skipped; a record the stage cannot process is dead-lettered (see :mod:`hub.kafka.stage`).

A :class:`~hub.kafka.stage.PipelinedStage` has one batch in flight while the next is started:
the loop takes what has arrived, starts it, then finishes, produces and commits the batch
before it. Batches are finished and committed in order; when one fails, the one started after
it is finished and dropped too, and both are read again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from hub.errors import BrokerError
from hub.kafka.clients import KafkaClients
from hub.kafka.stage import (
    INFRASTRUCTURE,
    UNPROCESSABLE,
    Finish,
    OutMessage,
    Outputs,
    PipelinedStage,
    Stage,
    offset,
    position,
    process_isolating,
)
from hub.metrics import HubMetrics
from hub.topics import POSITIONS

__all__ = ["StageRunner", "StageStats"]

_log = logging.getLogger("hub.stage")


@dataclass(frozen=True, slots=True)
class _Started:
    """A batch a pipelined stage has begun, and how to finish it."""

    batch: list[Message]
    finish: Finish
    at: float


@dataclass
class StageStats:
    """What a running stage has done; read by the demo and the health check."""

    consumed: int = 0
    produced: int = 0
    batches: int = 0
    failures: int = 0
    last_error: str | None = None
    assigned: set[tuple[str, int]] = field(default_factory=set)
    at_end: set[tuple[str, int]] = field(default_factory=set)

    @property
    def caught_up(self) -> bool:
        """True when every assigned partition has been read to its end."""
        return bool(self.assigned) and self.assigned <= self.at_end


class StageRunner:
    """Runs one :class:`Stage` until ``stop`` is set; meant for a thread or a process."""

    def __init__(
        self,
        stage: Stage,
        clients: KafkaClients,
        *,
        batch_size: int = 2000,
        stop: threading.Event | None = None,
        retry_pause: float = 1.0,
        metrics: HubMetrics | None = None,
        poll_seconds: float = 0.5,
    ) -> None:
        self.stage = stage
        self.clients = clients
        self.batch_size = batch_size
        self.stop = stop or threading.Event()
        self.retry_pause = retry_pause
        self.poll_seconds = poll_seconds  # the longest a partial batch waits to fill
        self.stats = StageStats()
        self.metrics = metrics or HubMetrics()
        # Series that alerts read exist, at 0, before anything fails.
        self.metrics.stage_failures.labels(stage.name)
        self.metrics.dead_letters.labels(stage.name, UNPROCESSABLE)
        self._delivery_errors: list[str] = []
        self._lag_at = 0.0
        # The archiver reads lgsp.positions itself: it marks nothing, or it would never idle.
        self.marks_positions = getattr(stage, "marks_positions", True)

    def run(self) -> None:
        """Consume and process until stopped; closes its clients on the way out."""
        # A fetch the broker holds for want of data adds to every record's latency: no longer than
        # half the time a partial batch may wait.
        wait_ms = max(10, min(500, int(self.poll_seconds * 500)))
        consumer = self.clients.consumer(self.stage.group, **{"fetch.wait.max.ms": wait_ms})
        # Failed deliveries are all the loop needs to hear about, through one producer-wide callback.
        producer = self.clients.producer(
            **{"delivery.report.only.error": True, "on_delivery": self._on_delivery}
        )
        consumer.subscribe(list(self.stage.inputs), on_assign=self._on_assign, on_revoke=self._on_revoke)
        pipelined = isinstance(self.stage, PipelinedStage)
        in_flight: _Started | None = None
        try:
            while not self.stop.is_set():
                waited = time.perf_counter()
                # With a batch in flight, take only what has arrived: finish it as soon as nothing waits.
                messages = consumer.consume(self.batch_size, 0 if in_flight else self.poll_seconds)
                batch = self._records(messages)
                self._report_lag(consumer)
                if batch:
                    _log.debug(
                        "%s: %d records after %.3f s",
                        self.stage.name,
                        len(batch),
                        time.perf_counter() - waited,
                    )
                if not pipelined:
                    if batch:
                        self._handle(batch, consumer, producer)
                    continue
                started = self._start(batch) if batch else None
                if in_flight is not None:
                    failure = self._complete(in_flight, consumer, producer)
                    if failure is not None:
                        rewind = in_flight.batch
                        if started is not None:  # nothing may be committed past the failed batch
                            self._abandon(started)
                            rewind = rewind + started.batch
                            started = None
                        self.stage.discard()
                        self._retry_later(rewind, consumer, failure)
                in_flight = started
            if in_flight is not None:
                self._complete(in_flight, consumer, producer)
        finally:
            producer.flush(10)
            consumer.close()

    def _report_lag(self, consumer: Consumer) -> None:
        """``hub_consumer_lag_records`` of each assigned partition, at most once a second: the end
        the last fetch saw minus the next offset to read (no call to the broker)."""
        now = time.monotonic()
        if now - self._lag_at < 1.0:
            return
        self._lag_at = now
        try:
            for tp in consumer.position(consumer.assignment()):
                _, high = consumer.get_watermark_offsets(tp, cached=True)
                if high >= 0 and tp.offset >= 0:
                    lag = self.metrics.consumer_lag.labels(self.stage.group, tp.topic, str(tp.partition))
                    lag.set(max(high - tp.offset, 0))
        except KafkaException as exc:
            _log.debug("%s: no lag this time: %s", self.stage.name, exc)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.stats.assigned |= {(p.topic, p.partition) for p in partitions}

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(p.topic, p.partition) for p in partitions}
        self.stats.assigned -= gone
        self.stats.at_end -= gone

    def _records(self, messages: list[Message]) -> list[Message]:
        batch = [m for m, error in zip(messages, map(Message.error, messages), strict=True) if error is None]
        if self.stats.at_end and batch:
            self.stats.at_end -= {position(message) for message in batch}
        if len(batch) < len(messages):
            for message in messages:
                error = message.error()
                if error is None:
                    self.stats.at_end.discard(position(message))
                elif error.code() == KafkaError._PARTITION_EOF:
                    self.stats.at_end.add(position(message))
                else:
                    _log.warning("%s: consumer error: %s", self.stage.name, error.str())
        return batch

    def _handle(self, batch: list[Message], consumer: Consumer, producer: Producer) -> None:
        started = _Started(batch, lambda: process_isolating(self.stage, batch), time.perf_counter())
        failure = self._complete(started, consumer, producer)
        if failure is not None:
            self.stage.discard()
            self._retry_later(batch, consumer, failure)

    def _start(self, batch: list[Message]) -> _Started:
        """Begin ``batch`` on the pipelined stage; a start that raises is left for the finish,
        which processes the batch the ordinary way and says what is wrong."""
        stage = cast(PipelinedStage, self.stage)
        at = time.perf_counter()
        try:
            finish = stage.start(batch)
        except Exception as exc:
            _log.debug("%s: starting a batch of %d failed: %s", stage.name, len(batch), exc)
            return _Started(batch, lambda: process_isolating(stage, batch), at)

        def complete() -> Sequence[OutMessage]:
            try:
                return finish()
            except INFRASTRUCTURE:
                raise
            except Exception as exc:
                _log.warning("%s: finishing a batch of %d failed (%s)", stage.name, len(batch), exc)
                stage.discard()
                return process_isolating(stage, batch)

        return _Started(batch, complete, at)

    def _abandon(self, started: _Started) -> None:
        """Wait for a started batch and drop what it did: it is to be read again."""
        try:
            started.finish()
        except Exception as exc:
            _log.debug("%s: abandoned batch: %s", self.stage.name, exc)

    def _complete(self, started: _Started, consumer: Consumer, producer: Producer) -> Exception | None:
        """Finish a batch, produce its outputs and commit it; the failure of the infrastructure
        that stopped it, if one did (the caller rewinds)."""
        batch = started.batch
        try:
            outputs = Outputs.of(started.finish())
            self._produce(producer, outputs)
        except INFRASTRUCTURE as exc:
            return exc
        reached = _reached(batch)
        if self.marks_positions:
            self._mark(producer, reached)
        self._commit(consumer, reached)
        self.stage.committed()
        self._count(batch, outputs)
        self.stats.consumed += len(batch)
        self.stats.produced += len(outputs)
        self.stats.batches += 1
        took = time.perf_counter() - started.at
        self.metrics.stage_batch_seconds.labels(self.stage.name).observe(took)
        _log.debug("%s: batch of %d done in %.3f s", self.stage.name, len(batch), took)
        return None

    def _count(self, batch: list[Message], outputs: Outputs) -> None:
        name = self.stage.name
        for topic, n in Counter(map(Message.topic, batch)).items():
            self.metrics.stage_consumed.labels(name, topic).inc(n)
        produced = Counter(outputs.topics)
        for topic, n in produced.items():
            self.metrics.stage_produced.labels(name, topic).inc(n)
        dead = self.stage.dead_letters
        if dead in produced:
            rows = zip(outputs.topics, outputs.headers, strict=True)
            reasons = Counter(_reason(headers) for topic, headers in rows if topic == dead)
            for reason, n in reasons.items():
                self.metrics.dead_letters.labels(name, reason).inc(n)

    def _produce(self, producer: Producer, outputs: Outputs) -> None:
        self._delivery_errors.clear()
        produce = producer.produce
        if outputs.timestamps is not None:
            stamped = zip(
                outputs.topics, outputs.values, outputs.keys, outputs.headers, outputs.timestamps, strict=True
            )
            for topic, value, key, headers, timestamp in stamped:
                while True:
                    try:
                        produce(topic, value, key, headers=headers, timestamp=max(timestamp, 0))
                        break
                    except BufferError:  # local queue full: let deliveries drain, then retry
                        producer.poll(0.1)
        rows = zip(outputs.topics, outputs.values, outputs.keys, outputs.headers, strict=True)
        for topic, value, key, headers in rows if outputs.timestamps is None else ():
            while True:
                try:
                    if headers is None:
                        produce(topic, value, key)
                    else:
                        produce(topic, value, key, headers=headers)
                    break
                except BufferError:  # local queue full: let deliveries drain, then retry
                    producer.poll(0.1)
        remaining = producer.flush(30)
        if remaining or self._delivery_errors:
            detail = self._delivery_errors[0] if self._delivery_errors else "flush timed out"
            raise BrokerError(
                f"{self.stage.name}: {len(self._delivery_errors) or remaining} "
                f"outputs not delivered: {detail}"
            )

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._delivery_errors.append(f"{message.topic()}: {error.str()}")

    def _mark(self, producer: Producer, reached: dict[tuple[str, int], int]) -> None:
        """Say on ``lgsp.positions`` where the group has got to, once the outputs are delivered:
        a restore from the archive commits it (a marker is never ahead of what was delivered).
        A marker that cannot be delivered is logged, not retried: the next batch's says more."""
        offsets: dict[str, dict[str, int]] = {}
        for (topic, partition), next_offset in reached.items():
            offsets.setdefault(topic, {})[str(partition)] = next_offset
        body = {"group": self.stage.group, "stage": self.stage.name, "offsets": offsets}
        try:
            producer.produce(
                POSITIONS.name, orjson.dumps(body), self.stage.group.encode(), on_delivery=_marked
            )
        except (BufferError, KafkaException) as exc:
            _log.warning("%s: position not marked: %s", self.stage.name, exc)
            return
        producer.flush(30)

    def _commit(self, consumer: Consumer, reached: dict[tuple[str, int], int]) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in reached.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # The outputs are out; after a rebalance the next owner re-reads from the last
            # commit and downstream de-duplicates by record id.
            _log.warning("%s: commit failed: %s", self.stage.name, exc.args[0].str())

    def _retry_later(self, batch: list[Message], consumer: Consumer, exc: Exception) -> None:
        self.stats.failures += 1
        self.metrics.stage_failures.labels(self.stage.name).inc()
        self.stats.last_error = str(exc)
        _log.warning("%s: batch failed, will retry: %s", self.stage.name, exc)
        first: dict[tuple[str, int], int] = {}
        for message in batch:
            first.setdefault(position(message), offset(message))
        for (topic, partition), start in first.items():
            try:
                consumer.seek(TopicPartition(topic, partition, start))
            except KafkaException as seek_error:
                _log.warning("%s: seek failed: %s", self.stage.name, seek_error)
        self.stop.wait(self.retry_pause)


def _reached(batch: list[Message]) -> dict[tuple[str, int], int]:
    """The next offset of each partition of ``batch``: what a commit of it says."""
    # A partition's messages come in offset order: the last one seen is the one that counts.
    at = zip(map(Message.topic, batch), map(Message.partition, batch), strict=True)
    last = cast(dict[tuple[str, int], int], dict(zip(at, map(Message.offset, batch), strict=True)))
    return {position: o + 1 for position, o in last.items()}


def _marked(error: KafkaError | None, message: Message) -> None:
    if error is not None:
        _log.warning("position marker for %s not delivered: %s", message.key(), error.str())


def _reason(headers: Sequence[tuple[str, str | bytes | None]] | None) -> str:
    """The ``__hub.errors.reason`` header of a dead letter."""
    value = dict(headers or ()).get("__hub.errors.reason") or ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
