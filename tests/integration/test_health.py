"""/health of a running hub: 200 while all is well; 503 with the reasons when a stage has too
many records waiting, or the broker stops answering."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from hub.kafka.broker import EmbeddedBroker
from hub.metrics import HubMetrics, MetricsServer
from hub.runtime import Runtime
from hub.service import Service
from hub.settings import Settings

pytestmark = pytest.mark.integration


def test_health_says_what_is_wrong(tmp_path: Path) -> None:
    metrics = HubMetrics()
    broker = EmbeddedBroker().__enter__()
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        data_dir=tmp_path,
        health_max_lag=1000,
    )
    try:
        with Runtime(settings) as runtime, MetricsServer(metrics, "127.0.0.1", 0) as server:
            runtime.prepare()
            with Service(runtime, metrics, ("archive",)) as service:
                server.health = service.health
                well = httpx.get(server.health_url)
                assert well.status_code == 200, well.text
                assert well.json()["checks"]["broker"]["state"] == "reachable"
                assert well.json()["checks"]["database"]["state"] == "reachable"

                metrics.consumer_lag.labels("hub.archive", "lgsp.elsewhere", "0").set(5000)  # behind
                behind = httpx.get(server.health_url)
                assert behind.status_code == 503
                assert any("5,000 records waiting" in r for r in behind.json()["checks"]["reasons"])
                metrics.consumer_lag.labels("hub.archive", "lgsp.elsewhere", "0").set(0)

                broker.__exit__(None, None, None)  # the broker goes away
                time.sleep(2.5)  # past the last look at it
                gone = httpx.get(server.health_url, timeout=30)
                assert gone.status_code == 503
                assert gone.json()["checks"]["broker"]["state"] == "unreachable"
                assert any("cannot reach Kafka" in r for r in gone.json()["checks"]["reasons"])
                service.close(drain=0.0)
    finally:
        broker.__exit__(None, None, None)
