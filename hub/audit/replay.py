"""What ``hub replay`` reads: a topic's records, live or from the archive, by offset range or
time range, filtered, as JSON lines or CSV, or re-published into another topic."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.archive.chain import ArchivedRecord
from hub.archive.message import archived_record
from hub.archive.reader import archive_records, latest_incarnation
from hub.audit.live import partitions_of, read, time_offsets
from hub.audit.records import Filters, Row, decode, to_json
from hub.avro.wire import AvroCodec
from hub.kafka.clients import KafkaClients
from hub.topics import Topic

__all__ = ["Span", "from_archive", "from_topic", "replay_json", "select"]


@dataclass(frozen=True)
class Span:
    """Which records: offsets in [``from_offset``, ``to_offset``) of every partition, timestamps
    (ms) in [``from_ms``, ``to_ms``); None: no bound."""

    from_offset: int | None = None
    to_offset: int | None = None
    from_ms: int | None = None
    to_ms: int | None = None

    def holds(self, record: ArchivedRecord) -> bool:
        if self.from_offset is not None and record.offset < self.from_offset:
            return False
        if self.to_offset is not None and record.offset >= self.to_offset:
            return False
        if self.from_ms is None and self.to_ms is None:
            return True
        ts = record.timestamp
        if ts is None:
            return False
        return (self.from_ms is None or ts >= self.from_ms) and (self.to_ms is None or ts < self.to_ms)

    @property
    def by_offset(self) -> bool:
        return self.from_offset is not None or self.to_offset is not None


def from_topic(clients: KafkaClients, topic: str, span: Span) -> Iterator[ArchivedRecord]:
    """``topic``'s records in ``span``, read from the broker (partition by partition interleaved)."""
    partitions = partitions_of(clients, topic)
    starts = dict.fromkeys(range(partitions), span.from_offset or 0)
    ends: dict[int, int | None] = dict.fromkeys(range(partitions), span.to_offset)
    if span.from_ms is not None:
        for p, found in time_offsets(clients, topic, partitions, span.from_ms).items():
            if found is None:  # nothing that late in this partition
                ends[p] = starts[p]
            else:
                starts[p] = max(starts[p], found)
    if span.to_ms is not None:
        for p, found in time_offsets(clients, topic, partitions, span.to_ms).items():
            if found is not None:
                ends[p] = found if ends[p] is None else min(ends[p], found)  # type: ignore[type-var]
    for message in read(clients, topic, starts, ends):
        record = archived_record(message)
        if span.holds(record):
            yield record


def from_archive(
    directory: Path, topic: str, span: Span, incarnation: int | None = None
) -> Iterator[ArchivedRecord]:
    """``topic``'s archived records in ``span``. Offsets start again at 0 with each fresh broker
    (an incarnation): an offset range is of ``incarnation``, by default the latest; a time range
    spans them all unless ``incarnation`` is given."""
    if incarnation is None and span.by_offset:
        incarnation = latest_incarnation(directory)
    records = archive_records(
        directory, topics=(topic,), start_ms=span.from_ms, end_ms=span.to_ms, incarnation=incarnation
    )
    return (record for record in records if span.holds(record))


def select(
    records: Iterable[ArchivedRecord], codec: AvroCodec, filters: Filters, limit: int | None = None
) -> Iterator[Row]:
    """The decoded records that match ``filters``, at most ``limit``."""
    kept = 0
    for record in records:
        if limit is not None and kept >= limit:
            return
        row = decode(record, codec)
        if filters.matches(row):
            kept += 1
            yield row


def replay_json(
    clients: KafkaClients,
    topic: Topic | str,
    codec: AvroCodec,
    from_offset: int = 0,
    limit: int | None = None,
    filters: Filters | None = None,
) -> Iterator[dict[str, Any]]:
    """A live topic's records from ``from_offset`` in every partition, decoded, as JSON-ready
    dicts (:func:`~hub.audit.records.to_json`), to its end or ``limit``."""
    name = topic if isinstance(topic, str) else topic.name
    for row in select(from_topic(clients, name, Span(from_offset)), codec, filters or Filters(), limit):
        yield to_json(row)
