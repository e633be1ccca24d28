"""Unit tests for consumers.forward: exchange documents, the HTTP client, the ledger, the stage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from consumers.forward.client import ExchangeClient
from consumers.forward.stage import ForwardStage, ack_message, to_exchange_document
from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.errors import ExchangeError
from hub.exchange.server import ExchangeLedger
from hub.metrics import HubMetrics
from hub.topics import EXCHANGE_ACKS, FORWARD_DEAD_LETTERS, RECONCILED

RECONCILED_ID, ACK_ID = 1, 2
NOW = datetime(2026, 11, 3, 4, 5, 6, tzinfo=UTC)
URL = "http://exchange.test"


def reconciled(
    record_id: str = "STNMT-1-000000001", original: bytes = b"\x00\x00\x00\x00\x07raw"
) -> dict[str, Any]:
    """A decoded vn.lgsp.ReconciledRecord."""
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    return {
        "record_id": record_id,
        "department": "land",
        "agency": "STNMT",
        "occurred_at": at,
        "source": {"topic": "lgsp.land.records", "partition": 0, "offset": 12},
        "reason": "MATCHED",
        "citizen": {
            "SoDinhDanh": "074085001234",
            "SoCMND": None,
            "HoVaTen": "Nguyễn Văn An",
            "NgayThangNamSinh": date(1985, 3, 14),
            "GioiTinh": "MALE",
            "MaHuyen": "718",
            "MaXa": "25700",
        },
        "dossier": {
            "MaHoSo": "HS-1",
            "MaTTHC": "1.2345",
            "NgayTiepNhan": at,
            "NgayHenTra": None,
            "NgayKetThucXuLy": None,
            "KenhThucHien": 1,
            "PhiLePhi": 0,
            "DuocThanhToanTrucTuyen": 0,
            "MaKetQua": None,
            "DuongDanTepTinKetQua": None,
            "HoSoCoThanhPhanSoHoa": False,
            "DuocLayTuKhoDMQG": False,
            "TaiKhoanDuocXacThucVoiVNeID": False,
        },
        "reconciled_at": NOW,
        "original_schema_id": 7,
        "original": original,
    }


@pytest.fixture
def codec() -> AvroCodec:
    catalog = get_catalog()
    return AvroCodec(
        {
            RECONCILED_ID: catalog.text("vn.lgsp.ReconciledRecord"),
            ACK_ID: catalog.text("vn.lgsp.ExchangeAck"),
        }.get
    )


class Exchange:
    """A MockTransport handler answering with a scripted list of status codes."""

    def __init__(self, statuses: list[int], ledger: ExchangeLedger | None = None) -> None:
        self.statuses = statuses
        self.ledger = ledger or ExchangeLedger()
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        if status != 200:
            return httpx.Response(status, json={"error": f"scripted {status}"})
        documents = json.loads(request.content)["records"]
        return httpx.Response(200, json={"acks": [self.ledger.receive(d) for d in documents]})


def client_for(handler: Callable[[httpx.Request], httpx.Response], max_attempts: int = 5) -> ExchangeClient:
    return ExchangeClient(
        URL, max_attempts=max_attempts, max_wait=0.01, transport=httpx.MockTransport(handler)
    )


# --- to_exchange_document --------------------------------------------------------------------


def test_exchange_document_is_json_serialisable() -> None:
    document = to_exchange_document(reconciled())
    text = json.dumps(document, ensure_ascii=False)
    back = json.loads(text)
    assert back == document
    assert back["occurred_at"] == "2026-11-02T09:00:00+00:00"
    assert back["citizen"]["NgayThangNamSinh"] == "1985-03-14"
    assert back["citizen"]["HoVaTen"] == "Nguyễn Văn An"
    assert back["dossier"]["NgayTiepNhan"] == "2026-11-02T09:00:00+00:00"


def test_exchange_document_carries_the_digest_of_the_original() -> None:
    original = b"\x00\x00\x00\x00\x07the department's exact bytes"
    document = to_exchange_document(reconciled(original=original))
    assert document["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert "original" not in document  # the bytes themselves are not sent
    assert {"record_id", "department", "agency", "citizen", "dossier"} <= set(document)


def test_exchange_document_of_a_decoded_record(codec: AvroCodec) -> None:
    _, record = codec.decode(codec.encode(RECONCILED_ID, reconciled()))
    assert to_exchange_document(record) == to_exchange_document(reconciled())


# --- ExchangeClient --------------------------------------------------------------------------


def test_send_posts_the_documents() -> None:
    exchange = Exchange([])
    with client_for(exchange) as client:
        acks = client.send([to_exchange_document(reconciled())])
    assert client.attempts == 1
    assert [a["status"] for a in acks] == ["ACCEPTED"]
    (request,) = exchange.requests
    assert request.method == "POST"
    assert str(request.url) == f"{URL}/api/v1/records"
    assert json.loads(request.content)["records"][0]["record_id"] == "STNMT-1-000000001"


def test_retries_on_503_then_succeeds() -> None:
    exchange = Exchange([503, 503])
    with client_for(exchange) as client:
        acks = client.send([{"record_id": "a"}, {"record_id": "b"}])
    assert client.attempts == 3
    assert len(exchange.requests) == 3
    assert [(a["record_id"], a["status"]) for a in acks] == [("a", "ACCEPTED"), ("b", "ACCEPTED")]


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_other_transient_statuses_are_retried(status: int) -> None:
    exchange = Exchange([status])
    with client_for(exchange) as client:
        assert client.send([{"record_id": "a"}])[0]["status"] == "ACCEPTED"
    assert client.attempts == 2


def test_transport_errors_are_retried() -> None:
    calls = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"acks": [{"record_id": "a", "status": "ACCEPTED"}]})

    with client_for(flaky) as client:
        assert client.send([{"record_id": "a"}]) == [{"record_id": "a", "status": "ACCEPTED"}]
    assert client.attempts == 2


def test_gives_up_after_max_attempts() -> None:
    exchange = Exchange([503] * 10)
    with client_for(exchange, max_attempts=3) as client, pytest.raises(ExchangeError) as caught:
        client.send([{"record_id": "a"}])
    assert client.attempts == 3
    assert len(exchange.requests) == 3
    assert "failed 3 times" in str(caught.value)
    assert "HTTP 503" in str(caught.value)
    assert len(exchange.ledger.accepted) == 0


def test_attempts_are_counted_per_send() -> None:
    exchange = Exchange([503])
    with client_for(exchange) as client:
        client.send([{"record_id": "a"}])
        assert client.attempts == 2
        client.send([{"record_id": "b"}])
        assert client.attempts == 1


def test_400_is_not_retried() -> None:
    exchange = Exchange([400, 200])
    with client_for(exchange) as client, pytest.raises(ExchangeError, match="HTTP 400"):
        client.send([{"record_id": "a"}])
    assert client.attempts == 1
    assert len(exchange.requests) == 1


def test_answer_without_acks_list_is_an_error() -> None:
    with (
        client_for(lambda request: httpx.Response(200, json={"ok": True})) as client,
        pytest.raises(ExchangeError, match="'acks'"),
    ):
        client.send([{"record_id": "a"}])


def test_wrong_number_of_acks_is_an_error() -> None:
    def one_ack(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"acks": [{"record_id": "a", "status": "ACCEPTED"}]})

    with client_for(one_ack) as client, pytest.raises(ExchangeError, match="1 acks for 2 records"):
        client.send([{"record_id": "a"}, {"record_id": "b"}])


# --- ExchangeLedger --------------------------------------------------------------------------


def test_ledger_deduplicates_by_record_id() -> None:
    ledger = ExchangeLedger()
    first = ledger.receive({"record_id": "r1", "payload": 1})
    again = ledger.receive({"record_id": "r1", "payload": 2})
    other = ledger.receive({"record_id": "r2"})
    assert first["status"] == "ACCEPTED"
    assert again == {"record_id": "r1", "status": "DUPLICATE", "transaction_id": first["transaction_id"]}
    assert other["status"] == "ACCEPTED"
    assert other["transaction_id"] != first["transaction_id"]
    assert set(ledger.accepted) == {"r1", "r2"}
    assert ledger.duplicates == 1


@pytest.mark.parametrize("document", [{}, {"record_id": ""}, {"record_id": 17}])
def test_ledger_rejects_documents_without_record_id(document: dict[str, Any]) -> None:
    ledger = ExchangeLedger()
    assert ledger.receive(document)["status"] == "REJECTED"
    assert ledger.accepted == {}


def test_resending_after_a_failure_is_safe() -> None:
    """At-least-once forwarding: a batch sent twice is accepted once."""
    exchange = Exchange([])
    documents = [to_exchange_document(reconciled(f"r{i}")) for i in range(3)]
    with client_for(exchange) as client:
        first = client.send(documents)
        second = client.send(documents)
    assert {a["status"] for a in first} == {"ACCEPTED"}
    assert {a["status"] for a in second} == {"DUPLICATE"}
    assert len(exchange.ledger.accepted) == 3


# --- acks and the stage ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "published"),
    [
        ("ACCEPTED", "ACCEPTED"),
        ("DUPLICATE", "DUPLICATE"),
        ("REJECTED", "REJECTED"),
        ("weird", "REJECTED"),
        (None, "REJECTED"),
    ],
)
def test_ack_message(codec: AvroCodec, status: str | None, published: str) -> None:
    ack = {"record_id": "r1", "status": status, "transaction_id": "tx-1", "detail": None}
    out = ack_message(ack, 2, codec, ACK_ID, NOW)
    assert out.topic == EXCHANGE_ACKS.name
    assert out.key == b"r1"
    _, record = codec.decode(out.value)
    assert record == {
        "record_id": "r1",
        "status": published,
        "exchange_transaction_id": "tx-1",
        "detail": None,
        "attempts": 2,
        "acked_at": NOW,
    }


def test_forward_stage_publishes_acks_and_counts_once_committed(codec: AvroCodec) -> None:
    exchange = Exchange([503])
    metrics = HubMetrics(CollectorRegistry())
    batch = [
        Message(
            topic=RECONCILED.name,
            partition=0,
            offset=i,
            key=b"k",
            value=codec.encode(RECONCILED_ID, reconciled(f"r{i}")),
        )
        for i in range(3)
    ]
    with client_for(exchange) as client:
        stage = ForwardStage(codec, client, ACK_ID, metrics)
        outputs = stage.process(batch)
        assert [o.key for o in outputs] == [b"r0", b"r1", b"r2"]
        assert all(codec.decode(o.value)[1]["attempts"] == 2 for o in outputs)
        sample = metrics.registry.get_sample_value
        assert sample("hub_exchange_http_attempts_total", {"result": "call"}) == 2
        assert sample("hub_exchange_acks_total", {"status": "ACCEPTED"}) is None
        stage.committed()
        assert sample("hub_exchange_acks_total", {"status": "ACCEPTED"}) == 3
        stage.process(batch[:1])
        stage.committed()
        assert sample("hub_exchange_acks_total", {"status": "DUPLICATE"}) == 1
        assert sample("hub_exchange_acks_total", {"status": "ACCEPTED"}) == 3


def test_forward_stage_counts_a_failed_call(codec: AvroCodec) -> None:
    metrics = HubMetrics(CollectorRegistry())
    batch = [
        Message(
            topic=RECONCILED.name,
            partition=0,
            offset=0,
            key=b"k",
            value=codec.encode(RECONCILED_ID, reconciled()),
        )
    ]
    with client_for(Exchange([503] * 5), max_attempts=2) as client:
        stage = ForwardStage(codec, client, ACK_ID, metrics)
        with pytest.raises(ExchangeError):
            stage.process(batch)
    assert metrics.registry.get_sample_value("hub_exchange_failures_total") == 1
    assert metrics.registry.get_sample_value("hub_exchange_http_attempts_total", {"result": "call"}) == 2


def test_forward_stage_dead_letters_an_unreadable_record_and_forwards_the_rest(codec: AvroCodec) -> None:
    metrics = HubMetrics(CollectorRegistry())
    values = [codec.encode(RECONCILED_ID, reconciled("r0")), b"\x00\x00\x00\x00\x01", b"not avro"]
    values.append(codec.encode(RECONCILED_ID, reconciled("r3")))
    batch = [
        Message(topic=RECONCILED.name, partition=0, offset=i, key=b"k", value=v) for i, v in enumerate(values)
    ]
    exchange = Exchange([])
    with client_for(exchange) as client:
        outputs = ForwardStage(codec, client, ACK_ID, metrics).process(batch)
    assert [o.topic for o in outputs] == [EXCHANGE_ACKS.name] * 2 + [FORWARD_DEAD_LETTERS.name] * 2
    assert [o.key for o in outputs[:2]] == [b"r0", b"r3"]
    reasons = [dict(o.headers)["__hub.errors.reason"] for o in outputs[2:]]
    assert reasons == [b"TRUNCATED_RECORD", b"BAD_MAGIC_BYTE"]
    assert [dict(o.headers)["__hub.errors.offset"] for o in outputs[2:]] == [b"1", b"2"]
    assert len(exchange.ledger.accepted) == 2
