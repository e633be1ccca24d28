"""The publisher a department system uses: validate, encode, key, send, report."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from hub.avro.wire import AvroCodec
from hub.citizen_id import repair_id
from hub.errors import BrokerError, InputError, SchemaError
from hub.metrics import HubMetrics
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
    """Publishes one department's records to its topic with the idempotent producer.

    An agency's code usually starts from :meth:`connect`::

        with DepartmentPublisher.connect("land", bootstrap="kafka:9092",
                                         schema_registry_url="http://hub:8081") as land:
            land.publish(record)          # RecordEncodeError names the bad field; nothing is sent
        print(land.report)                # sent / delivered / failed, after every acknowledgement
    """

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
        self._trace_prefix = os.urandom(8).hex().encode()
        self._encode = codec.encoder_for(schema_id)
        self._agency_header = ("hub.agency", self._agency)
        self._version_header = ("hub.schema_version", self.schema_version)
        self._traces = 0
        self._owns_producer = False
        self.block_timeout = 60.0  # how long publish() may wait for room in the local queue
        self._published = self.metrics.published.labels(department.value)
        self._failures = self.metrics.publish_failures.labels(department.value)

    @classmethod
    def connect(
        cls,
        department: Department | str,
        *,
        bootstrap: str,
        schema_registry_url: str,
        producer_config: dict[str, Any] | None = None,
        metrics: HubMetrics | None = None,
    ) -> DepartmentPublisher:
        """A publisher with its own producer, using the latest schema registered for the department.

        Schemas come from the hub's schema registry (``schema_registry_url``, Confluent's REST API).
        """
        from hub.kafka.clients import KafkaClients

        try:
            chosen = Department(department)
        except ValueError:
            valid = ", ".join(d.value for d in Department)
            raise InputError(f"unknown department {department!r}; departments are {valid}") from None
        subject = DEPARTMENT_TOPICS[chosen].subject
        source = _schema_source(schema_registry_url)
        schema_id, version = source.latest(subject)
        producer = KafkaClients({"bootstrap.servers": bootstrap, **(producer_config or {})}).producer(
            **{"delivery.report.only.error": True}
        )
        codec = AvroCodec(source.text)
        codec.schema(schema_id)  # parse now: a broken registered schema fails here, not mid-stream
        publisher = cls(chosen, producer, codec, schema_id, version, metrics)
        publisher._owns_producer = True
        return publisher

    def __enter__(self) -> DepartmentPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()

    def publish(self, record: dict[str, Any], trace_id: str | None = None) -> None:
        """Validate and send one record; raises RecordEncodeError naming a bad field."""
        value = self._encode(record)
        if trace_id is None:
            self._traces += 1
            trace = b"%s%016x" % (self._trace_prefix, self._traces)  # 32 hex digits, unique per publisher
        else:
            trace = trace_id.encode()
        headers = [
            self._agency_header,
            ("hub.record_id", record["record_id"].encode()),  # a string: the schema says so
            self._version_header,
            ("hub.trace_id", trace),
        ]
        number = record["citizen"].get("SoDinhDanh")
        if number.__class__ is str and len(number) == 12 and number.isdigit():
            key = number.encode()  # the common case of record_key(), inlined: this is the hot path
        else:
            key = record_key(record)
        try:
            self.producer.produce(self.topic, value, key, headers=headers, on_delivery=self._delivered)
        except BufferError:  # back-pressure: the local queue is full, wait for deliveries
            self._wait_and_produce(value, key, headers)
        self.report.sent += 1
        if self.report.sent % 512 == 0:
            self.producer.poll(0)  # serve delivery reports

    def publish_raw(self, value: bytes, record_id: str) -> None:
        """Send ``value`` as it is, unvalidated: how the simulator imitates a broken export."""
        headers = [("hub.agency", self._agency), ("hub.record_id", record_id.encode())]
        try:
            self.producer.produce(
                self.topic, value, record_id.encode(), headers=headers, on_delivery=self._delivered
            )
        except BufferError:
            self._wait_and_produce(value, record_id.encode(), headers)
        self.report.sent += 1

    def _wait_and_produce(self, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Back-pressure: serve deliveries until the queue has room; BrokerError if it never does."""
        deadline = time.monotonic() + self.block_timeout
        while True:
            self.producer.poll(0.05)
            try:
                self.producer.produce(self.topic, value, key, headers=headers, on_delivery=self._delivered)
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise BrokerError(
                        f"the broker has taken no {self.department.value} record for "
                        f"{self.block_timeout:.0f} s (local queue full); is it down?"
                    ) from None

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        """Delivery report. Producers made by the SDK report failures only (a callback per
        record costs a tenth of the publishing rate): successes are counted at :meth:`flush`."""
        if error is not None:
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
        delivered = self.report.sent - self.report.failed  # nothing left in flight: the rest arrived
        self._published.inc(delivered - self.report.delivered)
        self.report.delivered = delivered
        return self.report


class _SchemaSource:
    """Where a publisher finds schemas: the hub's REST registry or its database."""

    def __init__(self, latest: Any, text: Any) -> None:
        self.latest = latest  # subject -> (schema id, version)
        self.text = text  # schema id -> schema text or None


def _schema_source(registry_url: str) -> _SchemaSource:
    """Schemas from a Confluent-compatible registry (the hub's own, or any other)."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    client = SchemaRegistryClient({"url": registry_url})

    def latest(subject: str) -> tuple[int, int]:
        try:
            found = client.get_latest_version(subject)
        except SchemaRegistryError as exc:
            raise SchemaError(f"no schema for {subject!r} in the registry at {registry_url}: {exc}") from exc
        except Exception as exc:  # connection refused, DNS, TLS: requests/httpx errors
            raise SchemaError(f"schema registry at {registry_url} is not reachable: {exc}") from exc
        return int(found.schema_id), int(found.version)

    def text(schema_id: int) -> str | None:
        try:
            return str(client.get_schema(schema_id).schema_str)
        except SchemaRegistryError:
            return None

    return _SchemaSource(latest, text)
