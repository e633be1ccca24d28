"""The publisher a department system uses: validate, encode, key, send, report."""

from __future__ import annotations

import uuid
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

    def publish(self, record: dict[str, Any], trace_id: str | None = None) -> None:
        """Validate and send one record; raises RecordEncodeError naming a bad field."""
        value = self.codec.encode(self.schema_id, record)
        headers = [
            ("hub.agency", self.department.agency.encode()),
            ("hub.record_id", str(record["record_id"]).encode()),
            ("hub.schema_version", self.schema_version),
            ("hub.trace_id", (trace_id or uuid.uuid4().hex).encode()),
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
        self.producer.poll(0)

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.report.delivered += 1
            self.metrics.published.labels(self.department.value).inc()
        else:
            self.report.failed += 1
            self.metrics.publish_failures.labels(self.department.value).inc()
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
