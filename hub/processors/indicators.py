"""The indicators stage: department topics in, indicator snapshots out.

Each batch's dossiers are recorded (idempotently) in SQL; the reuse rate of every day the
batch touched is then recomputed from the table and published.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from confluent_kafka import Message

from hub.dossier_store import DossierStore
from hub.errors import RecordDecodeError
from hub.indicators import REUSE_RATE, DossierFacts, Ratio, dossier_facts
from hub.kafka.loop import OutMessage, position
from hub.metrics import HubMetrics
from hub.serde import AvroCodec
from hub.topics import DEPARTMENT_TOPICS, INDICATORS, Group, department_of_topic

__all__ = ["IndicatorStage", "snapshot_messages"]

_log = logging.getLogger("hub.indicators")


def snapshot_messages(
    ratios: dict[tuple[str, date], Ratio],
    schema_id: int,
    codec: AvroCodec,
    now: datetime,
) -> list[OutMessage]:
    """One ``IndicatorSnapshot`` message per (department, day)."""
    messages = []
    for (department, day), ratio in sorted(ratios.items()):
        value = codec.encode(
            schema_id,
            {
                "indicator": REUSE_RATE,
                "department": department,
                "period": day,
                "numerator": ratio.numerator,
                "denominator": ratio.denominator,
                "rate": ratio.rate,
                "computed_at": now,
            },
        )
        key = f"{REUSE_RATE}/{department}/{day.isoformat()}".encode()
        messages.append(OutMessage(INDICATORS.name, key, value))
    return messages


class IndicatorStage:
    """Counts dossiers per department and day and publishes the reuse rate."""

    name = "indicators"
    group = Group.INDICATORS.value
    inputs: tuple[str, ...] = tuple(topic.name for topic in DEPARTMENT_TOPICS.values())

    def __init__(
        self,
        codec: AvroCodec,
        store: DossierStore,
        snapshot_schema_id: int,
        metrics: HubMetrics,
    ) -> None:
        self.codec = codec
        self.store = store
        self.snapshot_schema_id = snapshot_schema_id
        self.metrics = metrics
        self.latest: dict[tuple[str, date], Ratio] = {}
        self._pending: dict[tuple[str, date], Ratio] = {}

    def _facts(self, batch: list[Message]) -> list[DossierFacts]:
        facts = []
        for message in batch:
            try:
                _, record = self.codec.decode(message.value())
                facts.append(dossier_facts(department_of_topic(position(message)[0]), record))
            except (RecordDecodeError, KeyError, TypeError):
                continue  # unreadable records have no receipt date: excluded by the formula
        return facts

    def process(self, batch: list[Message]) -> list[OutMessage]:
        facts = self._facts(batch)
        self.store.add(facts)
        days = {f.received_on for f in facts if f.received_on is not None}
        self._pending = self.store.reuse_rate(days)
        return snapshot_messages(self._pending, self.snapshot_schema_id, self.codec, datetime.now(UTC))

    def committed(self) -> None:
        self.latest.update(self._pending)
        for department in {d for d, _ in self._pending}:
            day = max(day for d, day in self.latest if d == department)
            rate = self.latest[(department, day)].rate
            if rate is not None:
                self.metrics.indicator_rate.labels(REUSE_RATE, department).set(rate)
        self._pending = {}
