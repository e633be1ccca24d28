"""deploy/grafana: the dashboard's panels read only metrics the hub exports, from the data source
the provisioning defines. (tests/integration/test_prometheus.py runs every query on a real
Prometheus scraping a running hub.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from hub.metrics import HubMetrics, TablesMetrics

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query of the dashboard."""
    board = json.loads((GRAFANA / "dashboards" / "hub.json").read_text())
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]


def exported() -> set[str]:
    names: set[str] = set()
    for metrics in (HubMetrics(), TablesMetrics()):
        for family in metrics.registry.collect():
            names |= {family.name + suffix for suffix in ("", "_total", "_bucket", "_count", "_sum")}
    return names


def test_every_panel_reads_only_exported_metrics() -> None:
    known = exported()
    queries = dashboard_queries()
    assert len(queries) >= 15
    for title, expr in queries:
        used = re.findall(r"\bhub_[a-z_]+", expr)
        assert used, f"panel {title!r} reads no hub metric"
        for name in used:
            assert name in known, f"panel {title!r} reads {name}, which the hub does not export"


def test_panels_use_the_provisioned_prometheus() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    board: dict[str, Any] = json.loads((GRAFANA / "dashboards" / "hub.json").read_text())
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, panel["title"]
