"""The reconciliation stage: department topics in, reconciled and rejected topics out."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
from confluent_kafka import Message

from hub.avro.wire import AvroCodec, DecodeReason
from hub.errors import RecordDecodeError, RecordEncodeError, TopicError
from hub.kafka.stage import OutMessage, Outputs, dead_letter
from hub.metrics import HubMetrics
from hub.province import known_province_codes
from hub.registry import RegistryStore
from hub.runtime import Runtime
from hub.stages.reconcile.batch import BatchReconciler, BatchResult
from hub.stages.reconcile.live_registry import LiveRegistry
from hub.stages.reconcile.rules import RegistryView, reconcile
from hub.topics import DEPARTMENT_TOPICS, RECONCILED, REJECTED, Group

__all__ = ["ReconcileStage", "Verdict", "build", "reconcile_message"]

STAGE = "reconcile"
_log = logging.getLogger("hub.reconcile")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What happened to one input message."""

    department: str
    reason: str
    matched: bool
    output: OutMessage


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
    department = _department_of(topic)
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
    try:
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
    except RecordEncodeError as exc:  # read by a lenient decoder, but a value breaks its schema
        return _reject(
            message, department, DecodeReason.NOT_AVRO, f"not valid for schema id {schema_id}: {exc}"
        )
    # No headers: the record names its source (topic, partition, offset), where the original
    # message is, headers and all. Copying four headers costs produce() ~1.7 µs a record (measured).
    out = OutMessage(RECONCILED.name, citizen.citizen_id.encode(), value)
    return Verdict(department, str(reason), True, out)


_DEPARTMENT_OF = {declared.name: department.value for department, declared in DEPARTMENT_TOPICS.items()}


def _department(topic: str) -> str:
    for department, declared in DEPARTMENT_TOPICS.items():
        if declared.name == topic:
            return department.value
    raise TopicError(f"reconcile stage got a message from {topic!r}, not a department topic")


def _reject(message: Message, department: str, reason: str, detail: str) -> Verdict:
    return Verdict(department, reason, False, dead_letter(message, REJECTED.name, STAGE, reason, detail))


class ReconcileStage:
    """Reads the four department topics; every input yields exactly one output.

    The common case of a batch is decided at once (:class:`~hub.stages.reconcile.batch.BatchReconciler`);
    every other record goes through :func:`reconcile_message`, one by one.
    """

    name = STAGE
    group = Group.RECONCILE.value
    dead_letters = REJECTED.name
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
        self.batch = BatchReconciler(codec, reconciled_schema_id, dict(_DEPARTMENT_OF))
        self._pending: Counter[tuple[str, str, str]] = Counter()
        self._paths = (0, 0)  # records of the pending batch decided by the batch path, one by one
        self._off: str | None = None
        metrics.reconcile_batch_path.set(1)

    def process(self, batch: list[Message]) -> Outputs:
        view, now = self.registry(), datetime.now(UTC)
        n = len(batch)
        values: list[Any] = list(map(Message.value, batch))
        if None in values:  # a tombstone: the per-record path says what is wrong with it
            values = [v or b"" for v in values]
        topics: list[Any] = list(map(Message.topic, batch))
        try:
            decided = self.batch.run(
                values,
                topics,
                np.fromiter(map(Message.partition, batch), np.int64, n),
                np.fromiter(map(Message.offset, batch), np.int64, n),
                view,
                now,
            )
        except Exception:  # a shortcut that failed: the per-record path decides the whole batch
            _log.exception("reconcile: the batch path failed on %d records; deciding them one by one", n)
            self.metrics.reconcile_paths.labels("fallback").inc()
            decided = BatchResult()
        self._say_if_off()
        outputs = Outputs.sized(n, RECONCILED.name)
        if decided.rows:
            outputs.keys, outputs.values = (
                _scatter(n, decided.rows, c) for c in (decided.keys, decided.values)
            )
        pending: Counter[tuple[str, str, str]] = Counter()
        for (topic, reason), count in decided.counts.items():
            pending[_department_of(topic), "reconciled", reason] += count
        if len(decided.rows) < n:
            rest = np.ones(n, bool)
            rest[decided.rows] = False
            for row in np.flatnonzero(rest).tolist():
                v = reconcile_message(
                    batch[row], self.codec, view, self.provinces, self.reconciled_schema_id, now
                )
                outputs.put(row, v.output)
                pending[v.department, "reconciled" if v.matched else "rejected", v.reason] += 1
        self._pending += pending
        decided_here = len(decided.rows)
        self._paths = self._paths[0] + decided_here, self._paths[1] + n - decided_here
        return outputs.stamped_as(batch)  # published when the agency published it

    def _say_if_off(self) -> None:
        """Log, once, and show in the metric, when the batch path has turned itself off."""
        off = self.batch.off
        if off != self._off:
            self._off = off
            if off:
                _log.error("reconcile: the batch path is OFF, every record goes one by one: %s", off)
            self.metrics.reconcile_batch_path.set(0 if off else 1)

    def discard(self) -> None:
        self._pending, self._paths = Counter(), (0, 0)

    def close(self) -> None:
        """Nothing to release: the registry and the database belong to the runtime."""

    def committed(self) -> None:
        """Count the outcomes of the batch whose outputs were delivered and committed."""
        for labels, n in self._pending.items():
            self.metrics.reconciled.labels(*labels).inc(n)
        self.metrics.reconcile_paths.labels("batch").inc(self._paths[0])
        self.metrics.reconcile_paths.labels("record").inc(self._paths[1])
        self._pending, self._paths = Counter(), (0, 0)


def _scatter(n: int, rows: list[int], items: list[bytes]) -> list[Any]:
    """A list of ``n`` with ``items`` at ``rows`` and None elsewhere, at C speed."""
    column = np.full(n, None, object)
    column[rows] = np.fromiter(items, object, len(items))
    return column.tolist()


def _department_of(topic: str) -> str:
    return _DEPARTMENT_OF.get(topic) or _department(topic)


def build(runtime: Runtime, metrics: HubMetrics) -> ReconcileStage:
    """The reconciliation stage on the runtime's codec, against the live population registry."""
    registry = LiveRegistry(RegistryStore(runtime.engine), runtime.settings.registry_poll_seconds, metrics)
    return ReconcileStage(
        runtime.codec,
        registry,
        known_province_codes(),
        runtime.schema_id("vn.lgsp.ReconciledRecord"),
        metrics,
    )
