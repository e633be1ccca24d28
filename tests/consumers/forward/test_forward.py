"""Unit tests for consumers.forward: exchange documents, the HTTP client, the ledger, the stage."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Message
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from consumers.forward.breaker import CircuitBreaker, CircuitState
from consumers.forward.client import SUBMIT_PATH, TOKEN_PATH, ExchangeClient
from consumers.forward.credentials import Credential, load_credentials
from consumers.forward.stage import ForwardStage, ack_message, to_exchange_document
from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.errors import ConfigError, ExchangeError
from hub.metrics import HubMetrics
from hub.topics import EXCHANGE_ACKS, FORWARD_DEAD_LETTERS, RECONCILED, Department

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
    """A fake exchange (MockTransport handler) speaking the contract: tokens per agency, a scripted
    list of statuses (or callables raising transport errors) for submissions, a ledger in a dict."""

    def __init__(self, statuses: list[Any] | None = None, *, secrets: dict[str, str] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.secrets = secrets if secrets is not None else {"STNMT": "s3cret", "STP": "other"}
        self.tokens: dict[str, str] = {}
        self.ledger: dict[str, str] = {}
        self.submissions: list[httpx.Request] = []
        self.token_requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        if request.url.path == TOKEN_PATH:
            return self._token(request)
        self.submissions.append(request)
        scripted = self.statuses.pop(0) if self.statuses else 200
        if callable(scripted):
            return scripted(request)  # type: ignore[no-any-return]
        agency = self.tokens.get(request.headers.get("Authorization", "").removeprefix("Bearer "))
        if agency is None:
            return httpx.Response(401, json={"error": "invalid_token"})
        if scripted != 200:
            headers = {"Retry-After": "0"} if scripted in (429, 503) else {}
            return httpx.Response(scripted, json={"error": f"scripted {scripted}"}, headers=headers)
        documents = json.loads(request.content)["records"]
        if any(d.get("agency") != agency for d in documents):
            return httpx.Response(403, json={"error": "insufficient_scope", "error_description": "not yours"})
        return httpx.Response(200, json={"acks": [self._receive(d) for d in documents]})

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests += 1
        client_id, _, secret = (
            base64.b64decode(request.headers["Authorization"].split()[1]).decode().partition(":")
        )
        if self.secrets.get(client_id) != secret:
            return httpx.Response(401, json={"error": "invalid_client"})
        token = f"token-{client_id}-{self.token_requests}"
        self.tokens[token] = client_id
        return httpx.Response(200, json={"access_token": token, "token_type": "Bearer", "expires_in": 300})

    def _receive(self, document: dict[str, Any]) -> dict[str, Any]:
        record_id = document["record_id"]
        if document.get("bad"):
            return {
                "record_id": record_id,
                "status": "REJECTED",
                "reason": "DATE_ORDER",
                "detail": "ends before it starts",
            }
        status = "DUPLICATE" if record_id in self.ledger else "ACCEPTED"
        self.ledger.setdefault(record_id, f"tx-{len(self.ledger)}")
        return {"record_id": record_id, "status": status, "transaction_id": self.ledger[record_id]}


CREDENTIALS = {
    "STNMT": Credential("STNMT", SecretStr("s3cret")),
    "STP": Credential("STP", SecretStr("other")),
}


def client_for(
    handler: Callable[[httpx.Request], httpx.Response], max_attempts: int = 5, **options: Any
) -> ExchangeClient:
    options.setdefault("sleep", lambda seconds: None)
    return ExchangeClient(
        URL, CREDENTIALS, max_attempts=max_attempts, transport=httpx.MockTransport(handler), **options
    )


def doc(record_id: str, agency: str = "STNMT", **extra: Any) -> dict[str, Any]:
    return {"record_id": record_id, "agency": agency, **extra}


# --- to_exchange_document --------------------------------------------------------------------


def test_exchange_document_as_the_exchange_receives_it() -> None:
    exchange = Exchange()
    with client_for(exchange) as client:
        client.send([to_exchange_document(reconciled())])
    back = json.loads(exchange.submissions[0].content)["records"][0]
    assert exchange.submissions[0].headers["Content-Type"] == "application/json"
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


def test_send_posts_the_documents_with_the_agency_s_token() -> None:
    exchange = Exchange()
    with client_for(exchange) as client:
        acks = client.send([to_exchange_document(reconciled())])
    assert [(a["status"], a["attempts"]) for a in acks] == [("ACCEPTED", 1)]
    (request,) = exchange.submissions
    assert (request.method, str(request.url)) == ("POST", f"{URL}{SUBMIT_PATH}")
    assert request.headers["Authorization"].startswith("Bearer token-STNMT-")
    assert json.loads(request.content)["records"][0]["record_id"] == "STNMT-1-000000001"


def test_a_batch_is_split_by_agency_and_request_size_and_acked_in_order() -> None:
    exchange = Exchange()
    documents = [doc(f"r{i}", "STNMT" if i % 3 else "STP") for i in range(10)]
    with client_for(exchange, request_size=3, concurrency=3) as client:
        acks = client.send(documents)
    assert [a["record_id"] for a in acks] == [d["record_id"] for d in documents]
    assert {a["status"] for a in acks} == {"ACCEPTED"}
    sizes = sorted(len(json.loads(r.content)["records"]) for r in exchange.submissions)
    assert sizes == [1, 3, 3, 3]  # STP: 4 documents, STNMT: 6, three a request at most


def test_a_record_of_an_agency_without_credentials_is_refused_not_sent() -> None:
    exchange = Exchange()
    with client_for(exchange) as client:
        acks = client.send([doc("a"), doc("b", "BHXH")])
    assert [(a["status"], a.get("reason")) for a in acks] == [
        ("ACCEPTED", None),
        ("REJECTED", "NO_CREDENTIALS"),
    ]
    assert len(exchange.submissions) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    exchange = Exchange([status, status])
    with client_for(exchange) as client:
        (ack,) = client.send([doc("a")])
    assert (ack["status"], ack["attempts"]) == ("ACCEPTED", 3)


def test_transport_errors_are_retried() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    exchange = Exchange([refused])
    with client_for(exchange) as client:
        assert client.send([doc("a")])[0]["attempts"] == 2


def test_backoff_grows_and_retry_after_is_honoured() -> None:
    waits: list[float] = []
    slow_down = lambda request: httpx.Response(429, headers={"Retry-After": "7"})  # noqa: E731
    exchange = Exchange([503, 503, slow_down])
    with client_for(exchange, sleep=waits.append, max_wait=5.0) as client:
        client.send([doc("a")])
    assert len(waits) == 3
    assert all(0 <= w <= 0.4 for w in waits[:2])  # full jitter under 0.1 × 2^attempt
    assert waits[2] == 7.0  # the exchange said how long


def test_gives_up_after_max_attempts_with_the_last_cause() -> None:
    exchange = Exchange([503] * 10)
    with client_for(exchange, max_attempts=3) as client, pytest.raises(ExchangeError) as caught:
        client.send([doc("a")])
    assert len(exchange.submissions) == 3 and exchange.ledger == {}
    assert "failed 3 times" in str(caught.value) and "HTTP 503" in str(caught.value)


def test_an_expired_token_is_replaced_and_the_request_goes_through() -> None:
    exchange = Exchange()
    with client_for(exchange) as client:
        client.send([doc("a")])
        exchange.tokens.clear()  # the exchange forgot every token (expired, or it restarted)
        (ack,) = client.send([doc("b")])
    assert (ack["status"], ack["attempts"]) == ("ACCEPTED", 2)
    assert exchange.token_requests == 2


def test_refused_documents_and_403_come_back_as_rejected_acks() -> None:
    exchange = Exchange()
    forbidden = lambda request: httpx.Response(403, json={"error": "insufficient_scope"})  # noqa: E731
    with client_for(exchange) as client:
        acks = client.send([doc("a"), doc("b", bad=True)])
        exchange.statuses.append(forbidden)
        (refused,) = client.send([doc("c")])
    assert [(a["status"], a.get("reason")) for a in acks] == [("ACCEPTED", None), ("REJECTED", "DATE_ORDER")]
    assert (refused["status"], refused["reason"], refused["detail"]) == (
        "REJECTED",
        "INSUFFICIENT_SCOPE",
        "insufficient_scope",
    )


def test_check_at_start_names_a_refused_credential_without_its_secret() -> None:
    exchange = Exchange(secrets={"STNMT": "s3cret", "STP": "changed"})
    with client_for(exchange) as client, pytest.raises(ExchangeError) as caught:
        client.check()
    assert "refused the credentials of agency STP" in str(caught.value) and "invalid_client" in str(
        caught.value
    )
    assert "other" not in str(caught.value) and "s3cret" not in str(caught.value)


def test_check_at_start_says_when_the_exchange_cannot_be_reached() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with client_for(down) as client, pytest.raises(ExchangeError, match="is not reachable: ConnectError"):
        client.check()


def test_the_circuit_opens_after_failures_in_a_row_then_a_probe_closes_it() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=3, cooldown=10.0, clock=lambda: now[0])
    metrics = HubMetrics(CollectorRegistry())
    exchange = Exchange([503] * 3)
    with client_for(exchange, max_attempts=5, breaker=breaker, metrics=metrics) as client:
        with pytest.raises(ExchangeError, match=r"circuit open, next probe in 10\.0 s"):
            client.send([doc("a")])
        assert len(exchange.submissions) == 3  # no fourth call: the circuit opened
        assert metrics.registry.get_sample_value("hub_exchange_circuit_open") == 1
        with pytest.raises(ExchangeError, match="circuit open"):
            client.send([doc("a")])
        assert len(exchange.submissions) == 3  # nothing goes while it is open
        now[0] = 10.5  # cool-down over: one probe goes, and it succeeds
        assert client.send([doc("a")])[0]["status"] == "ACCEPTED"
    assert breaker.state is CircuitState.CLOSED
    assert metrics.registry.get_sample_value("hub_exchange_circuit_open") == 0
    assert metrics.registry.get_sample_value("hub_exchange_requests_total", {"status": "503"}) == 3
    assert metrics.registry.get_sample_value("hub_exchange_retries_total") == 2


def test_a_failed_probe_opens_the_circuit_for_longer() -> None:
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown=2.0, max_cooldown=5.0, clock=lambda: now[0])
    breaker.failure()
    assert breaker.state is CircuitState.OPEN and not breaker.allow()
    now[0] = 2.0
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.failure()
    assert breaker.retry_in() == 4.0
    now[0] = 6.0
    assert breaker.allow()
    breaker.failure()
    assert breaker.retry_in() == 5.0  # no longer than max_cooldown
    breaker.success()
    assert breaker.state is CircuitState.CLOSED and breaker.opened == 3


def test_throttling_does_not_open_the_circuit() -> None:
    breaker = CircuitBreaker(threshold=2)
    exchange = Exchange([429, 429, 429])
    with client_for(exchange, breaker=breaker) as client:
        assert client.send([doc("a")])[0]["attempts"] == 4
    assert breaker.state is CircuitState.CLOSED


def test_resending_after_a_failure_is_safe() -> None:
    """At-least-once forwarding: a batch sent twice is accepted once."""
    exchange = Exchange()
    documents = [to_exchange_document(reconciled(f"r{i}")) for i in range(3)]
    with client_for(exchange) as client:
        first = client.send(documents)
        second = client.send(documents)
    assert {a["status"] for a in first} == {"ACCEPTED"}
    assert {a["status"] for a in second} == {"DUPLICATE"}
    assert len(exchange.ledger) == 3


# --- credentials -----------------------------------------------------------------------------


def test_credentials_file_is_read_and_secrets_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "exchange.toml"
    path.write_text('[agencies.STNMT]\nclient_id = "stnmt-74"\nclient_secret = "hunter2"\n', encoding="utf-8")
    ((agency, credential),) = load_credentials(path).items()
    assert (agency, credential.client_id, credential.client_secret.get_secret_value()) == (
        "STNMT",
        "stnmt-74",
        "hunter2",
    )
    assert "hunter2" not in repr(credential) and "hunter2" not in str(credential)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not = [toml", "is not TOML"),
        ("[other]\n", "has no [agencies.<CODE>] tables"),
        ('[agencies.STP]\nclient_id = "STP"\n', "needs client_id and client_secret"),
    ],
)
def test_a_bad_credentials_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "exchange.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", "\\[").replace("]", "\\]")):
        load_credentials(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_credentials(tmp_path / "missing.toml")


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
    ack = {
        "record_id": "r1",
        "status": status,
        "transaction_id": "tx-1",
        "reason": "DATE_ORDER",
        "detail": None,
        "attempts": 2,
    }
    out = ack_message(ack, codec.encoder_for(ACK_ID), NOW)
    assert (out.topic, out.key) == (EXCHANGE_ACKS.name, b"r1")
    _, record = codec.decode(out.value)
    assert record == {
        "record_id": "r1",
        "status": published,
        "exchange_transaction_id": "tx-1",
        "reason": "DATE_ORDER" if published == "REJECTED" else None,
        "detail": None,
        "attempts": 2,
        "acked_at": NOW,
    }


def _batch(codec: AvroCodec, values: list[bytes]) -> list[Message]:
    return [
        Message(topic=RECONCILED.name, partition=0, offset=i, key=b"k", value=v) for i, v in enumerate(values)
    ]


def test_forward_stage_publishes_acks_and_counts_once_committed(codec: AvroCodec) -> None:
    exchange = Exchange([503])
    metrics = HubMetrics(CollectorRegistry())
    batch = _batch(codec, [codec.encode(RECONCILED_ID, reconciled(f"r{i}")) for i in range(3)])
    with client_for(exchange) as client:
        stage = ForwardStage(codec, client, ACK_ID, metrics)
        outputs = stage.process(batch)
        assert [o.key for o in outputs] == [b"r0", b"r1", b"r2"]
        assert all(codec.decode(o.value)[1]["attempts"] == 2 for o in outputs)
        sample = metrics.registry.get_sample_value
        assert sample("hub_exchange_acks_total", {"status": "ACCEPTED"}) is None
        stage.committed()
        assert sample("hub_exchange_acks_total", {"status": "ACCEPTED"}) == 3
        stage.process(batch[:1])
        stage.committed()
        assert sample("hub_exchange_acks_total", {"status": "DUPLICATE"}) == 1


def test_forward_stage_counts_a_failed_call_and_raises_it_to_be_retried(codec: AvroCodec) -> None:
    metrics = HubMetrics(CollectorRegistry())
    batch = _batch(codec, [codec.encode(RECONCILED_ID, reconciled())])
    with client_for(Exchange([503] * 5), max_attempts=2) as client:
        stage = ForwardStage(codec, client, ACK_ID, metrics)
        with pytest.raises(ExchangeError):
            stage.process(batch)
    assert metrics.registry.get_sample_value("hub_exchange_failures_total") == 1


def test_forward_stage_dead_letters_what_the_exchange_refuses_with_its_reason(codec: AvroCodec) -> None:
    record = reconciled("r1")
    record["dossier"]["MaKetQua"] = "bad"
    good, refused = (codec.encode(RECONCILED_ID, reconciled("r0")), codec.encode(RECONCILED_ID, record))
    exchange = Exchange()
    exchange._receive = lambda d: (  # type: ignore[method-assign]
        {"record_id": d["record_id"], "status": "REJECTED", "reason": "BAD_CODE", "detail": "MaKetQua"}
        if d["dossier"]["MaKetQua"] == "bad"
        else {"record_id": d["record_id"], "status": "ACCEPTED", "transaction_id": "tx"}
    )
    with client_for(exchange) as client:
        outputs = ForwardStage(codec, client, ACK_ID, HubMetrics(CollectorRegistry())).process(
            _batch(codec, [good, refused])
        )
    assert [o.topic for o in outputs] == [EXCHANGE_ACKS.name, EXCHANGE_ACKS.name, FORWARD_DEAD_LETTERS.name]
    assert codec.decode(outputs[1].value)[1]["reason"] == "BAD_CODE"
    dead = outputs[2]
    assert dead.value == refused and dict(dead.headers)["__hub.errors.reason"] == b"BAD_CODE"
    assert dict(dead.headers)["__hub.errors.stage"] == b"forward"


def test_forward_stage_dead_letters_an_unreadable_record_and_forwards_the_rest(codec: AvroCodec) -> None:
    metrics = HubMetrics(CollectorRegistry())
    values = [codec.encode(RECONCILED_ID, reconciled("r0")), b"\x00\x00\x00\x00\x01", b"not avro"]
    values.append(codec.encode(RECONCILED_ID, reconciled("r3")))
    exchange = Exchange()
    with client_for(exchange) as client:
        outputs = ForwardStage(codec, client, ACK_ID, metrics).process(_batch(codec, values))
    assert [o.topic for o in outputs] == [EXCHANGE_ACKS.name] * 2 + [FORWARD_DEAD_LETTERS.name] * 2
    assert [o.key for o in outputs[:2]] == [b"r0", b"r3"]
    reasons = [dict(o.headers)["__hub.errors.reason"] for o in outputs[2:]]
    assert reasons == [b"TRUNCATED_RECORD", b"BAD_MAGIC_BYTE"]
    assert [dict(o.headers)["__hub.errors.offset"] for o in outputs[2:]] == [b"1", b"2"]
    assert len(exchange.ledger) == 2


def test_the_deployment_s_example_credentials_cover_every_agency() -> None:
    example = Path(__file__).resolve().parents[3] / "deploy" / "exchange-credentials.toml.example"
    assert set(load_credentials(example)) == {department.agency for department in Department}


def test_end_to_end_latency_is_observed_from_the_agency_s_publish_once_committed(codec: AvroCodec) -> None:
    import time

    from confluent_kafka import TIMESTAMP_CREATE_TIME

    metrics = HubMetrics(CollectorRegistry())
    published = int(time.time() * 1000) - 3_000  # published three seconds ago
    batch = [
        Message(
            topic=RECONCILED.name,
            partition=0,
            offset=i,
            key=b"k",
            value=codec.encode(RECONCILED_ID, reconciled(f"late{i}")),
            timestamp=(TIMESTAMP_CREATE_TIME, published),
        )
        for i in range(2)
    ]
    sample = metrics.registry.get_sample_value
    with client_for(Exchange()) as client:
        stage = ForwardStage(codec, client, ACK_ID, metrics)
        stage.process(batch)
        assert sample("hub_end_to_end_latency_seconds_count") == 0  # not before the commit
        stage.committed()
    assert sample("hub_end_to_end_latency_seconds_count") == 2
    assert sample("hub_end_to_end_latency_seconds_bucket", {"le": "2.5"}) == 0
    assert sample("hub_end_to_end_latency_seconds_bucket", {"le": "10.0"}) == 2
