"""deploy/prometheus: the scrape configuration and alert rules are valid (promtool check), every
alert has unit tests that pass (promtool test rules), and every metric an alert reads is one the
hub exports. promtool is Debian's `prometheus` package: skipped where it is absent, required in
CI (HUB_TEST_REQUIRE_PROMETHEUS=1, set by .ci/run, which installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hub.metrics import HubMetrics, TablesMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("HUB_TEST_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(
                "promtool is required here (HUB_TEST_REQUIRE_PROMETHEUS=1): apt-get install prometheus"
            )
        pytest.skip("promtool not installed (Debian's prometheus package; .ci/run installs it)")
    return found


def _run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=DEPLOY)


def test_the_configuration_and_rules_are_valid(promtool: str) -> None:
    result = _run(promtool, "check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_as_its_unit_tests_say(promtool: str) -> None:
    result = _run(promtool, "test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _alerts() -> list[dict[str, str]]:
    return [
        rule
        for group in yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]


def test_every_alert_has_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for test in yaml.safe_load((DEPLOY / "alerts_test.yml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in _alerts()} == tested


def test_every_metric_an_alert_reads_is_exported() -> None:
    exported: set[str] = set()
    for metrics in (HubMetrics(), TablesMetrics()):
        for family in metrics.registry.collect():
            exported |= {family.name, f"{family.name}_total", f"{family.name}_bucket", f"{family.name}_count"}
    for rule in _alerts():
        for name in re.findall(r"\bhub_[a-z_]+", rule["expr"]):
            assert name in exported, f"{rule['alert']} reads {name}, which the hub does not export"
