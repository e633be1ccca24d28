"""The mock national exchange over real HTTP, on SQLite and PostgreSQL, and its commands."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from hub.exchange.clients import LEDGER_READ, agency_scope
from hub.exchange.server import ExchangeServer

pytestmark = pytest.mark.integration

HUB = [sys.executable, "-m", "hub.cli"]
SECRET = "stnmt-secret-for-the-tests-0123"
SYNC = "/api/v1/dossiers/sync"


def document(record_id: str, name: str = "Nguyễn Văn An") -> dict[str, Any]:
    """A valid land document, as the forwarder builds it."""
    return {
        "record_id": record_id,
        "department": "land",
        "agency": "STNMT",
        "occurred_at": "2026-11-03T08:30:00+00:00",
        "citizen": {
            "SoDinhDanh": "074085001234",
            "SoCMND": None,
            "HoVaTen": name,
            "NgayThangNamSinh": "1985-03-14",
            "GioiTinh": "MALE",
            "MaHuyen": "718",
            "MaXa": "25700",
        },
        "dossier": {
            "MaHoSo": f"000.00.12.H57-{record_id}",
            "MaTTHC": "1.004227",
            "NgayTiepNhan": "2026-11-01T09:00:00+00:00",
            "NgayHenTra": "2026-11-10T09:00:00+00:00",
            "NgayKetThucXuLy": None,
            "KenhThucHien": 2,
            "PhiLePhi": 50000,
            "DuocThanhToanTrucTuyen": 1,
            "MaKetQua": None,
            "DuongDanTepTinKetQua": None,
            "HoSoCoThanhPhanSoHoa": True,
            "DuocLayTuKhoDMQG": False,
            "TaiKhoanDuocXacThucVoiVNeID": True,
        },
        "original_sha256": "5" * 64,
    }


def token(url: str, client_id: str = "STNMT", secret: str = SECRET) -> dict[str, str]:
    """Authorization headers with a fresh token for the client."""
    answer = httpx.post(
        f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.fixture
def server(engine: Engine) -> Iterator[ExchangeServer]:
    with ExchangeServer(engine) as running:
        running.clients.set("STNMT", SECRET, [agency_scope("STNMT")])
        yield running


def test_the_ledger_survives_a_restart(engine: Engine) -> None:
    with ExchangeServer(engine) as first:
        first.clients.set("STNMT", SECRET, [agency_scope("STNMT")])
        old_token = token(first.url)
        ack = httpx.post(
            f"{first.url}{SYNC}", json={"records": [document("STNMT-1")]}, headers=old_token
        ).json()
        assert ack["acks"][0]["status"] == "ACCEPTED"
    with ExchangeServer(engine) as second:
        gone = httpx.post(f"{second.url}{SYNC}", json={"records": [document("STNMT-1")]}, headers=old_token)
        assert gone.status_code == 401  # tokens live in memory; clients and the ledger in the database
        again = httpx.post(
            f"{second.url}{SYNC}", json={"records": [document("STNMT-1")]}, headers=token(second.url)
        ).json()
        assert again["acks"][0] == {**ack["acks"][0], "status": "DUPLICATE"}
        assert second.ledger.count() == 1 and second.ledger.record_ids() == {"STNMT-1"}
        entry = second.ledger.get("STNMT-1")
        assert entry is not None and entry["transaction_id"] == ack["acks"][0]["transaction_id"]


def test_concurrent_overlapping_submissions_store_each_record_once(server: ExchangeServer) -> None:
    ids = [f"STNMT-{i:04d}" for i in range(600)]
    headers = token(server.url)
    acks: list[dict[str, Any]] = []
    failures: list[str] = []
    start = threading.Barrier(8)

    def submit(seed: int) -> None:
        mine = random.Random(seed).sample(ids, len(ids))
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            start.wait()
            for batch in range(0, len(mine), 150):
                answer = http.post(SYNC, json={"records": [document(i) for i in mine[batch : batch + 150]]})
                if answer.status_code != 200:
                    failures.append(answer.text)
                else:
                    acks.extend(answer.json()["acks"])

    threads = [threading.Thread(target=submit, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(acks) == 8 * len(ids)
    outcomes: dict[str, list[str]] = defaultdict(list)
    transactions: dict[str, set[str]] = defaultdict(set)
    for ack in acks:
        outcomes[ack["record_id"]].append(ack["status"])
        transactions[ack["record_id"]].add(ack["transaction_id"])
    assert all(sorted(found) == ["ACCEPTED"] + ["DUPLICATE"] * 7 for found in outcomes.values())
    assert all(len(found) == 1 for found in transactions.values())
    assert server.ledger.count() == len(ids) and server.ledger.record_ids() == set(ids)
    assert (server.stats.accepted, server.stats.duplicate) == (600, 4200)


def test_faults_change_while_running(server: ExchangeServer) -> None:
    headers = token(server.url)
    server.set_faults(throttle_rate=1.0, retry_after_seconds=3)
    refused = httpx.post(f"{server.url}{SYNC}", json={"records": [document("STNMT-1")]}, headers=headers)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "3"
    assert server.faults.throttle_rate == 1.0 and server.ledger.count() == 0
    server.set_faults(throttle_rate=0.0)
    accepted = httpx.post(f"{server.url}{SYNC}", json={"records": [document("STNMT-1")]}, headers=headers)
    assert accepted.status_code == 200 and server.ledger.count() == 1
    assert server.stats.by_status == {200: 1, 429: 1}


# The commands


def _environment(database_url: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return {**clean, "HUB_DATABASE_URL": database_url, "COLUMNS": "200"}


def _hub(args: list[str], database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HUB, *args], capture_output=True, text=True, timeout=60, env=_environment(database_url)
    )


@pytest.fixture
def command(database_url: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``hub exchange`` running on a free port with an outage and faults set; its URL."""
    process = subprocess.Popen(
        [*HUB, "exchange", "--port", "0", "--outage", "3600:60", "--error-rate", "0.25", "--seed", "7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(database_url),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("export HUB_EXCHANGE_URL=http://127.0.0.1:"), line
        yield process, line.split("=", 1)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_the_command_serves_until_sigterm(
    command: tuple[subprocess.Popen[str], str], database_url: str
) -> None:
    process, url = command
    assert httpx.get(f"{url}/health").json() == {"status": "ok", "ledger_records": 0}

    added = _hub(["exchange-clients", "add", "STNMT"], database_url)
    assert added.returncode == 0, added.stderr
    lines = dict(line.split("=", 1) for line in added.stdout.splitlines())
    assert set(lines) == {"client_id", "client_secret"} and lines["client_id"] == "STNMT"
    assert "not shown again" in added.stderr and lines["client_secret"] not in added.stderr
    ops = _hub(
        ["exchange-clients", "add", "ops", "--scope", "exchange.admin", "--scope", LEDGER_READ], database_url
    )
    ops_secret = dict(line.split("=", 1) for line in ops.stdout.splitlines())["client_secret"]

    submitted = httpx.post(
        f"{url}{SYNC}",
        json={"records": [document("STNMT-1")]},
        headers=token(url, "STNMT", lines["client_secret"]),
    )
    assert submitted.status_code in (200, 500, 502, 503)  # --error-rate 0.25
    faults = httpx.get(f"{url}/admin/faults", headers=token(url, "ops", ops_secret)).json()
    assert (faults["error_rate"], faults["seed"]) == (0.25, 7)
    (outage,) = faults["outages"]
    assert outage["end"] - outage["start"] == 60

    listed = _hub(["exchange-clients", "list"], database_url)
    assert listed.returncode == 0
    assert (
        "STNMT\tdossiers.submit:STNMT" in listed.stdout and "ops\texchange.admin ledger.read" in listed.stdout
    )
    assert lines["client_secret"] not in listed.stdout + listed.stderr and ops_secret not in listed.stdout

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    said = " ".join(stderr.split())
    assert f"mock national exchange on {url}" in said
    assert f"database {database_url.split('?')[0]}" in said
    assert "faults error_rate 0.25, seed 7, outage" in said


def test_client_commands_refuse_mistakes_in_one_line(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    assert _hub(["exchange-clients", "add", "STP"], database_url).returncode == 0
    for args, message in [
        (["exchange-clients", "add", "STP"], "exchange client 'STP' exists already"),
        (["exchange-clients", "add", "auditor"], "'auditor' is not an agency code: give --agency or --scope"),
        (["exchange-clients", "add", "x", "--scope", "all"], "unknown scope 'all'"),
        (["exchange-clients", "remove", "nobody"], "no exchange client 'nobody'"),
        (["exchange", "--port", "0", "--outage", "soon"], "--outage takes START:SECONDS"),
    ]:
        result = _hub(args, database_url)
        assert result.returncode == 1, args
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("hub: error: ") and message in line, line
    assert _hub(["exchange-clients", "add", "SGTVT", "--agency"], database_url).returncode == 0
    removed = _hub(["exchange-clients", "remove", "STP"], database_url)
    assert removed.returncode == 0 and "removed" in removed.stderr
    listed = _hub(["exchange-clients", "list"], database_url).stdout
    assert "SGTVT\tdossiers.submit:SGTVT" in listed and "STP\t" not in listed


def test_the_command_on_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _hub(["exchange", "--port", str(port)], f"sqlite:///{tmp_path / 'hub.db'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"hub: error: mock national exchange: port 127.0.0.1:{port} is in use (Address already in use)"
    ]


def test_help(tmp_path: Path) -> None:
    for args in (["exchange"], ["exchange-clients"], ["exchange-clients", "add"]):
        result = _hub([*args, "--help"], f"sqlite:///{tmp_path / 'hub.db'}")
        assert result.returncode == 0 and "Usage" in result.stdout, args
