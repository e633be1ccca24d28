"""Putting the archive back on a broker (``hub archive restore``): after a broker restart lost its
records (the embedded broker keeps them in memory), or onto a new cluster.

1. Every record of the archive's latest incarnation (the broker as it was last) is produced
   again, in archive order, into the same topic and partition, with its key, value, headers and
   timestamp. Into empty partitions, in order, a record lands at the offset it had (the archive
   holds every offset from 0); where it cannot (the archive began after records were gone), the
   offsets that moved are translated below, and the archive starts a new incarnation.
2. Each consumer group is committed where it had got to, so the hub carries on and reprocesses
   nothing: a stage's position is the last marker it left on ``lgsp.positions`` (written once a
   batch's outputs were delivered, before its commit; see :mod:`hub.kafka.loop`); the
   archiver's is the end of everything restored, which it holds already.

A partition that already holds records is refused: restore goes into an empty broker.
"""

from __future__ import annotations

import bisect
import json
import logging
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from hub.archive.reader import archive_records, latest_incarnation, partitions_held
from hub.archive.segments import ArchiveWriter
from hub.errors import ArchiveError, BrokerError
from hub.kafka.clients import KafkaClients
from hub.topics import ALL_TOPICS, POSITIONS, Group, Topic

__all__ = ["Restored", "restore"]

_log = logging.getLogger("hub.audit")
_DECLARED = {topic.name: topic for topic in ALL_TOPICS}
Position = tuple[str, int]


@dataclass
class Restored:
    """What a restore did: records per topic, the offsets committed per group, what moved."""

    incarnation: int
    records: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[Position, int]] = field(default_factory=dict)
    moved: int = 0  # records that could not keep their offset
    new_incarnation: bool = False

    @property
    def total(self) -> int:
        return sum(self.records.values())


class _Offsets:
    """Where each archived record of a partition landed: old offset → new."""

    def __init__(self) -> None:
        self.old, self.new = array("q"), array("q")

    def translate(self, next_old: int) -> int:
        """The new offset a consumer positioned at old ``next_old`` is at."""
        i = bisect.bisect_left(self.old, next_old)
        if i < len(self.old):
            return self.new[i]
        return self.new[-1] + 1 if self.new else 0


def restore(
    clients: KafkaClients,
    directory: Path,
    *,
    incarnation: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Restored:
    """Produce the archive's records of ``incarnation`` (default: the latest) into the broker and
    commit every consumer group where it had got to; see the module doc."""
    incarnation = incarnation or latest_incarnation(directory)
    done = Restored(incarnation)
    partitions = partitions_held(directory, incarnation)  # what is there, from the manifests
    if not partitions:
        raise ArchiveError(f"the archive {directory} holds no records of incarnation {incarnation}")
    _prepare(clients, partitions)
    landed: dict[Position, _Offsets] = {}
    markers: dict[str, dict[Position, int]] = {}
    failures: list[str] = []
    producer = clients.producer(**{"enable.idempotence": True, "linger.ms": 20})

    def delivered(offsets: _Offsets, old: int) -> Callable[[KafkaError | None, Message], None]:
        def report(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(error.str())
                return
            offsets.old.append(old)
            offsets.new.append(message.offset() or 0)

        return report

    sent = 0
    for record in archive_records(directory, incarnation=incarnation):
        if record.topic == POSITIONS.name and record.value is not None:
            _note_marker(markers, record.value)
        offsets = landed.setdefault((record.topic, record.partition), _Offsets())
        while True:
            try:
                producer.produce(
                    record.topic,
                    record.value,
                    record.key,
                    partition=record.partition,
                    timestamp=record.timestamp or 0,
                    headers=list(record.headers),
                    on_delivery=delivered(offsets, record.offset),
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        sent += 1
        done.records[record.topic] = done.records.get(record.topic, 0) + 1
        if progress is not None and sent % 10_000 == 0:
            progress(sent)
    left = producer.flush(120)
    if left or failures:
        raise BrokerError(
            f"restore: {len(failures) or left} of {sent:,} records not acknowledged "
            f"({failures[0] if failures else 'flush timed out'}); the broker holds a part of the "
            "archive: restart it empty and restore again"
        )
    if progress is not None:
        progress(sent)
    for position, offsets in landed.items():  # out of order deliveries cannot be, but say so if
        if list(offsets.old) != sorted(offsets.old):
            raise ArchiveError(f"restore: records of {position[0]}[{position[1]}] landed out of order")
        done.moved += sum(1 for old, new in zip(offsets.old, offsets.new, strict=True) if old != new)
    for group, reached in markers.items():
        done.groups[group] = {p: landed[p].translate(o) for p, o in reached.items() if p in landed}
    done.groups[Group.ARCHIVE.value] = {p: offsets.translate(1 << 62) for p, offsets in landed.items()}
    for group, committed in done.groups.items():
        _commit(clients, group, committed)
    if done.moved:  # the broker's offsets are not the archive's: what comes is a new incarnation
        writer = ArchiveWriter(directory)
        writer.new_incarnation()
        writer.close()
        done.new_incarnation = True
    return done


def _prepare(clients: KafkaClients, partitions: dict[str, int]) -> None:
    """Create the topics to restore and check that none of their partitions holds records."""
    topics = [
        _DECLARED.get(name) or Topic(name, n, "restored", None, "restored") for name, n in partitions.items()
    ]
    clients.ensure_topics(topics)
    existing = clients.existing_topics()
    consumer = clients.consumer("hub.audit")
    try:
        for name, needed in sorted(partitions.items()):
            if existing.get(name, 0) < needed:
                raise ArchiveError(
                    f"restore: topic {name} has {existing.get(name, 0)} partitions on the broker, the "
                    f"archive needs {needed}"
                )
            for partition in range(needed):
                _, end = consumer.get_watermark_offsets(TopicPartition(name, partition), timeout=10)
                if end > 0:
                    raise ArchiveError(
                        f"restore: {name}[{partition}] already holds records (its end is offset {end}); "
                        "restore goes into an empty broker: start a fresh one"
                    )
    except KafkaException as exc:
        raise BrokerError(f"restore: cannot read the broker's offsets: {exc.args[0].str()}") from exc
    finally:
        consumer.close()


def _note_marker(markers: dict[str, dict[Position, int]], value: bytes) -> None:
    """Keep the furthest position each group's markers give for each partition."""
    try:
        body = json.loads(value)
        reached = markers.setdefault(str(body["group"]), {})
        for topic, partitions in body["offsets"].items():
            for partition, next_offset in partitions.items():
                key = (str(topic), int(partition))
                reached[key] = max(reached.get(key, 0), int(next_offset))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        _log.warning("restore: a position marker that cannot be read is skipped: %s", exc)


def _commit(clients: KafkaClients, group: str, offsets: dict[Position, int]) -> None:
    if not offsets:
        return
    consumer = clients.consumer(group, **{"enable.auto.commit": False})
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())], asynchronous=False
        )
    except KafkaException as exc:
        raise BrokerError(f"restore: cannot commit group {group}: {exc.args[0].str()}") from exc
    finally:
        consumer.close()
