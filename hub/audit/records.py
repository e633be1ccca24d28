"""Records as auditors see them (pure): decoded to JSON, matched against filters (agency,
department, citizen number, record id), written as JSON lines or CSV.

Every source (a live topic, the archive) gives :class:`~hub.archive.chain.ArchivedRecord`s; a
record's agency, department, citizen number and record id are looked for where the hub puts
them: the decoded value (``agency``, ``department``, ``citizen.SoDinhDanh``/``SoCMND``,
``record_id``), the publisher's headers (``hub.agency``, ``hub.record_id``), the department a
topic belongs to. A dead letter's value is the department record it refused, so it is found by
the same filters.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.archive.chain import ArchivedRecord
from hub.avro.wire import AvroCodec, jsonable
from hub.errors import ConfigError, HubError, RecordDecodeError
from hub.province import VIETNAM
from hub.topics import DEPARTMENT_TOPICS, INDICATORS_COUNTS

__all__ = ["CSV_COLUMNS", "Filters", "Row", "csv_line", "decode", "parse_time", "to_json"]

_DEPARTMENT_OF = {topic.name: dept.value for dept, topic in DEPARTMENT_TOPICS.items()}
CSV_COLUMNS = (
    "topic",
    "partition",
    "offset",
    "timestamp",
    "record_id",
    "agency",
    "department",
    "citizen",
    "key",
    "schema_id",
    "value",
    "headers",
)


def parse_time(text: str) -> int:
    """ms since the epoch for an ISO 8601 date-time (or date); Vietnam time unless it has an offset."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"{text!r} is not a date-time: write it as 2026-11-01T00:00 (Vietnam time) or with an "
            "offset, 2026-11-01T00:00+07:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=VIETNAM)
    return int(moment.timestamp() * 1000)


@dataclass
class Row:
    """A record decoded: where it was, and its value as JSON (or why it could not be read)."""

    record: ArchivedRecord
    value: Any = None  # decoded value, JSON-ready
    decode_error: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {k: (v or b"").decode(errors="replace") for k, v in self.record.headers}

    def field(self, name: str) -> str | None:
        value = self.value.get(name) if isinstance(self.value, dict) else None
        return value if isinstance(value, str) else None

    @property
    def record_id(self) -> str | None:
        return self.field("record_id") or self.headers.get("hub.record_id")

    @property
    def agency(self) -> str | None:
        return self.field("agency") or self.headers.get("hub.agency")

    @property
    def department(self) -> str | None:
        found = self.field("department") or _DEPARTMENT_OF.get(self.record.topic)
        if found is None:  # a dead letter: the department whose topic it was read from
            found = _DEPARTMENT_OF.get(self.headers.get("__hub.errors.topic", ""))
        return found

    @property
    def citizens(self) -> set[str]:
        citizen = self.value.get("citizen") if isinstance(self.value, dict) else None
        if not isinstance(citizen, dict):
            return set()
        return {str(citizen[k]) for k in ("SoDinhDanh", "SoCMND") if citizen.get(k)}


def decode(record: ArchivedRecord, codec: AvroCodec) -> Row:
    """``record``'s value decoded (the hub's JSON counts events as they are)."""
    row = Row(record)
    value = record.value
    if record.topic == INDICATORS_COUNTS.name:
        try:
            row.value = json.loads(value or b"null")
        except ValueError as exc:
            row.decode_error = {"reason": "NOT_JSON", "message": str(exc)}
        return row
    if value is None or record.schema_id is None:
        return row
    try:
        _, decoded = codec.decode(value)
        row.value = jsonable(decoded)
    except RecordDecodeError as exc:
        row.decode_error = {"reason": exc.reason, "message": str(exc)}
    except HubError as exc:  # a schema the archive holds but cannot parse
        row.decode_error = {"reason": "SCHEMA", "message": str(exc)}
    return row


@dataclass(frozen=True)
class Filters:
    """Keep a record only if it matches every filter given (None: any)."""

    agency: str | None = None
    department: str | None = None
    citizen: str | None = None
    record_id: str | None = None

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.agency, self.department, self.citizen, self.record_id))

    def matches(self, row: Row) -> bool:
        if self.record_id is not None and row.record_id != self.record_id:
            return False
        if self.agency is not None and row.agency != self.agency:
            return False
        if self.department is not None and (row.department or "").lower() != self.department.lower():
            return False
        return self.citizen is None or self.citizen in row.citizens

    def describe(self) -> str:
        given = {
            "agency": self.agency,
            "department": self.department,
            "citizen": self.citizen,
            "record id": self.record_id,
        }
        return ", ".join(f"{k} {v}" for k, v in given.items() if v is not None) or "no filter"


def to_json(row: Row) -> dict[str, Any]:
    """A decoded record as one JSON object: position, time, key, headers, value."""
    record = row.record
    out: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp,
        "timestamp": _iso(record.timestamp),
        "key": record.key.decode(errors="replace") if record.key is not None else None,
        "headers": row.headers,
    }
    if record.schema_id is not None:
        out["schema_id"] = record.schema_id
    if row.value is not None:
        out["value"] = row.value
    elif record.value is not None:
        out["value_base64"] = base64.b64encode(record.value).decode()
    if row.decode_error is not None:
        out["decode_error"] = row.decode_error
    return out


def _iso(millis: int | None) -> str | None:
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, VIETNAM).isoformat(timespec="milliseconds")


def csv_line(row: Row) -> str:
    """One CSV line (with its newline) in :data:`CSV_COLUMNS` order; the value and headers as JSON."""
    record, out = row.record, io.StringIO()
    value = row.value if row.value is not None else to_json(row).get("value_base64")
    csv.writer(out).writerow(
        [
            record.topic,
            record.partition,
            record.offset,
            _iso(record.timestamp) or "",
            row.record_id or "",
            row.agency or "",
            row.department or "",
            " ".join(sorted(row.citizens)),
            record.key.decode(errors="replace") if record.key is not None else "",
            "" if record.schema_id is None else record.schema_id,
            json.dumps(value, ensure_ascii=False) if value is not None else "",
            json.dumps(row.headers, ensure_ascii=False),
        ]
    )
    return out.getvalue()
