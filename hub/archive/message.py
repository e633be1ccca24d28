"""A consumed Kafka message as the archive keeps it (:class:`~hub.archive.chain.ArchivedRecord`):
the archiver's input, and the common shape of records replayed from a live topic or the archive."""

from __future__ import annotations

from typing import cast

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from hub.archive.chain import ArchivedRecord
from hub.avro.wire import HEADER_SIZE, MAGIC_BYTE

__all__ = ["archived_record"]


def archived_record(message: Message) -> ArchivedRecord:
    """``message`` as the archive keeps it (its digest is the archive's to compute)."""
    kind, millis = message.timestamp()
    value = message.value()
    schema_id = None
    if value is not None and len(value) >= HEADER_SIZE and value[0] == MAGIC_BYTE:
        schema_id = int.from_bytes(value[1:HEADER_SIZE], "big")
    found = cast(list[tuple[str, bytes | str | None]], message.headers() or [])
    headers = tuple(
        (key, header if header is None or isinstance(header, bytes) else str(header).encode())
        for key, header in found
    )
    return ArchivedRecord(
        cast(str, message.topic()),
        cast(int, message.partition()),
        cast(int, message.offset()),
        None if kind == TIMESTAMP_NOT_AVAILABLE else millis,
        message.key(),
        headers,
        schema_id,
        value,
    )
