"""Forward reconciled records to the national exchange and publish its acknowledgements."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from consumers.forward.breaker import CircuitBreaker
from consumers.forward.client import ExchangeClient, Submission
from consumers.forward.credentials import load_credentials
from hub.avro.wire import AvroCodec
from hub.errors import ConfigError, RecordDecodeError
from hub.kafka.stage import OutMessage, dead_letter
from hub.metrics import HubMetrics
from hub.runtime import Runtime
from hub.topics import EXCHANGE_ACKS, FORWARD_DEAD_LETTERS, RECONCILED, Group

__all__ = ["ForwardStage", "ack_message", "ack_status", "build", "to_exchange_document"]

# What of a reconciled record the exchange's document leaves out: not decoded at all.
_UNSENT = ("reason", "source", "reconciled_at", "original_schema_id")


def to_exchange_document(record: dict[str, Any]) -> dict[str, Any]:
    """The document the exchange receives for one reconciled record (dates and times as Python
    values: the client writes them as ISO 8601)."""
    return {
        "record_id": record["record_id"],
        "department": record["department"],
        "agency": record["agency"],
        "occurred_at": record["occurred_at"],
        "citizen": record["citizen"],
        "dossier": record["dossier"],
        "original_sha256": hashlib.sha256(record["original"]).hexdigest(),
    }


def ack_status(ack: dict[str, Any]) -> str:
    """ACCEPTED or DUPLICATE as the exchange said; anything else is a refusal, REJECTED."""
    status = ack.get("status")
    return status if status in ("ACCEPTED", "DUPLICATE") else "REJECTED"


def ack_message(ack: dict[str, Any], encode: Callable[[dict[str, Any]], bytes], now: datetime) -> OutMessage:
    """The acks-topic message for one acknowledgement from the exchange (``encode``: the codec's
    encoder for ``vn.lgsp.ExchangeAck``)."""
    status = ack_status(ack)
    record_id = str(ack.get("record_id"))
    value = encode(
        {
            "record_id": record_id,
            "status": status,
            "exchange_transaction_id": ack.get("transaction_id"),
            "reason": ack.get("reason") if status == "REJECTED" else None,
            "detail": ack.get("detail"),
            "attempts": int(ack.get("attempts") or 1),
            "acked_at": now,
        },
    )
    return OutMessage(EXCHANGE_ACKS.name, record_id.encode(), value)


class ForwardStage:
    """Reads the reconciled topic, sends each batch to the exchange, publishes its acknowledgements.

    Every forwarded record gets an acknowledgement on ``lgsp.exchange.acks`` (accepted, duplicate
    or rejected); a record the exchange refuses for good also goes, unchanged, to the stage's
    dead-letter topic with the exchange's reason. The batch's offsets are committed (by the
    runner) only once every record in it is acknowledged or dead-lettered; an exchange that
    cannot be reached raises, so the batch is tried again.
    """

    name = "forward"
    group = Group.FORWARD.value
    dead_letters = FORWARD_DEAD_LETTERS.name
    inputs: tuple[str, ...] = (RECONCILED.name,)

    def __init__(
        self, codec: AvroCodec, client: ExchangeClient, ack_schema_id: int, metrics: HubMetrics
    ) -> None:
        self.codec = codec
        self.client = client
        self.ack_schema_id = ack_schema_id
        self._encode_ack = codec.encoder_for(ack_schema_id)
        self.metrics = metrics
        self._pending: list[str] = []
        self._latencies: list[float] = []

    def process(self, batch: list[Message]) -> list[OutMessage]:
        return self.start(batch)()

    def start(self, batch: list[Message]) -> Callable[[], list[OutMessage]]:
        """Decode the batch a chunk at a time, handing each chunk to the client as soon as it is
        decoded, so the exchange works on one while the next is decoded; return the function that
        waits for every answer and turns the acknowledgements into messages.

        A chunk holds about one full request per agency. The runner starts the next batch before
        it finishes this one, so the exchange is not left idle while a batch is produced and
        committed. The finish raises (the batch is tried again) only after every request of the
        batch is answered or given up: none is left in flight.
        """
        chunk = self.client.request_size * max(1, len(self.client.credentials))
        dead: list[OutMessage] = []
        pending: list[tuple[list[Message], Submission]] = []
        for begin in range(0, len(batch), chunk):
            documents, sent = self._documents(batch[begin : begin + chunk], dead)
            if documents:
                pending.append((sent, self.client.submit(documents)))
        return lambda: self._finish(pending, dead)

    def _finish(
        self, pending: list[tuple[list[Message], Submission]], dead: list[OutMessage]
    ) -> list[OutMessage]:
        outputs: list[OutMessage] = []
        now = datetime.now(UTC)
        acked_at = now.timestamp()
        failed: BaseException | None = None
        statuses: list[str] = []
        latencies: list[float] = []  # from the agency's publish (reconciliation keeps its time)
        for sent, submission in pending:
            try:
                acks = submission.result()
            except Exception as exc:  # wait for every request before raising
                failed = failed or exc
                continue
            for message, ack in zip(sent, acks, strict=True):
                outputs.append(ack_message(ack, self._encode_ack, now))
                status = ack_status(ack)
                statuses.append(status)
                kind, published = message.timestamp()
                if kind != TIMESTAMP_NOT_AVAILABLE and status != "REJECTED":
                    latencies.append(acked_at - published / 1000)
                if status == "REJECTED":
                    reason = str(ack.get("reason") or "REFUSED")
                    detail = str(ack.get("detail") or "refused by the national exchange")
                    dead.append(dead_letter(message, self.dead_letters, self.name, reason, detail))
        if failed is not None:
            self.metrics.forward_failures.inc()
            raise failed
        self._pending += statuses
        self._latencies += latencies
        return [*outputs, *dead]

    def _documents(
        self, messages: list[Message], dead: list[OutMessage]
    ) -> tuple[list[dict[str, Any]], list[Message]]:
        """The exchange documents of ``messages``, and the messages they came from; a dead letter
        in ``dead`` for each message that is not a reconciled record."""
        documents, sent = [], []
        for message in messages:
            try:
                documents.append(to_exchange_document(self.codec.decode(message.value(), skip=_UNSENT)[1]))
                sent.append(message)
            except RecordDecodeError as exc:
                dead.append(dead_letter(message, self.dead_letters, self.name, exc.reason, str(exc)))
            except (KeyError, TypeError, AttributeError) as exc:
                why = f"not a reconciled record: {type(exc).__name__}: {exc}"
                dead.append(dead_letter(message, self.dead_letters, self.name, "MALFORMED_RECORD", why))
        return documents, sent

    def discard(self) -> None:
        self._pending, self._latencies = [], []

    def close(self) -> None:
        self.client.close()

    def committed(self) -> None:
        for status, n in Counter(self._pending).items():
            self.metrics.forwarded.labels(status).inc(n)
        observe = self.metrics.end_to_end_seconds.observe
        for seconds in self._latencies:
            observe(max(seconds, 0.0))
        self._pending, self._latencies = [], []


def build(runtime: Runtime, metrics: HubMetrics) -> ForwardStage:
    """The forward stage, to the exchange the runtime names (configured, or the mock started for
    it), with each agency's credentials; checks both now, so a mistake is one line at start."""
    settings = runtime.settings
    if not runtime.exchange_url:
        raise ConfigError("the forward stage needs a national exchange: set HUB_EXCHANGE_URL")
    credentials = runtime.exchange_credentials
    if credentials is None:
        if settings.exchange_credentials is None:
            raise ConfigError(
                f"HUB_EXCHANGE_CREDENTIALS is not set: the forward stage needs each agency's client id and "
                f"secret for the national exchange at {runtime.exchange_url} (a TOML file, see README)"
            )
        credentials = load_credentials(settings.exchange_credentials)
    client = ExchangeClient(
        runtime.exchange_url,
        credentials,
        timeout=settings.exchange_timeout,
        max_attempts=settings.exchange_max_attempts,
        request_size=settings.exchange_request_size,
        concurrency=settings.exchange_concurrency,
        breaker=CircuitBreaker(settings.exchange_circuit_failures, settings.exchange_circuit_seconds),
        metrics=metrics,
    )
    try:
        client.check()
    except BaseException:
        client.close()
        raise
    return ForwardStage(runtime.codec, client, runtime.schema_id("vn.lgsp.ExchangeAck"), metrics)
