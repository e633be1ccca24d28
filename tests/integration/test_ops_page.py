"""The live operations page in a real headless browser (Playwright driving Debian's chromium):
loaded during a demo-sized run, it shows the figures the metrics hold, offline (every asset from
the hub itself), and a screenshot is kept as a test artifact (.artifacts/ops-page.png).
Skipped where chromium or Playwright is absent; required in CI (HUB_TEST_REQUIRE_BROWSER=1)."""

from __future__ import annotations

import os
import shutil
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from hub.cli.ops import start_page
from hub.kafka.broker import EmbeddedBroker
from hub.metrics import HubMetrics
from hub.runtime import Runtime
from hub.service import Service
from hub.settings import Settings
from tests.integration.traffic import publish_last_week, settle

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts"
PER_DEPARTMENT = 500


@pytest.fixture
def chromium() -> str:
    found = shutil.which("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        if os.environ.get("HUB_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium and Playwright are required here (HUB_TEST_REQUIRE_BROWSER=1)")
        pytest.skip("no chromium (Debian's package; .ci/run installs it) or no Playwright")
    return found


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def test_the_page_shows_what_the_metrics_hold(chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    metrics = HubMetrics()
    sample = metrics.registry.get_sample_value
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'hub.db'}", data_dir=tmp_path, ops_port=0)
    with EmbeddedBroker() as broker, ExitStack() as stack:
        runtime = stack.enter_context(
            Runtime(settings.model_copy(update={"kafka_bootstrap": broker.bootstrap}))
        )
        runtime.prepare()
        publish_last_week(runtime, metrics, PER_DEPARTMENT)
        service = stack.enter_context(Service(runtime, metrics))
        url = start_page(stack, runtime.settings, metrics, service)
        assert url is not None
        settle(service)

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1300, "height": 1100})
            elsewhere: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(url) else elsewhere.append(r.url))
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)

            def shown(selector: str) -> str:
                return (page.locator(selector).text_content() or "").replace(",", "")

            def outcomes(outcome: str) -> float:
                return sum(
                    s.value
                    for family in metrics.registry.collect()
                    for s in family.samples
                    if s.name == "hub_reconcile_outcomes_total" and s.labels["outcome"] == outcome
                )

            reconciled, rejected = outcomes("reconciled"), outcomes("rejected")
            expected = {"#reconciled": str(int(reconciled)), "#rejected": str(int(rejected))}
            reuse = sample(
                "hub_indicator_ratio",
                {"indicator": "reuse_rate", "dimension": "province", "value": "all", "period": "month"},
            )
            assert reuse is not None and reconciled > 0
            expected["#reuse-province"] = _percent(reuse)
            expected["#circuit"] = "closed"
            for name, runner in service.runners.items():
                expected[f'g[data-stage="{name}"] .consumed'] = f"{runner.stats.consumed} read"
                expected[f'g[data-stage="{name}"] .waiting'] = "0 waiting"
            deadline = time.monotonic() + 20
            while {k: shown(k) for k in expected} != expected:  # the next poll may be on its way
                assert time.monotonic() < deadline, ({k: shown(k) for k in expected}, expected)
                time.sleep(0.5)
            assert page.locator("#district-chart canvas").count() == 1  # a chart was drawn
            assert page.inner_text("#health") == "healthy"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "ops-page.png"), full_page=True)
            browser.close()
    assert elsewhere == []  # offline: nothing asked of any other host
