"""A real Prometheus server (Debian's package) scraping a running hub through demo-sized traffic:
PromQL gives the same reconciled count as the topics hold and the same reuse rate `hub report`
prints. Skipped where Prometheus is not installed, required in CI (HUB_TEST_REQUIRE_PROMETHEUS=1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.audit.replay import Span, from_topic
from hub.kafka.broker import EmbeddedBroker
from hub.metrics import HubMetrics, MetricsServer
from hub.net import free_port
from hub.runtime import Runtime
from hub.service import Service
from hub.settings import Settings
from hub.stages.indicators.periods import month
from hub.stages.indicators.store import DossierStore
from hub.topics import RECONCILED
from tests.integration.traffic import publish_last_week, settle

pytestmark = pytest.mark.integration

PER_DEPARTMENT = 500  # as many as `hub demo` publishes


@pytest.fixture
def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        if os.environ.get("HUB_TEST_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(
                "prometheus is required here (HUB_TEST_REQUIRE_PROMETHEUS=1): apt-get install prometheus"
            )
        pytest.skip("prometheus not installed (Debian's prometheus package; .ci/run installs it)")
    return found


class _Prometheus:
    def __init__(self, binary: str, target: str, directory: Path) -> None:
        config = directory / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"scrape_configs:\n  - job_name: hub\n    static_configs: [{{targets: ['{target}']}}]\n"
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        self.log = (directory / "prometheus.log").open("wb")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def query(self, promql: str) -> list[dict[str, object]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]  # type: ignore[no-any-return]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None  # type: ignore[index]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.close()


@pytest.fixture
def scraped(
    prometheus_binary: str, tmp_path: Path
) -> Iterator[tuple[_Prometheus, MetricsServer, HubMetrics]]:
    metrics = HubMetrics()
    with MetricsServer(metrics, "127.0.0.1", 0) as server:
        prometheus = _Prometheus(prometheus_binary, f"127.0.0.1:{server.port}", tmp_path)
        try:
            yield prometheus, server, metrics
        finally:
            prometheus.close()


def test_promql_agrees_with_the_topics_and_hub_report(
    scraped: tuple[_Prometheus, MetricsServer, HubMetrics], tmp_path: Path
) -> None:
    prometheus, _, metrics = scraped
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    with (
        EmbeddedBroker() as broker,
        Runtime(Settings(kafka_bootstrap=broker.bootstrap, database_url=db, data_dir=tmp_path)) as runtime,
    ):
        runtime.prepare()
        publish_last_week(runtime, metrics, PER_DEPARTMENT)
        with Service(runtime, metrics) as service:
            exchange = service.exchange
            assert exchange is not None
            settle(service)
            reconciled = len(list(from_topic(runtime.clients, RECONCILED.name, Span())))
            latest = DossierStore(runtime.engine).latest_day()
            assert latest is not None
            promql_reconciled = 'sum(hub_reconcile_outcomes_total{outcome="reconciled"})'
            deadline = time.monotonic() + 60
            while prometheus.value(promql_reconciled) != reconciled:  # until a scrape after the last batch
                assert time.monotonic() < deadline, (prometheus.value(promql_reconciled), reconciled)
                time.sleep(0.5)
            province = 'dimension="province", value="all", period="month"'
            reuse = prometheus.value(f'hub_indicator_ratio{{indicator="reuse_rate", {province}}}')
            # Every query of the Grafana dashboard runs on the real server; these show data.
            board = json.loads((Path(__file__).parents[2] / "deploy/grafana/dashboards/hub.json").read_text())
            answered = {
                panel["title"]: prometheus.query(target["expr"])
                for panel in board["panels"]
                for target in panel.get("targets", [])
            }
            for title in ("Records read per second, by stage", "Records waiting (consumer lag), by group"):
                assert answered[title], title
            assert answered["Reuse rate by district, this month"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")} | {"HUB_DATABASE_URL": db}
    report = subprocess.run(
        [sys.executable, "-m", "hub.cli", "report", "--period", month(latest).label, "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr
    (row,) = [
        r for r in json.loads(report.stdout)["rows"] if r["indicator"] == "reuse_rate" and r["value"] == "all"
    ]
    assert reconciled > 0 and row["denominator"] > 0
    assert reuse == pytest.approx(row["rate"], abs=1e-9)
