"""The indicators stage: department topics in, indicator snapshots out.

Each batch's dossiers are recorded (idempotently) in SQL; the reuse rate of every day the
batch touched is then recomputed from the table and published.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

from confluent_kafka import Message

from hub.avro.wire import AvroCodec
from hub.errors import RecordDecodeError
from hub.kafka.stage import OutMessage, dead_letter, position
from hub.metrics import HubMetrics
from hub.runtime import Runtime
from hub.stages.indicators.formulas import REUSE_RATE, DossierFacts, Ratio, dossier_facts, reuse_rate_of
from hub.stages.indicators.store import DossierStore
from hub.topics import DEPARTMENT_TOPICS, INDICATORS, INDICATORS_DEAD_LETTERS, Group, department_of_topic

__all__ = ["IndicatorStage", "build", "snapshot_messages"]

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
    dead_letters = INDICATORS_DEAD_LETTERS.name
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

    def _facts(self, batch: list[Message]) -> tuple[list[DossierFacts], list[OutMessage]]:
        """The facts of each readable record, and a dead letter for each unreadable one."""
        facts, dead = [], []
        for message in batch:
            try:
                _, record = self.codec.decode(message.value())
                facts.append(dossier_facts(department_of_topic(position(message)[0]), record))
            except RecordDecodeError as exc:
                dead.append(dead_letter(message, self.dead_letters, self.name, exc.reason, str(exc)))
            except (KeyError, TypeError, AttributeError) as exc:
                why = f"not a department record: {type(exc).__name__}: {exc}"
                dead.append(dead_letter(message, self.dead_letters, self.name, "MALFORMED_RECORD", why))
        return facts, dead

    def process(self, batch: list[Message]) -> list[OutMessage]:
        facts, dead = self._facts(batch)
        self.store.add(facts)
        days = {f.received_on for f in facts if f.received_on is not None}
        rates = reuse_rate_of(self.store.tally(days))
        self._pending.update(rates)
        return [*snapshot_messages(rates, self.snapshot_schema_id, self.codec, datetime.now(UTC)), *dead]

    def discard(self) -> None:
        self._pending = {}

    def close(self) -> None:
        """Nothing to release: the database belongs to the runtime."""

    def committed(self) -> None:
        self.latest.update(self._pending)
        for department in {d for d, _ in self._pending}:
            day = max(day for d, day in self.latest if d == department)
            rate = self.latest[(department, day)].rate
            if rate is not None:
                self.metrics.indicator_rate.labels(REUSE_RATE, department).set(rate)
        self._pending = {}


def build(runtime: Runtime, metrics: HubMetrics) -> IndicatorStage:
    """The indicators stage on the runtime's codec, with its dossiers in the hub's database."""
    return IndicatorStage(
        runtime.codec, DossierStore(runtime.engine), runtime.schema_id("vn.lgsp.IndicatorSnapshot"), metrics
    )
