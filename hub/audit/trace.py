"""A record's whole life, from the archive (``hub audit trace RECORD_ID``): received from which
agency and when, how reconciliation decided (or why it refused it), the indicators it counted in,
when it was forwarded and what the national exchange answered.

Everything but the indicators comes from the archived topics: the department topic (received),
``lgsp.reconciled`` or ``lgsp.rejected`` (reconciled or refused), ``lgsp.indicators.late`` and
the dead-letter topics, ``lgsp.exchange.acks`` (acknowledged or refused by the exchange). The
indicators a dossier counted in come from the hub's database when it is at hand (what was
counted, synced included), else from the archived record by the indicators' own rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.archive.chain import ArchivedRecord
from hub.archive.reader import archive_records
from hub.audit.records import Row, decode
from hub.avro.wire import AvroCodec
from hub.errors import HubError
from hub.province import VIETNAM, Province
from hub.stages.indicators.formulas import INDICATORS
from hub.stages.indicators.periods import periods_of
from hub.stages.indicators.records import Dossier, dossier_of
from hub.stages.indicators.store import DossierStore
from hub.topics import (
    DEPARTMENT_TOPICS,
    EXCHANGE_ACKS,
    FORWARD_DEAD_LETTERS,
    INDICATORS_DEAD_LETTERS,
    INDICATORS_LATE,
    RECONCILED,
    REJECTED,
)

__all__ = ["Step", "Trace", "lines", "trace"]

_DEPARTMENT_TOPICS = {topic.name for topic in DEPARTMENT_TOPICS.values()}
_TOPICS = (
    *_DEPARTMENT_TOPICS,
    RECONCILED.name,
    REJECTED.name,
    INDICATORS_LATE.name,
    INDICATORS_DEAD_LETTERS.name,
    FORWARD_DEAD_LETTERS.name,
    EXCHANGE_ACKS.name,
)


@dataclass
class Step:
    """One thing that happened to the record: what, when (ms), where (topic[partition]@offset)."""

    what: str  # received, reconciled, rejected, late, dead-lettered, counted, acknowledged, refused
    at: int | None
    where: str | None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def when(self) -> str:
        if self.at is None:
            return "-"
        return datetime.fromtimestamp(self.at / 1000, VIETNAM).isoformat(timespec="milliseconds")

    def as_json(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "at": self.when if self.at is not None else None,
            "where": self.where,
            **self.detail,
        }


@dataclass
class Trace:
    record_id: str
    steps: list[Step] = field(default_factory=list)
    searched: int = 0  # archived records looked at

    @property
    def found(self) -> bool:
        return bool(self.steps)

    def as_json(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "steps": [s.as_json() for s in self.steps]}


def trace(
    directory: Path,
    record_id: str,
    codec: AvroCodec,
    province: Province,
    store: DossierStore | None = None,
) -> Trace:
    """Every step of ``record_id`` in the archive in ``directory``, in time order."""
    found = Trace(record_id)
    wanted = record_id.encode()
    counted_from: Row | None = None
    late = False
    for record in archive_records(directory, topics=_TOPICS):
        found.searched += 1
        if not _mentions(record, wanted):
            continue
        row = decode(record, codec)
        if row.record_id != record_id:
            continue
        step = _step(row)
        found.steps.append(step)
        if step.what in ("reconciled", "rejected") and counted_from is None:
            counted_from = row
        late = late or step.what == "late"
    if found.steps:
        counted = _counted(record_id, counted_from, codec, province, store, late)
        if counted is not None:
            found.steps.append(counted)
    found.steps.sort(key=lambda s: (s.at is None, s.at or 0, _ORDER.index(s.what)))
    return found


_ORDER = ("received", "reconciled", "rejected", "counted", "late", "dead-lettered", "acknowledged", "refused")


def _mentions(record: ArchivedRecord, wanted: bytes) -> bool:
    """A cheap look before decoding: the id is in the value, the key or a header."""
    if record.key == wanted or (record.value is not None and wanted in record.value):
        return True
    return any(value is not None and wanted in value for _, value in record.headers)


def _where(record: ArchivedRecord) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"


def _errors(row: Row) -> dict[str, Any]:
    headers = row.headers
    found = {
        "reason": headers.get("__hub.errors.reason"),
        "stage": headers.get("__hub.errors.stage"),
        "message": headers.get("__hub.errors.message"),
        "read_from": (
            f"{headers['__hub.errors.topic']}[{headers.get('__hub.errors.partition')}]"
            f"@{headers.get('__hub.errors.offset')}"
            if "__hub.errors.topic" in headers
            else None
        ),
    }
    return {k: v for k, v in found.items() if v is not None}


def _step(row: Row) -> Step:
    record, value = row.record, row.value if isinstance(row.value, dict) else {}
    where, topic = _where(record), record.topic
    if topic in _DEPARTMENT_TOPICS:
        citizen = value.get("citizen") or {}
        detail = {
            "agency": row.agency,
            "department": row.department,
            "schema_id": record.schema_id,
            "citizen": citizen.get("SoDinhDanh") or citizen.get("SoCMND"),
        }
        if row.decode_error:
            detail["decode_error"] = row.decode_error
        return Step("received", record.timestamp, where, detail)
    if topic == RECONCILED.name:
        citizen = value.get("citizen") or {}
        source = value.get("source") or {}
        return Step(
            "reconciled",
            record.timestamp,
            where,
            {
                "reason": value.get("reason"),
                "citizen": citizen.get("SoDinhDanh"),
                "district": citizen.get("MaHuyen"),
                "read_from": f"{source.get('topic')}[{source.get('partition')}]@{source.get('offset')}"
                if source
                else None,
            },
        )
    if topic == REJECTED.name:
        return Step("rejected", record.timestamp, where, _errors(row))
    if topic == INDICATORS_LATE.name:
        return Step(
            "late",
            record.timestamp,
            where,
            {"why": "published after the indicators' allowed lateness: not counted", **_errors(row)},
        )
    if topic in (INDICATORS_DEAD_LETTERS.name, FORWARD_DEAD_LETTERS.name):
        return Step("dead-lettered", record.timestamp, where, _errors(row))
    status = value.get("status")
    detail = {
        "status": status,
        "exchange_transaction_id": value.get("exchange_transaction_id"),
        "attempts": value.get("attempts"),
        "reason": value.get("reason"),
        "detail": value.get("detail"),
    }
    at = _millis(value.get("acked_at")) or record.timestamp
    return Step(
        "refused" if status == "REJECTED" else "acknowledged",
        at,
        where,
        {k: v for k, v in detail.items() if v is not None},
    )


def _millis(text: object) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


def _counted(
    record_id: str,
    row: Row | None,
    codec: AvroCodec,
    province: Province,
    store: DossierStore | None,
    late: bool,
) -> Step | None:
    """Where the dossier counted: the store's row if there is one, else the indicators' rules on
    the archived record (None: nothing to count, or published too late)."""
    dossier = store.find(record_id) if store is not None else None
    source = "the hub's database (as counted)"
    if dossier is None:
        if row is None or late or not isinstance(row.value, dict) or row.record.timestamp is None:
            return None
        published = datetime.fromtimestamp(row.record.timestamp / 1000, UTC)
        department = row.department or ""
        try:
            dossier = dossier_of(
                codec.decode(row.record.value or b"")[1],
                department,
                matched=row.record.topic == RECONCILED.name,
                published_at=published,
                province=province,
            )
        except (HubError, KeyError, TypeError, ValueError, AttributeError):
            return None
        source = "the archived record, by the indicators' rules (the hub's database has no row for it)"
    return Step(
        "counted", row.record.timestamp if row is not None else None, None, _counted_detail(dossier, source)
    )


def _counted_detail(dossier: Dossier, source: str) -> dict[str, Any]:
    periods = [p.label for p in periods_of(dossier.received_on)] if dossier.received_on else []
    roles: dict[str, str] = {}
    for indicator in INDICATORS:
        denominator, numerator = indicator.role(dossier.facts)
        if denominator:
            roles[indicator.name] = "numerator and denominator" if numerator else "denominator only"
    detail: dict[str, Any] = {
        "from": source,
        "received_on": dossier.received_on.isoformat() if dossier.received_on else None,
        "periods": periods,
        "dimensions": {
            "province": "all",
            "department": dossier.department,
            "district": dossier.district,
            "commune": dossier.commune,
            "procedure": dossier.procedure,
        },
        "indicators": roles,
        "synced": dossier.facts.synced,
    }
    if dossier.exclusions:
        detail["exclusions"] = [e.value for e in dossier.exclusions]
    if not periods:
        detail["note"] = "no receipt date: in no period, out of every denominator"
    return detail


def lines(found: Trace) -> Iterable[str]:
    """The trace as text, a step to a line (details indented)."""
    yield f"record {found.record_id}"
    for step in found.steps:
        where = f"  {step.where}" if step.where else ""
        yield f"  {step.what:<13} {step.when}{where}"
        for key, value in step.detail.items():
            if value is None or value == {} or value == []:
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in value.items())
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            yield f"      {key}: {value}"
