"""The reconciliation stage: department topics in, reconciled and rejected topics out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from confluent_kafka import Message

from hub.errors import RecordDecodeError, TopicError
from hub.kafka.loop import Headers, OutMessage, position
from hub.metrics import HubMetrics
from hub.reconcile import RegistryView, reconcile
from hub.serde import AvroCodec
from hub.topics import DEPARTMENT_TOPICS, RECONCILED, REJECTED, Group

__all__ = ["ReconcileStage", "Verdict", "error_headers", "reconcile_message"]

STAGE = "reconcile"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What happened to one input message."""

    department: str
    reason: str
    matched: bool
    output: OutMessage


def error_headers(message: Message, stage: str, reason: str, detail: str) -> Headers:
    """Dead-letter headers in the style of Kafka Connect's ``__connect.errors.*``."""
    topic, _ = position(message)
    return [
        *_headers(message),
        ("__hub.errors.topic", topic.encode()),
        ("__hub.errors.partition", str(message.partition()).encode()),
        ("__hub.errors.offset", str(message.offset()).encode()),
        ("__hub.errors.stage", stage.encode()),
        ("__hub.errors.reason", reason.encode()),
        ("__hub.errors.message", detail.encode()),
    ]


def _headers(message: Message) -> Headers:
    headers = message.headers() or []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


_ABOUT_A_DEATH = frozenset({"DEATH", "FUNERAL_ALLOWANCE"})
_UNREAD = ("dossier",)  # passed through to the reconciled record as bytes, never decoded here


def _event_day(record: dict[str, Any]) -> date | None:
    """The day the record's event happened; None when it may rightly come after a death."""
    if record.get("event_type") in _ABOUT_A_DEATH:
        return None  # a death registration or a funeral allowance is about the death itself
    event_date = record.get("event_date")
    if isinstance(event_date, date):
        return event_date
    occurred = record.get("occurred_at")
    return occurred.date() if isinstance(occurred, datetime) else None


def reconcile_message(
    message: Message,
    codec: AvroCodec,
    registry: RegistryView,
    provinces: frozenset[str],
    reconciled_schema_id: int,
    now: datetime,
) -> Verdict:
    """Decide one department message: a reconciled record, or the original to the DLQ."""
    topic = message.topic() or ""
    department = _DEPARTMENT_OF.get(topic) or _department(topic)
    try:
        schema_id, record = codec.decode(message.value(), _UNREAD)
        decision = reconcile(record["citizen"], _event_day(record), registry, provinces)
    except RecordDecodeError as exc:
        return _reject(message, department, exc.reason, str(exc))
    except (KeyError, TypeError) as exc:
        return _reject(message, department, "MALFORMED_RECORD", f"not a department record: {exc}")
    citizen = decision.citizen
    reason = decision.reason
    if not reason.startswith("MATCHED") or citizen is None:
        return _reject(message, department, str(reason), decision.detail)
    value = codec.encode(
        reconciled_schema_id,
        {
            "record_id": record["record_id"],
            "department": department,
            "agency": record["agency"],
            "occurred_at": record["occurred_at"],
            "source": {"topic": topic, "partition": message.partition(), "offset": message.offset()},
            "reason": reason,
            "citizen": citizen.as_citizen_record(),
            "dossier": record["dossier"],
            "reconciled_at": now,
            "original_schema_id": schema_id,
            "original": message.value(),
        },
    )
    out = OutMessage(RECONCILED.name, citizen.citizen_id.encode(), value, _headers(message))
    return Verdict(department, str(reason), True, out)


_DEPARTMENT_OF = {declared.name: department.value for department, declared in DEPARTMENT_TOPICS.items()}


def _department(topic: str) -> str:
    for department, declared in DEPARTMENT_TOPICS.items():
        if declared.name == topic:
            return department.value
    raise TopicError(f"reconcile stage got a message from {topic!r}, not a department topic")


def _reject(message: Message, department: str, reason: str, detail: str) -> Verdict:
    headers = error_headers(message, STAGE, reason, detail)
    return Verdict(
        department, reason, False, OutMessage(REJECTED.name, message.key(), message.value(), headers)
    )


class ReconcileStage:
    """Reads the four department topics; every input yields exactly one output."""

    name = STAGE
    group = Group.RECONCILE.value
    inputs: tuple[str, ...] = tuple(topic.name for topic in DEPARTMENT_TOPICS.values())

    def __init__(
        self,
        codec: AvroCodec,
        registry: Callable[[], RegistryView],
        provinces: frozenset[str],
        reconciled_schema_id: int,
        metrics: HubMetrics,
    ) -> None:
        self.codec = codec
        self.registry = registry
        self.provinces = provinces
        self.reconciled_schema_id = reconciled_schema_id
        self.metrics = metrics
        self._pending: dict[tuple[str, str, str], int] = {}

    def process(self, batch: list[Message]) -> list[OutMessage]:
        view, now = self.registry(), datetime.now(UTC)
        verdicts = [
            reconcile_message(m, self.codec, view, self.provinces, self.reconciled_schema_id, now)
            for m in batch
        ]
        self._pending = {}
        for v in verdicts:
            key = (v.department, "reconciled" if v.matched else "rejected", v.reason)
            self._pending[key] = self._pending.get(key, 0) + 1
        return [v.output for v in verdicts]

    def committed(self) -> None:
        """Count the outcomes of the batch whose outputs were delivered and committed."""
        for labels, n in self._pending.items():
            self.metrics.reconciled.labels(*labels).inc(n)
        self._pending = {}
