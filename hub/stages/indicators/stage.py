"""The indicators stage: dossiers (reconciled or rejected) and the exchange's acknowledgements
in, indicator snapshots out.

The batch's reconciled records are read a field at a time across the batch (:mod:`.batch`);
what that path leaves, and the rejected records, are decoded one by one (:mod:`.records`).
Each batch's dossiers are recorded once per record id in SQL (:mod:`.store`), which decides
what is new; the new ones change the counts in memory (:mod:`.live`), and every changed
(indicator, dimension, value, period) is published on ``lgsp.indicators``, keyed so that a
compacted topic keeps the latest. A dossier published after the allowed lateness is not
counted: it goes unchanged to ``lgsp.indicators.late``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np
import orjson
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from hub.avro.wire import AvroCodec
from hub.errors import RecordDecodeError, TopicError
from hub.kafka.stage import Headers, OutMessage, dead_letter
from hub.metrics import HubMetrics
from hub.province import Province, load_province
from hub.runtime import Runtime
from hub.stages.indicators.batch import BatchRead, BatchReader
from hub.stages.indicators.counts import LIVE_DIMENSIONS, delta_rows, event, state_rows
from hub.stages.indicators.formulas import INDICATORS, evaluate_bits
from hub.stages.indicators.live import Key, LiveCounts
from hub.stages.indicators.records import (
    Change,
    Dossier,
    Dossiers,
    Exclusion,
    dossier_of,
    synced_change,
    too_late,
)
from hub.stages.indicators.store import DossierStore
from hub.topics import (
    EXCHANGE_ACKS,
    INDICATORS_COUNTS,
    INDICATORS_DEAD_LETTERS,
    INDICATORS_LATE,
    RECONCILED,
    REJECTED,
    Group,
    department_of_topic,
)
from hub.topics import (
    INDICATORS as INDICATORS_TOPIC,
)

__all__ = ["IndicatorStage", "build", "snapshot_messages"]

_log = logging.getLogger("hub.indicators")
# What of a reconciled record the indicators never read: not decoded at all.
_UNREAD = ("agency", "occurred_at", "reason", "source", "reconciled_at", "original_schema_id", "original")
_SYNCED = ("ACCEPTED", "DUPLICATE")


def snapshot_messages(
    live: LiveCounts, keys: Iterable[Key], encode: Callable[[dict[str, Any]], bytes], now: datetime
) -> list[OutMessage]:
    """One ``IndicatorSnapshot`` for each indicator of each key."""
    messages = []
    for key in sorted(keys):
        period, dimension, value = key
        ratios = evaluate_bits(live.bits(key))
        for indicator in INDICATORS:
            ratio = ratios[indicator.name]
            body = {
                "indicator": indicator.name,
                "dimension": dimension,
                "dimension_value": value,
                "period_kind": period.kind.value,
                "period_label": period.label,
                "numerator": ratio.numerator,
                "denominator": ratio.denominator,
                "rate": ratio.rate,
                "points": indicator.score(ratio),
                "computed_at": now,
            }
            name = f"{indicator.name}/{dimension}/{value}/{period.label}".encode()
            messages.append(OutMessage(INDICATORS_TOPIC.name, name, encode(body)))
    return messages


class IndicatorStage:
    """Counts dossiers by period and dimension and publishes every indicator that changed."""

    name = "indicators"
    group = Group.INDICATORS.value
    dead_letters = INDICATORS_DEAD_LETTERS.name
    inputs: tuple[str, ...] = (RECONCILED.name, REJECTED.name, EXCHANGE_ACKS.name)

    def __init__(
        self,
        codec: AvroCodec,
        store: DossierStore,
        snapshot_schema_id: int,
        metrics: HubMetrics,
        province: Province,
        allowed_lateness: timedelta = timedelta(days=31),
    ) -> None:
        self.codec = codec
        self.store = store
        self.metrics = metrics
        self.province = province
        self.allowed_lateness = allowed_lateness
        self._encode = codec.encoder_for(snapshot_schema_id)
        self._excluded: Counter[tuple[str, str]] = Counter()  # (reason, department), until committed
        self._published: set[Key] = set()
        self.live = LiveCounts()
        self.reader = BatchReader(codec, province, allowed_lateness)
        self._state_due = True  # the next batch tells the faust tables the full state (.counts)
        self._reload()
        for reason in Exclusion:
            metrics.indicator_exclusions.labels(reason.value)

    def _reload(self) -> None:
        """The counts in memory, read back from the store; every key is published again."""
        self.live = LiveCounts()
        for dimension in LIVE_DIMENSIONS:
            for (day, value), tally in self.store.tallies(dimension).items():
                if day is not None:
                    self.live.add_tally(day, dimension, value, tally)

    def _counts_event(self, change: Change) -> OutMessage:
        """The batch's counts event: its delta, or (after a start or a failed batch) the state."""
        seq = self.store.next_seq()
        if self._state_due:
            body = event(seq, "state", state_rows(self.live.counts))  # no second read of the store
            self._state_due = False
        else:
            body = event(seq, "delta", delta_rows(change))
        return OutMessage(INDICATORS_COUNTS.name, None, orjson.dumps(body))

    def process(self, batch: list[Message]) -> list[OutMessage]:
        read = self._read_batch(batch)
        done, late = set(read.rows), set(read.late)
        self._excluded.update(read.excluded)
        single = Dossiers()
        acked: list[str] = []
        outputs: list[OutMessage] = []
        for i, message in enumerate(batch):
            if i in done:
                if i in late:
                    outputs.append(_late(message))
                continue
            published_at = _published_at(message)
            try:
                found = self._read(message, published_at, acked)
            except (RecordDecodeError, KeyError, TypeError, AttributeError, TopicError) as exc:
                outputs += self._unreadable(message, exc)
                continue
            if found is None:
                continue
            if too_late(found.received_on, published_at, self.allowed_lateness):
                self._excluded[Exclusion.TOO_LATE.value, found.department] += 1
                outputs.append(_late(message))
                continue
            for reason in found.exclusions:
                self._excluded[reason.value, found.department] += 1
            single.append(i, found)
        added = self.store.add(read.counted.merged(single))
        change = added.change()
        change.update(synced_change(self.store.sync(acked)))
        self.live.add(change)
        counts = self._counts_event(change)
        snapshots = snapshot_messages(self.live, self.live.touched(), self._encode, datetime.now(UTC))
        return [counts, *snapshots, *outputs]

    def _read_batch(self, batch: list[Message]) -> BatchRead:
        """The batch's reconciled records that the batch path decides (rows: batch indexes)."""
        at = [i for i, message in enumerate(batch) if message.topic() == RECONCILED.name]
        if not at:
            return BatchRead()
        values, published = [], np.empty(len(at), np.int64)
        for k, i in enumerate(at):
            message = batch[i]
            values.append(message.value() or b"")
            kind, millis = message.timestamp()
            published[k] = -1 if kind == TIMESTAMP_NOT_AVAILABLE else millis
        read = self.reader.read(values, published)
        if len(at) < len(batch):  # indexes among the reconciled records → in the batch
            read.rows, read.late = [at[r] for r in read.rows], [at[r] for r in read.late]
            read.counted.row = [at[r] for r in read.counted.row]
        return read

    def _read(self, message: Message, published_at: datetime, acked: list[str]) -> Dossier | None:
        topic = message.topic()
        if topic == EXCHANGE_ACKS.name:
            _, ack = self.codec.decode(message.value(), skip=("detail", "exchange_transaction_id"))
            if ack["status"] in _SYNCED:
                acked.append(ack["record_id"])
            return None
        if topic == RECONCILED.name:
            _, record = self.codec.decode(message.value(), skip=_UNREAD)
            department, matched = record["department"], True
        else:
            _, record = self.codec.decode(message.value())
            department, matched = department_of_topic(_header(message, "__hub.errors.topic")).value, False
        return dossier_of(
            record, department, matched=matched, published_at=published_at, province=self.province
        )

    def _unreadable(self, message: Message, exc: Exception) -> list[OutMessage]:
        """Reconciliation dead-lettered what it could not read: count it; anything else is ours."""
        if message.topic() == REJECTED.name:
            self._excluded[Exclusion.UNREADABLE.value, "unknown"] += 1
            return []
        reason = exc.reason if isinstance(exc, RecordDecodeError) else "MALFORMED_RECORD"
        return [dead_letter(message, self.dead_letters, self.name, reason, f"{type(exc).__name__}: {exc}")]

    def discard(self) -> None:
        """The batch's outputs were not delivered, but its dossiers are in the store: count again
        from the store, so the retried batch (whose dossiers the store no longer calls new) and
        the counts agree."""
        self._excluded.clear()
        self._state_due = True  # its counts event may be lost: the next batch sends the state
        self._reload()

    def close(self) -> None:
        """Nothing to release: the database belongs to the runtime."""

    def committed(self) -> None:
        for (reason, department), n in self._excluded.items():
            self.metrics.indicator_exclusions.labels(reason).inc(n)
            if reason == Exclusion.TOO_LATE.value:
                self.metrics.indicator_late.labels(department).inc(n)
        self._excluded.clear()
        self._gauges()

    def _gauges(self) -> None:
        gauge = self.metrics.indicator_ratio
        for key, bits in self.live.latest_counts():
            period, dimension, value = key
            for name, ratio in evaluate_bits(bits).items():
                if ratio.rate is not None:
                    gauge.labels(name, dimension, value, period.kind.value).set(ratio.rate)


def _published_at(message: Message) -> datetime:
    kind, millis = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        return datetime.now(UTC)
    return datetime.fromtimestamp(millis / 1000, UTC)


def _headers(message: Message) -> Headers:
    headers = message.headers() or []
    return list(headers.items()) if isinstance(headers, dict) else cast(Headers, list(headers))


def _header(message: Message, name: str) -> str:
    for key, value in _headers(message):
        if key == name and value is not None:
            return value.decode() if isinstance(value, bytes) else str(value)
    raise KeyError(f"no {name} header")


def _late(message: Message) -> OutMessage:
    headers = _headers(message)
    headers.append(("__hub.indicators.late", b"published after the allowed lateness"))
    return OutMessage(INDICATORS_LATE.name, message.key(), message.value(), headers)


def build(runtime: Runtime, metrics: HubMetrics) -> IndicatorStage:
    """The indicators stage on the runtime's codec, its dossiers in the hub's database."""
    settings = runtime.settings
    return IndicatorStage(
        runtime.codec,
        DossierStore(runtime.engine),
        runtime.schema_id("vn.lgsp.IndicatorSnapshot"),
        metrics,
        load_province(settings.province_code),
        timedelta(days=settings.indicator_allowed_lateness_days),
    )
