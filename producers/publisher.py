"""The publisher a department system uses: validate, encode, key, send, report."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from hub.errors import BrokerError
from hub.metrics import HubMetrics
from hub.reconcile import repair_id
from hub.serde import AvroCodec
from hub.topics import DEPARTMENT_TOPICS, Department

__all__ = ["DepartmentPublisher", "PublishReport", "record_key"]


@dataclass
class PublishReport:
    """What a publisher sent and what the broker acknowledged."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def record_key(record: dict[str, Any]) -> bytes:
    """Partition key: the citizen number (repaired when possible), else the record id."""
    citizen = record.get("citizen") or {}
    number = citizen.get("SoDinhDanh")
    if isinstance(number, str) and len(number) == 12 and number.isdigit():
        return number.encode()  # the common case, without the repair machinery
    for raw in (citizen.get("SoDinhDanh"), citizen.get("SoCMND")):
        if raw:
            digits, _ = repair_id(raw)
            if digits.isdigit():
                return digits.encode()
    return str(record.get("record_id", "")).encode()


class DepartmentPublisher:
    """Publishes one department's records to its topic with the idempotent producer."""

    def __init__(
        self,
        department: Department,
        producer: Producer,
        codec: AvroCodec,
        schema_id: int,
        schema_version: int = 1,
        metrics: HubMetrics | None = None,
    ) -> None:
        self.department = department
        self.topic = DEPARTMENT_TOPICS[department].name
        self.producer = producer
        self.codec = codec
        self.schema_id = schema_id
        self.schema_version = str(schema_version).encode()
        self.metrics = metrics or HubMetrics()
        self.report = PublishReport()
        self._agency = department.agency.encode()
        self._trace_prefix = os.urandom(8).hex()
        self._traces = 0
        self._published = self.metrics.published.labels(department.value)
        self._failures = self.metrics.publish_failures.labels(department.value)

    def publish(self, record: dict[str, Any], trace_id: str | None = None) -> None:
        """Validate and send one record; raises RecordEncodeError naming a bad field."""
        value = self.codec.encode(self.schema_id, record)
        if trace_id is None:
            self._traces += 1
            trace_id = f"{self._trace_prefix}{self._traces:016x}"  # 32 hex digits, unique per publisher
        headers = [
            ("hub.agency", self._agency),
            ("hub.record_id", str(record["record_id"]).encode()),
            ("hub.schema_version", self.schema_version),
            ("hub.trace_id", trace_id.encode()),
        ]
        while True:
            try:
                self.producer.produce(
                    self.topic, value, record_key(record), headers=headers, on_delivery=self._delivered
                )
                break
            except BufferError:  # back-pressure: the local queue is full, wait for deliveries
                self.producer.poll(0.05)
        self.report.sent += 1
        if self.report.sent % 512 == 0:
            self.producer.poll(0)  # serve delivery reports

    def publish_raw(self, value: bytes, record_id: str) -> None:
        """Send ``value`` as it is, unvalidated: how the simulator imitates a broken export."""
        headers = [("hub.agency", self._agency), ("hub.record_id", record_id.encode())]
        while True:
            try:
                self.producer.produce(
                    self.topic, value, record_id.encode(), headers=headers, on_delivery=self._delivered
                )
                break
            except BufferError:
                self.producer.poll(0.05)
        self.report.sent += 1

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.report.delivered += 1
            self._published.inc()
        else:
            self.report.failed += 1
            self._failures.inc()
            if len(self.report.errors) < 10:
                self.report.errors.append(error.str())

    def flush(self, timeout: float = 60.0) -> PublishReport:
        """Wait for every sent record's acknowledgement; BrokerError if some never came."""
        remaining = self.producer.flush(timeout)
        if remaining:
            raise BrokerError(
                f"{remaining} {self.department.value} records not acknowledged "
                f"by the broker within {timeout:.0f} s"
            )
        return self.report
