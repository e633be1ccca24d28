"""Proof of delivery: through failures, throttling, an outage and two SIGKILLs, every record
reaches the exchange's ledger exactly once, and every refused one the dead-letter topic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.audit.replay import replay_json as replay
from hub.avro.wire import AvroCodec
from hub.bench.forward import publish_reconciled, reconciled_record, write_credentials
from hub.db import connect
from hub.exchange.faults import Faults, Outage
from hub.exchange.server import ExchangeServer
from hub.kafka.broker import EmbeddedBroker
from hub.runtime import Runtime
from hub.settings import Settings
from hub.topics import FORWARD_DEAD_LETTERS

pytestmark = pytest.mark.integration

RECORDS = 50_000
REFUSED_EVERY = 997  # these the exchange refuses for good (DATE_ORDER): 51 of them


Wait = Callable[[Callable[[], bool], float, str, Callable[[], None]], None]


def test_every_record_reaches_the_ledger_once_through_failures_an_outage_and_two_kills(
    own_broker: EmbeddedBroker, tmp_path: Path, wait: Wait
) -> None:
    hub_db, exchange_db = f"sqlite:///{tmp_path / 'hub.db'}", f"sqlite:///{tmp_path / 'exchange.db'}"
    exchange_engine = connect(exchange_db)
    credentials = tmp_path / "exchange.toml"
    write_credentials(exchange_engine, credentials)
    refused = {reconciled_record(i)["record_id"] for i in range(0, RECORDS, REFUSED_EVERY)}
    accepted = {reconciled_record(i)["record_id"] for i in range(RECORDS)} - refused
    settings = Settings(kafka_bootstrap=own_broker.bootstrap, database_url=hub_db, data_dir=tmp_path)
    with Runtime(settings) as runtime:
        runtime.prepare()
        publish_reconciled(runtime, range(RECORDS), refused_every=REFUSED_EVERY)
        codec = AvroCodec(runtime.schemas.schema_text)
        faults = Faults(error_rate=0.2, throttle_rate=0.05, retry_after_seconds=0.2)
        with ExchangeServer(exchange_engine, faults=faults) as exchange:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
                "HUB_KAFKA_BOOTSTRAP": own_broker.bootstrap,
                "HUB_DATABASE_URL": hub_db,
                "HUB_DATA_DIR": str(tmp_path),
                "HUB_EXCHANGE_URL": exchange.url,
                "HUB_EXCHANGE_CREDENTIALS": str(credentials),
                "HUB_EXCHANGE_MAX_ATTEMPTS": "8",
            }
            logs = iter(tmp_path / f"forward-{n}.log" for n in range(3))
            forwarder: subprocess.Popen[bytes] | None = None

            def start() -> subprocess.Popen[bytes]:
                with next(logs).open("wb") as log:  # the child keeps its own descriptor
                    return subprocess.Popen(
                        [sys.executable, "-m", "hub.cli", "run", "--stage", "forward"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=log,
                    )

            def running() -> None:
                assert forwarder is not None and forwarder.poll() is None, "the forwarder exited on its own"

            try:
                forwarder = start()
                wait(lambda: exchange.ledger.count() >= 10_000, 180, "10,000 in the ledger", running)
                forwarder.send_signal(signal.SIGKILL)
                forwarder.wait()
                now = time.time()
                exchange.set_faults(outages=(Outage(now, now + 3.0),))
                forwarder = start()
                wait(lambda: exchange.ledger.count() >= 25_000, 180, "25,000 in the ledger", running)
                forwarder.send_signal(signal.SIGKILL)
                forwarder.wait()
                forwarder = start()
                wait(
                    lambda: exchange.ledger.count() >= len(accepted),
                    240,
                    "every record in the ledger",
                    running,
                )
                time.sleep(2)  # anything extra would show now
                assert exchange.ledger.count() == len(accepted)
                assert (
                    exchange.ledger.record_ids() == accepted
                )  # every record, once; none missing, none extra
                assert exchange.stats.requests > 0
            finally:
                if forwarder is not None and forwarder.poll() is None:
                    forwarder.send_signal(signal.SIGTERM)
                    forwarder.wait(30)

        dead: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while set(dead) != refused and time.monotonic() < deadline:
            for message in replay(runtime.clients, FORWARD_DEAD_LETTERS, codec):
                dead[message["value"]["record_id"]] = message["headers"]["__hub.errors.reason"]
        assert set(dead) == refused  # every refused record, with the exchange's reason
        assert set(dead.values()) == {"DATE_ORDER"}
    exchange_engine.dispose()
