"""The archiver: every record of every hub topic, unchanged, into the archive, durably before
its offsets are committed.

Each batch is appended to the archive's open segment and fsynced in :meth:`ArchiveStage.process`;
the runner commits the batch's offsets only after that returns, so a crash loses nothing. A
batch read again after a crash is not archived twice: the archive skips offsets it holds
(one archiver per archive). A write that fails stops the hub (:class:`~hub.errors.ArchiveError`
is fatal to the runner), rather than let the archive fall behind unseen.
"""

from __future__ import annotations

import gc
import logging

from confluent_kafka import Message, TopicPartition

from hub.archive import ArchiveWriter
from hub.archive.message import message_fields
from hub.avro.wire import AvroCodec
from hub.errors import ArchiveError, HubError
from hub.kafka.clients import KafkaClients
from hub.kafka.stage import OutMessage
from hub.metrics import HubMetrics
from hub.runtime import Runtime
from hub.topics import ALL_TOPICS, Group

__all__ = ["ArchiveStage", "broker_was_reset", "build"]

_log = logging.getLogger("hub.archive")


class ArchiveStage:
    """Reads every hub topic and appends what it reads to the archive; produces nothing."""

    name = "archive"
    group = Group.ARCHIVE.value
    dead_letters = ""  # nothing is refused: every record is kept as it came
    marks_positions = False  # its position is what the archive holds
    inputs: tuple[str, ...] = tuple(topic.name for topic in ALL_TOPICS)

    def __init__(self, writer: ArchiveWriter, codec: AvroCodec) -> None:
        self.writer = writer
        self.codec = codec
        self._schemas: set[int] = set()

    def process(self, batch: list[Message]) -> list[OutMessage]:
        rows = [message_fields(message) for message in batch]
        schemas = {}
        for schema_id in {row[6] for row in rows if row[6] is not None} - self._schemas:
            try:
                schemas[schema_id] = self.codec.text(schema_id)
            except HubError:  # a value that only looks framed: kept as it is, without a schema
                continue
        try:
            self.writer.append(rows, schemas)
        except OSError as exc:
            raise ArchiveError(f"cannot write the archive in {self.writer.directory}: {exc}") from exc
        self._schemas.update(schemas)
        return []

    def discard(self) -> None:
        """Nothing to undo: what was appended is archived, and skipped when read again."""

    def committed(self) -> None:
        """Nothing to count here: the runner counts records consumed per topic."""

    def close(self) -> None:
        self.writer.close()


def build(runtime: Runtime, metrics: HubMetrics) -> ArchiveStage:
    """The archiver, writing to ``HUB_ARCHIVE_DIR`` (default: ``HUB_DATA_DIR/archive``)."""
    settings = runtime.settings
    writer = ArchiveWriter(
        settings.resolved_archive_dir,
        max_bytes=settings.archive_segment_bytes,
        max_seconds=settings.archive_segment_seconds,
    )
    if broker_was_reset(runtime.clients, writer.high):
        _log.warning(
            "archive: the broker's topics start again (a fresh broker, or one whose data was lost): "
            "archiving them as incarnation %d; `hub archive restore` puts the archived records back",
            writer.incarnation + 1,
        )
        writer.new_incarnation()
    _collect_less()
    return ArchiveStage(writer, runtime.codec)


def _collect_less() -> None:
    """Keep the cyclic garbage collector off the archiver's path. A batch holds its messages and
    their headers (some 150,000 objects for 20,000 records) until it is archived, and Python's
    default thresholds walk them again and again: a quarter of the archiver's time, measured.
    What start-up made (modules, schemas) lives as long as the process: frozen, never walked;
    and the youngest generation is collected every 50,000 allocations rather than 700 (what the
    archiver drops has no reference cycles: it is freed at once, whatever the thresholds). The
    setting is the process's: in ``hub run`` the other stages, whose batches are alike, get it too."""
    gc.freeze()
    gc.set_threshold(max(gc.get_threshold()[0], 50_000), *gc.get_threshold()[1:])


def broker_was_reset(clients: KafkaClients, high: dict[tuple[str, int], int]) -> bool:
    """Whether a partition the archive holds records of is empty or gone on the broker: its
    offsets start again at 0, and what comes is not what the archive already holds."""
    if not high:
        return False
    existing = clients.existing_topics()
    consumer = clients.consumer(Group.ARCHIVE.value)
    try:
        for (topic, partition), _ in sorted(high.items()):
            if partition >= existing.get(topic, 0):
                return True
            _, end = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if end == 0:  # a partition that held records never has its end at 0 again
                return True
        return False
    finally:
        consumer.close()
