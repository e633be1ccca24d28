"""Unit tests for consumers.forward.client: the exchange's HTTP API (MockTransport), and resending safely."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from consumers.forward.client import ExchangeClient
from consumers.forward.stage import to_exchange_document
from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.errors import ExchangeError
from hub.exchange.server import ExchangeLedger

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
