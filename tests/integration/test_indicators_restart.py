"""The indicators stage killed with SIGKILL mid-stream and restarted ends with the values of a
clean run: in the SQL store (what `hub report` prints) and on the compacted indicators topic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from hub.audit.live import partitions_of, read
from hub.bench.forward import publish_reconciled, reconciled_record
from hub.db import connect
from hub.kafka.broker import EmbeddedBroker
from hub.metrics import HubMetrics
from hub.province import load_province
from hub.runtime import Runtime
from hub.settings import Settings
from hub.stages.indicators import DossierStore, IndicatorStage
from hub.stages.indicators.report import report
from hub.stages.indicators.stage import snapshot_messages
from hub.topics import EXCHANGE_ACKS, INDICATORS, RECONCILED

pytestmark = pytest.mark.integration

RECORDS = 20_000
LATENESS = timedelta(days=36_500)  # every record counts, whatever today's date
ACKED = range(0, RECORDS, 3)


Wait = Callable[[Callable[[], bool], float, str, Callable[[], None]], None]


def _publish_acks(runtime: Runtime) -> None:
    schema_id = runtime.schema_id("vn.lgsp.ExchangeAck")
    producer = runtime.clients.producer()
    for i in ACKED:
        record_id = reconciled_record(i)["record_id"]
        ack = {"record_id": record_id, "status": "ACCEPTED", "attempts": 1, "acked_at": datetime.now(UTC)}
        producer.produce(EXCHANGE_ACKS.name, runtime.codec.encode(schema_id, ack), record_id.encode())
        producer.poll(0)
    assert producer.flush(30) == 0


def _everything(runtime: Runtime, topics: list[str]) -> list[Any]:
    """Every message of ``topics``, from the start of every partition, to their ends."""
    clients = runtime.clients
    return [
        message
        for topic in topics
        for message in read(clients, topic, dict.fromkeys(range(partitions_of(clients, topic)), 0))
    ]


def test_a_killed_and_restarted_worker_ends_as_a_clean_run_does(
    own_broker: EmbeddedBroker, tmp_path: Path, wait: Wait
) -> None:
    killed_db = f"sqlite:///{tmp_path / 'killed.db'}"
    settings = Settings(kafka_bootstrap=own_broker.bootstrap, database_url=killed_db, data_dir=tmp_path)
    with Runtime(settings) as runtime:
        runtime.prepare()
        publish_reconciled(runtime, range(RECORDS))
        _publish_acks(runtime)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
            "HUB_KAFKA_BOOTSTRAP": own_broker.bootstrap,
            "HUB_DATABASE_URL": killed_db,
            "HUB_DATA_DIR": str(tmp_path),
            "HUB_CONSUMER_BATCH_SIZE": "500",
            "HUB_INDICATOR_TABLES_PORT": "0",
            # the records' receipt dates are fixed (hub.bench.forward); their publication is now
            "HUB_INDICATOR_ALLOWED_LATENESS_DAYS": str(LATENESS.days),
        }
        logs = iter(tmp_path / f"indicators-{n}.log" for n in range(2))
        store = DossierStore(runtime.engine)

        def start() -> subprocess.Popen[bytes]:
            with next(logs).open("wb") as log:
                command = [sys.executable, "-m", "hub.cli", "run", "--stage", "indicators"]
                return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)

        worker = start()

        def running() -> None:
            assert worker.poll() is None, "the indicators worker exited on its own"

        try:
            wait(lambda: store.count() >= RECORDS // 3, 120, "a third of the dossiers", running)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            worker = start()
            synced = len(ACKED)

            def done() -> bool:
                tally = store.tallies("province").values()
                return sum(n for t in tally for f, n in t.items() if f.synced) >= synced

            wait(lambda: store.count() >= RECORDS and done(), 180, "every dossier, synced ones too", running)
            time.sleep(3)  # the last batch's snapshots
        finally:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(30)

        clean_engine = connect(f"sqlite:///{tmp_path / 'clean.db'}")
        clean = IndicatorStage(
            runtime.codec,
            DossierStore(clean_engine),
            runtime.schema_id("vn.lgsp.IndicatorSnapshot"),
            HubMetrics(CollectorRegistry()),
            load_province("74"),
            LATENESS,
        )
        inputs = _everything(runtime, [RECONCILED.name, EXCHANGE_ACKS.name])
        for start_at in range(0, len(inputs), 4000):
            clean.process(inputs[start_at : start_at + 4000])
        for by in ("province", "department", "district", "commune", "procedure"):
            assert report(store, None, by) == report(DossierStore(clean_engine), None, by)

        published: dict[bytes, bytes] = {}
        for message in _everything(runtime, [INDICATORS.name]):
            published[message.key()] = message.value()  # a compacted topic keeps the last
        expected = snapshot_messages(clean.live, clean.live.counts, clean._encode, datetime.now(UTC))
        decode = runtime.codec.decode
        fields = ("numerator", "denominator", "rate", "points")
        for out in expected:
            got = decode(published[out.key])[1]
            assert {f: got[f] for f in fields} == {f: decode(out.value)[1][f] for f in fields}, out.key
        clean_engine.dispose()
