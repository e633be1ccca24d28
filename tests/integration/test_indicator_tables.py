"""The indicators' faust tables against the real broker: the counts events the stage sends,
applied by the worker process, give exactly the indicators the SQL store gives; after a SIGKILL
and a restart too."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from confluent_kafka import Message
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec
from hub.bench.faust_tables import TablesWorker
from hub.bench.forward import reconciled_record
from hub.db import connect
from hub.kafka.broker import EmbeddedBroker
from hub.kafka.clients import KafkaClients
from hub.metrics import HubMetrics
from hub.province import load_province
from hub.runtime import Runtime
from hub.service import Service
from hub.settings import Settings
from hub.stages.indicators import DossierStore, IndicatorStage
from hub.stages.indicators.counts import LIVE_DIMENSIONS
from hub.stages.indicators.formulas import Facts
from hub.stages.indicators.tables import APP_ID, indicator_rows
from hub.topics import EXCHANGE_ACKS, INDICATORS_COUNTS, RECONCILED

pytestmark = pytest.mark.integration

RECONCILED_ID, ACK_ID, SNAPSHOT_ID = 1, 3, 4
Wait = Callable[[Callable[[], bool], float, str, Callable[[], None]], None]


@pytest.fixture
def codec() -> AvroCodec:
    catalog = get_catalog()
    texts = {
        RECONCILED_ID: "vn.lgsp.ReconciledRecord",
        ACK_ID: "vn.lgsp.ExchangeAck",
        SNAPSHOT_ID: "vn.lgsp.IndicatorSnapshot",
    }
    return AvroCodec({n: catalog.text(name) for n, name in texts.items()}.get)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'hub.db'}")
    yield engine
    engine.dispose()


def dossiers(codec: AvroCodec, numbers: range, today: date) -> list[Message]:
    """Reconciled records received over the last days (recent: inside the tables' expiry)."""
    out = []
    for i in numbers:
        record = reconciled_record(i)
        received = datetime.combine(today - timedelta(days=i % 9), datetime.min.time(), UTC) + timedelta(
            hours=3
        )
        record["dossier"]["NgayTiepNhan"] = received
        record["dossier"]["NgayHenTra"] = received + timedelta(days=5)
        record["dossier"]["NgayKetThucXuLy"] = received + timedelta(days=1 + i % 7) if i % 4 else None
        value = codec.encode(RECONCILED_ID, record)
        out.append(
            Message(
                topic=RECONCILED.name,
                partition=0,
                offset=i,
                key=b"k",
                value=value,
                timestamp=(1, int(received.timestamp() * 1000)),
            )
        )
    return out


def acks(codec: AvroCodec, numbers: range) -> list[Message]:
    now = datetime.now(UTC)
    out = []
    for i in numbers:
        value = {
            "record_id": reconciled_record(i)["record_id"],
            "status": "ACCEPTED",
            "attempts": 1,
            "acked_at": now,
        }
        out.append(
            Message(
                topic=EXCHANGE_ACKS.name, partition=0, offset=i, key=b"k", value=codec.encode(ACK_ID, value)
            )
        )
    return out


class Counts:
    """The stage on SQLite, sending its counts events to the broker."""

    def __init__(self, codec: AvroCodec, engine: sa.Engine, bootstrap: str) -> None:
        self.codec, self.engine = codec, engine
        self.stage = self._stage()
        clients = KafkaClients({"bootstrap.servers": bootstrap})
        clients.ensure_topics([INDICATORS_COUNTS])
        self.producer = clients.producer()
        self.sent = 0

    def _stage(self) -> IndicatorStage:
        metrics = HubMetrics(CollectorRegistry())
        return IndicatorStage(
            self.codec, DossierStore(self.engine), SNAPSHOT_ID, metrics, load_province("74")
        )

    def batch(self, messages: list[Message], deliver: bool = True) -> None:
        out = [o for o in self.stage.process(messages) if o.topic == INDICATORS_COUNTS.name]
        if not deliver:
            self.stage.discard()  # as the runner does when a batch's outputs were not delivered
            return
        for o in out:
            self.producer.produce(o.topic, value=o.value)
            self.sent += 1
        assert self.producer.flush(10) == 0

    def restart(self) -> None:
        self.stage = self._stage()

    def expected(self) -> list[dict[str, Any]]:
        """The indicators from the SQL store, by the same arithmetic as the tables' view."""
        store = DossierStore(self.engine)
        counts: dict[tuple[date, str, str], dict[Facts, int]] = {}
        for dimension in LIVE_DIMENSIONS:
            for (day, value), tally in store.tallies(dimension).items():
                if day is not None:
                    counts[day, dimension, value] = dict(tally)
        return indicator_rows(counts)


@pytest.mark.timeout(180)
def test_the_tables_hold_what_the_store_holds_after_a_kill_too(
    own_broker: EmbeddedBroker, codec: AvroCodec, engine: sa.Engine, tmp_path: Path, wait: Wait
) -> None:
    today = datetime.now(UTC).date()
    counts = Counts(codec, engine, own_broker.bootstrap)
    worker = TablesWorker(own_broker.bootstrap, APP_ID, tmp_path)
    try:
        counts.batch(dossiers(codec, range(0, 300), today))  # the first: the full state
        counts.batch(dossiers(codec, range(300, 600), today) + acks(codec, range(0, 100)))
        counts.batch(dossiers(codec, range(200, 700), today))  # read again in part: counted once
        worker.start().wait_applied(counts.sent - 1, 90)
        assert worker.get()["indicators"] == counts.expected()  # type: ignore[index]

        worker.stop(signal.SIGKILL)
        counts.batch(dossiers(codec, range(700, 900), today))
        counts.batch(dossiers(codec, range(900, 1000), today), deliver=False)  # lost: a state follows
        counts.restart()  # and a restart of the stage, which sends the state again
        counts.batch(dossiers(codec, range(900, 1100), today) + acks(codec, range(100, 400)))
        worker.start().wait_applied(counts.sent - 1, 90)
        assert worker.get()["indicators"] == counts.expected()  # type: ignore[index]
        months = worker.get(period="month", dimension="province", indicator="sync_rate")
        assert months is not None
        assert sum(row["numerator"] for row in months["indicators"]) == 400  # every acknowledged one

        def scraped() -> dict[str, float]:
            text = httpx.get(f"http://127.0.0.1:{worker.port}/metrics", timeout=5).text
            return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}

        metrics = scraped()
        assert metrics["hub_indicator_tables_applied_offset"] == counts.sent - 1
        assert metrics["hub_indicator_tables_changelog_records_recovered_total"] > 0  # rebuilt after the kill
        assert metrics["hub_indicator_tables_events_total"] >= 1
        wait(lambda: scraped()["hub_indicator_tables_lag"] == 0, 10, "the lag gauge", worker.check)
    finally:
        worker.stop()


@pytest.mark.timeout(120)
def test_the_service_runs_the_tables_and_stops_when_they_die(
    own_broker: EmbeddedBroker, tmp_path: Path, wait: Wait
) -> None:
    settings = Settings(kafka_bootstrap=own_broker.bootstrap, data_dir=tmp_path, indicator_tables_port=0)
    with Runtime(settings) as runtime:
        runtime.prepare()
        service = Service(runtime, HubMetrics(CollectorRegistry()), ["indicators"])
        with service:
            tables = service.tables
            assert tables is not None and tables.url.endswith("/indicators/")

            def answers() -> bool:
                try:
                    return httpx.get(tables.url, timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            wait(answers, 60, "the tables' web view", lambda: None)
            tables.process.kill()
            wait(service.stop.is_set, 20, "the service to stop", lambda: None)
            assert "indicator-tables" in service.failed
        assert tables.process.stdin is not None and tables.process.stdin.closed


def test_without_the_indicators_stage_no_tables_run(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap=own_broker.bootstrap, data_dir=tmp_path)
    with Runtime(settings) as runtime:
        runtime.prepare()
        with Service(runtime, HubMetrics(CollectorRegistry()), ["reconcile"]) as service:
            assert service.tables is None
