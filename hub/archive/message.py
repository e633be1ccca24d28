"""A consumed Kafka message as the archive keeps it (:class:`~hub.archive.chain.ArchivedRecord`):
the archiver's input, and the common shape of records replayed from a live topic or the archive."""

from __future__ import annotations

import struct
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from hub.archive.chain import ArchivedRecord
from hub.archive.container import Fields
from hub.avro.wire import HEADER_SIZE, MAGIC_BYTE

__all__ = ["archived_record", "message_fields"]

_SCHEMA_ID = struct.Struct(">I").unpack_from  # after the magic byte of a framed value


def archived_record(message: Message) -> ArchivedRecord:
    """``message`` as the archive keeps it (its digest is the archive's to compute)."""
    topic, partition, offset, timestamp, key, headers, schema_id, value = message_fields(message)
    kept = tuple((k, h if h is None or isinstance(h, bytes) else str(h).encode()) for k, h in headers)
    return ArchivedRecord(topic, partition, offset, timestamp, key, kept, schema_id, value)


def message_fields(message: Message) -> Fields:
    """The fields of ``message`` the archive keeps (:meth:`ArchivedRecord.fields`), for the
    archiver, which appends them without making a record of each message. A header value that
    is not bytes (a message made in Python, not consumed) is as the archive encodes it: its text."""
    kind, millis = message.timestamp()
    value: Any = message.value()
    headers: Any = message.headers()
    return (
        message.topic(),  # type: ignore[return-value]
        message.partition(),
        message.offset(),
        None if kind == TIMESTAMP_NOT_AVAILABLE else millis,
        message.key(),
        headers or (),
        _SCHEMA_ID(value, 1)[0]
        if value is not None and len(value) >= HEADER_SIZE and value[0] == MAGIC_BYTE
        else None,
        value,
    )
