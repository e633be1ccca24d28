"""Forward reconciled records to the national exchange and publish its acknowledgements."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Message

from hub.exchange.client import ExchangeClient
from hub.kafka.loop import OutMessage
from hub.metrics import HubMetrics
from hub.serde import AvroCodec, jsonable
from hub.topics import EXCHANGE_ACKS, RECONCILED, Group

__all__ = ["ForwardStage", "ack_message", "to_exchange_document"]


def to_exchange_document(record: dict[str, Any]) -> dict[str, Any]:
    """The JSON document the exchange receives for one reconciled record."""
    return {
        "record_id": record["record_id"],
        "department": record["department"],
        "agency": record["agency"],
        "occurred_at": jsonable(record["occurred_at"]),
        "citizen": jsonable(record["citizen"]),
        "dossier": jsonable(record["dossier"]),
        "original_sha256": hashlib.sha256(record["original"]).hexdigest(),
    }


def ack_message(
    ack: dict[str, Any], attempts: int, codec: AvroCodec, schema_id: int, now: datetime
) -> OutMessage:
    """The acks-topic message for one acknowledgement from the exchange."""
    status = ack.get("status") if ack.get("status") in ("ACCEPTED", "DUPLICATE") else "REJECTED"
    record_id = str(ack.get("record_id"))
    value = codec.encode(
        schema_id,
        {
            "record_id": record_id,
            "status": status,
            "exchange_transaction_id": ack.get("transaction_id"),
            "detail": ack.get("detail"),
            "attempts": attempts,
            "acked_at": now,
        },
    )
    return OutMessage(EXCHANGE_ACKS.name, record_id.encode(), value)


class ForwardStage:
    """Reads the reconciled topic, POSTs each batch to the exchange, publishes the acks."""

    name = "forward"
    group = Group.FORWARD.value
    inputs: tuple[str, ...] = (RECONCILED.name,)

    def __init__(
        self, codec: AvroCodec, client: ExchangeClient, ack_schema_id: int, metrics: HubMetrics
    ) -> None:
        self.codec = codec
        self.client = client
        self.ack_schema_id = ack_schema_id
        self.metrics = metrics
        self._pending: list[str] = []

    def process(self, batch: list[Message]) -> list[OutMessage]:
        documents = [to_exchange_document(self.codec.decode(m.value())[1]) for m in batch]
        try:
            acks = self.client.send(documents)
        except Exception:
            self.metrics.forward_failures.inc()
            raise
        finally:
            self.metrics.forward_attempts.labels("call").inc(self.client.attempts)
        now = datetime.now(UTC)
        outputs = [ack_message(a, self.client.attempts, self.codec, self.ack_schema_id, now) for a in acks]
        self._pending = [str(a.get("status")) for a in acks]
        return outputs

    def committed(self) -> None:
        for status in self._pending:
            self.metrics.forwarded.labels(status).inc()
        self._pending = []
