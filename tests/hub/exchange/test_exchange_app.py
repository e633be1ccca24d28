"""Unit tests for hub.exchange.app through Starlette's TestClient, over SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from hub.exchange.app import create_app
from hub.exchange.clients import ADMIN, LEDGER_READ, ClientStore, agency_scope
from hub.exchange.faults import FaultInjector, Faults, Outage
from hub.exchange.ledger import ExchangeLedger
from hub.exchange.sql import ledger as ledger_table
from hub.exchange.stats import ExchangeStats
from hub.exchange.tokens import TokenStore

Document = Callable[..., dict[str, Any]]
SECRETS = {
    "STNMT": "stnmt-secret-0123456789",
    "STP": "stp-secret-0123456789abc",
    "auditor": "auditor-secret-012345678",
    "ops": "ops-secret-0123456789abcd",
    "both": "both-secret-0123456789abc",
}
SCOPES = {
    "STNMT": [agency_scope("STNMT")],
    "STP": [agency_scope("STP")],
    "auditor": [LEDGER_READ],
    "ops": [ADMIN],
    "both": [agency_scope("STNMT"), LEDGER_READ],
}
SYNC = "/api/v1/dossiers/sync"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Exchange:
    http: TestClient
    ledger: ExchangeLedger
    faults: FaultInjector
    stats: ExchangeStats
    clock: Clock

    def token(self, client_id: str, scope: str | None = None) -> str:
        form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        answer = self.http.post("/oauth/token", data=form, auth=(client_id, SECRETS[client_id]))
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def bearer(self, client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id)}"}

    def submit(self, client_id: str, documents: list[Any]) -> httpx.Response:
        return self.http.post(SYNC, json={"records": documents}, headers=self.bearer(client_id))


@pytest.fixture
def exchange(engine: Engine) -> Iterator[Exchange]:
    clients = ClientStore(engine)
    for client_id, secret in SECRETS.items():
        clients.set(client_id, secret, SCOPES[client_id])
    clock = Clock()
    ledger, faults, stats = ExchangeLedger(engine), FaultInjector(clock=time.time), ExchangeStats()
    app = create_app(ledger, clients, TokenStore(300, clock), faults, stats)
    with TestClient(app) as http:
        yield Exchange(http, ledger, faults, stats, clock)


# Tokens


def test_a_token_by_http_basic(exchange: Exchange) -> None:
    answer = exchange.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("STNMT", SECRETS["STNMT"])
    )
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 300
    assert body["scope"] == "dossiers.submit:STNMT" and len(body["access_token"]) >= 40


def test_a_token_by_form_fields(exchange: Exchange) -> None:
    form = {"grant_type": "client_credentials", "client_id": "both", "client_secret": SECRETS["both"]}
    answer = exchange.http.post("/oauth/token", data=form)
    assert answer.status_code == 200
    assert answer.json()["scope"] == "dossiers.submit:STNMT ledger.read"


@pytest.mark.parametrize(
    ("auth", "form"),
    [
        (("STNMT", "wrong-secret-0123456789"), {}),
        (("nobody", SECRETS["STNMT"]), {}),
        (None, {"client_id": "STNMT", "client_secret": "wrong"}),
        (None, {}),
    ],
)
def test_a_bad_client_is_401_invalid_client(
    exchange: Exchange, auth: tuple[str, str] | None, form: dict[str, str]
) -> None:
    answer = exchange.http.post("/oauth/token", data={"grant_type": "client_credentials", **form}, auth=auth)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    assert answer.headers["www-authenticate"] == "Basic"


def test_a_malformed_basic_header_is_401(exchange: Exchange) -> None:
    for header in ("Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Digest abc"):
        answer = exchange.http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": header}
        )
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": "client_credentials", "scope": "exchange.admin"}, "invalid_scope"),
        ({"grant_type": "client_credentials", "scope": "dossiers.submit:STP"}, "invalid_scope"),
    ],
)
def test_token_request_errors_are_400(exchange: Exchange, form: dict[str, str], error: str) -> None:
    answer = exchange.http.post("/oauth/token", data=form, auth=("STNMT", SECRETS["STNMT"]))
    assert answer.status_code == 400 and answer.json()["error"] == error


def test_a_token_request_must_be_a_form_authenticated_one_way(exchange: Exchange) -> None:
    as_json = exchange.http.post(
        "/oauth/token", json={"grant_type": "client_credentials"}, auth=("STNMT", SECRETS["STNMT"])
    )
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    both_ways = {"grant_type": "client_credentials", "client_id": "STNMT", "client_secret": SECRETS["STNMT"]}
    answer = exchange.http.post("/oauth/token", data=both_ways, auth=("STNMT", SECRETS["STNMT"]))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


def test_a_token_may_hold_a_subset_of_the_scopes(exchange: Exchange, document: Document) -> None:
    reader = exchange.token("both", scope="ledger.read")
    answer = exchange.http.post(
        SYNC, json={"records": [document()]}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert answer.status_code == 403 and answer.json()["scope"] == "dossiers.submit:STNMT"
    counts = exchange.http.get("/api/v1/ledger/counts", headers={"Authorization": f"Bearer {reader}"})
    assert counts.status_code == 200


# Submitting


def test_submitting_acknowledges_each_document(exchange: Exchange, document: Document) -> None:
    batch = [document("STNMT-1"), document("STNMT-2", dossier__KenhThucHien=7), document("STNMT-3")]
    answer = exchange.submit("STNMT", batch)
    assert answer.status_code == 200
    acks = answer.json()["acks"]
    assert [(a["record_id"], a["status"], a["reason"]) for a in acks] == [
        ("STNMT-1", "ACCEPTED", None),
        ("STNMT-2", "REJECTED", "BAD_CODE"),
        ("STNMT-3", "ACCEPTED", None),
    ]
    again = exchange.submit(
        "STNMT", [document("STNMT-1"), document("STNMT-3", dossier__MaKetQua="KQ")]
    ).json()
    assert again["acks"][0] == {**acks[0], "status": "DUPLICATE"}
    assert again["acks"][1]["status"] == "REJECTED" and again["acks"][1]["reason"] == "CONFLICT"
    assert exchange.ledger.record_ids() == {"STNMT-1", "STNMT-3"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}],
)
def test_submitting_without_a_valid_token_is_401(
    exchange: Exchange, document: Document, headers: dict[str, str]
) -> None:
    answer = exchange.http.post(SYNC, json={"records": [document()]}, headers=headers)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_token"
    assert answer.json()["error_description"]
    assert answer.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert exchange.ledger.count() == 0


def test_an_expired_token_is_401(exchange: Exchange, document: Document) -> None:
    headers = exchange.bearer("STNMT")
    exchange.clock.now += 299
    assert exchange.http.post(SYNC, json={"records": []}, headers=headers).status_code == 200
    exchange.clock.now += 1
    answer = exchange.http.post(SYNC, json={"records": [document()]}, headers=headers)
    assert answer.status_code == 401 and "expired" in answer.json()["error_description"]


def test_another_agencys_document_refuses_the_whole_request(exchange: Exchange, document: Document) -> None:
    batch = [document("STNMT-1"), document("STP-1", agency="STP", department="civil_status")]
    answer = exchange.submit("STNMT", batch)
    assert answer.status_code == 403
    assert answer.json()["error"] == "insufficient_scope" and answer.json()["scope"] == "dossiers.submit:STP"
    assert exchange.ledger.count() == 0
    assert exchange.submit("auditor", [document("STNMT-1")]).status_code == 403
    assert exchange.submit("auditor", []).json()["scope"] == "dossiers.submit:<AGENCY>"


def test_documents_without_an_agency_are_rejected_not_refused(exchange: Exchange, document: Document) -> None:
    acks = exchange.submit("STNMT", [document("STNMT-1", agency="<absent>"), document("STNMT-2")]).json()[
        "acks"
    ]
    assert [a["status"] for a in acks] == ["REJECTED", "ACCEPTED"] and acks[0]["reason"] == "MISSING_FIELD"


def test_at_most_1000_documents_per_request(exchange: Exchange, document: Document) -> None:
    answer = exchange.submit("STNMT", [document(f"STNMT-{i}") for i in range(1001)])
    assert answer.status_code == 413 and answer.json()["error"] == "too_many_records"
    assert exchange.ledger.count() == 0
    assert exchange.submit("STNMT", [document(f"STNMT-{i}") for i in range(1000)]).status_code == 200


@pytest.mark.parametrize("body", [b"not json", b'{"records": {}}', b"[]", b'{"documents": []}'])
def test_a_body_of_another_shape_is_400(exchange: Exchange, body: bytes) -> None:
    headers = {**exchange.bearer("STNMT"), "Content-Type": "application/json"}
    answer = exchange.http.post(SYNC, content=body, headers=headers)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"


# Faults


@pytest.mark.parametrize(
    ("faults", "status", "retry_after"),
    [
        (lambda: Faults(throttle_rate=1, retry_after_seconds=2), 429, "2"),
        (lambda: Faults(outages=(Outage(time.time() - 1, time.time() + 59.5),)), 503, "60"),
        (lambda: Faults(error_rate=1), None, None),
        (lambda: Faults(timeout_rate=1, timeout_seconds=0.01), 504, None),
    ],
    ids=["throttle", "outage", "error", "timeout"],
)
def test_a_refused_submission_stores_nothing(
    exchange: Exchange,
    document: Document,
    faults: Callable[[], Faults],
    status: int | None,
    retry_after: str | None,
) -> None:
    exchange.faults.set(faults())
    answer = exchange.submit("STNMT", [document()])
    assert answer.status_code == status if status else answer.status_code in (500, 502, 503)
    assert answer.headers.get("retry-after") == retry_after
    assert "error" in answer.json()
    assert exchange.ledger.count() == 0


def test_faults_come_after_authentication(exchange: Exchange, document: Document) -> None:
    exchange.faults.set(Faults(error_rate=1))
    assert exchange.http.post(SYNC, json={"records": [document()]}).status_code == 401


def test_latency_delays_the_answer(exchange: Exchange, document: Document) -> None:
    exchange.faults.set(Faults(latency_ms=200))
    started = time.monotonic()
    assert exchange.submit("STNMT", [document()]).status_code == 200
    assert time.monotonic() - started >= 0.2


# Admin


def test_faults_are_read_and_changed_by_an_admin(exchange: Exchange) -> None:
    headers = exchange.bearer("ops")
    assert exchange.http.get("/admin/faults", headers=headers).json() == Faults().to_json()
    changed = exchange.http.put("/admin/faults", json={"error_rate": 0.25, "seed": 9}, headers=headers)
    assert changed.status_code == 200
    assert changed.json() == {**Faults().to_json(), "error_rate": 0.25, "seed": 9}
    assert exchange.faults.faults.error_rate == 0.25
    outage = {"outages": [{"start": 1_800_000_000, "end": 1_800_000_060}]}
    assert exchange.http.put("/admin/faults", json=outage, headers=headers).json()["error_rate"] == 0.25
    assert exchange.faults.faults.outages == (Outage(1_800_000_000, 1_800_000_060),)


@pytest.mark.parametrize(
    "body",
    [{"error_rate": 2}, {"throttle_rate": "high"}, {"bogus": 1}, {"outages": [{"start": 2, "end": 1}]}, [1]],
)
def test_bad_faults_are_400_and_change_nothing(exchange: Exchange, body: Any) -> None:
    answer = exchange.http.put("/admin/faults", json=body, headers=exchange.bearer("ops"))
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
    assert exchange.faults.faults == Faults()
    not_json = exchange.http.put("/admin/faults", content=b"{", headers=exchange.bearer("ops"))
    assert not_json.status_code == 400


def test_faults_need_the_admin_scope(exchange: Exchange) -> None:
    for client_id in ("STNMT", "auditor"):
        answer = exchange.http.get("/admin/faults", headers=exchange.bearer(client_id))
        assert answer.status_code == 403 and answer.json()["scope"] == "exchange.admin"
    assert exchange.http.put("/admin/faults", json={"error_rate": 1}).status_code == 401


# Reading


def test_read_endpoints(exchange: Exchange, document: Document) -> None:
    exchange.submit("STNMT", [document("STNMT-1"), document("STNMT-2")])
    headers = exchange.bearer("auditor")
    counts = exchange.http.get("/api/v1/ledger/counts", headers=headers).json()["counts"]
    assert len(counts) == 1 and counts[0]["agency"] == "STNMT" and counts[0]["records"] == 2
    assert set(counts[0]) == {"agency", "day", "records"}
    by_department = exchange.http.get("/api/v1/ledger/counts?by=department", headers=headers).json()
    assert by_department == {"counts": [{"department": "land", "records": 2}]}
    bad = exchange.http.get("/api/v1/ledger/counts?by=agency,week", headers=headers)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    entry = exchange.http.get("/api/v1/ledger/records/STNMT-1", headers=headers).json()
    assert entry == exchange.ledger.get("STNMT-1")
    missing = exchange.http.get("/api/v1/ledger/records/STNMT-9", headers=headers)
    assert missing.status_code == 404 and missing.json() == {"error": "not_found"}


def test_read_endpoints_need_ledger_read(exchange: Exchange) -> None:
    for path in ("/api/v1/ledger/counts", "/api/v1/ledger/records/x", "/api/v1/stats"):
        answer = exchange.http.get(path, headers=exchange.bearer("STNMT"))
        assert answer.status_code == 403 and answer.json()["scope"] == "ledger.read", path
        assert exchange.http.get(path).status_code == 401


def test_stats_count_submissions_by_status_and_documents_by_outcome(
    exchange: Exchange, document: Document
) -> None:
    exchange.submit("STNMT", [document("STNMT-1"), document("STNMT-2", citizen__MaXa="1")])
    exchange.submit("STNMT", [document("STNMT-1")])
    exchange.http.post(SYNC, json={"records": []})
    exchange.faults.set(Faults(throttle_rate=1))
    exchange.submit("STNMT", [document("STNMT-3")])
    expected = {
        "requests": 4,
        "by_status": {"200": 2, "401": 1, "429": 1},
        "documents": {"accepted": 1, "duplicate": 1, "rejected": 1},
    }
    assert exchange.http.get("/api/v1/stats", headers=exchange.bearer("auditor")).json() == expected
    assert exchange.stats.requests == 4 and exchange.stats.by_status == {200: 2, 401: 1, 429: 1}
    assert (exchange.stats.accepted, exchange.stats.duplicate, exchange.stats.rejected) == (1, 1, 1)


def test_health_needs_no_token_and_says_when_the_database_fails(
    exchange: Exchange, document: Document
) -> None:
    exchange.submit("STNMT", [document()])
    assert exchange.http.get("/health").json() == {"status": "ok", "ledger_records": 1}
    ledger_table.drop(exchange.ledger.engine)
    answer = exchange.http.get("/health")
    assert answer.status_code == 503 and answer.json()["status"] == "unavailable"
    assert "cannot count the ledger" in answer.json()["reason"]


def test_metrics_need_no_token_and_count_what_was_answered(exchange: Exchange, document: Document) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    exchange.submit("STNMT", [document()])
    exchange.submit("STNMT", [document()])  # the same again: a duplicate
    answer = exchange.http.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }
    assert samples[("hub_ndxp_requests_total", (("status", "200"),))] == 2
    assert samples[("hub_ndxp_documents_total", (("outcome", "ACCEPTED"),))] == 1
    assert samples[("hub_ndxp_documents_total", (("outcome", "DUPLICATE"),))] == 1


def test_unknown_paths_and_methods_answer_json(exchange: Exchange) -> None:
    assert exchange.http.get("/nowhere").json() == {"error": "not_found"}
    answer = exchange.http.get(SYNC)
    assert answer.status_code == 405 and answer.json() == {"error": "method_not_allowed"}


# Secrets


def test_secrets_never_reach_logs_or_answers(exchange: Exchange, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + SECRETS["STNMT"]
    answers = [
        exchange.http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("STNMT", wrong)),
        exchange.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "STNMT", "client_secret": wrong},
        ),
        exchange.http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("STNMT", SECRETS["STNMT"])
        ),
        exchange.http.post(
            "/oauth/token",
            data={"grant_type": "password", "client_id": "STNMT", "client_secret": SECRETS["STNMT"]},
        ),
        exchange.http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "STNMT",
                "client_secret": SECRETS["STNMT"],
            },
            auth=("STNMT", SECRETS["STNMT"]),
        ),
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 200, 400, 400]
    assert (
        "token refused to client 'STNMT'" in caplog.text and "token issued to client 'STNMT'" in caplog.text
    )
    for secret in (wrong, SECRETS["STNMT"], base64.b64encode(f"STNMT:{SECRETS['STNMT']}".encode()).decode()):
        assert secret not in caplog.text
        assert not any(secret in answer.text for answer in answers if answer.status_code != 200)
