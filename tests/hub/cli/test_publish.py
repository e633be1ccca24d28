"""Unit tests for hub.cli.publish: the rate counts the rows, not the start-up; /metrics is served."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

import hub.cli.publish as publish_command
import hub.runtime
from hub.metrics import HubMetrics
from hub.settings import Settings
from hub.topics import Department
from producers.files import ExportFile, RejectFile
from producers.publisher import PublishReport


class _SlowRuntime:
    """Connecting to the hub takes a while (broker, database, topics, schemas)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def __enter__(self) -> _SlowRuntime:
        time.sleep(0.8)
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def prepare(self) -> list[str]:
        return []

    class clients:
        bootstrap = "broker.test:9092"


class _Publisher:
    """Counts into the command's metrics, as the real one does, and reads them back once, served."""

    def __init__(self, console: io.StringIO) -> None:
        self.sent = 0
        self.console = console
        self.metrics: HubMetrics | None = None
        self.served = ""

    def publish(self, record: dict[str, Any]) -> None:
        self.sent += 1
        assert self.metrics is not None
        self.metrics.published.labels("land").inc()
        if self.sent == 10:
            url = re.search(r"metrics (http://\S+)", self.console.getvalue())
            assert url, self.console.getvalue()
            self.served = httpx.get(url.group(1)).text

    def flush(self, timeout: float) -> PublishReport:
        return PublishReport(sent=self.sent, delivered=self.sent)


def test_start_up_is_not_counted_in_the_rows_per_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [
        "SoDinhDanh,HoVaTen,NgayThangNamSinh,GioiTinh,MaHoSo,MaTTHC,KenhThucHien,record_id,occurred_at,transaction_type,map_sheet_number,parcel_number,area_m2"
    ]
    lines += [
        f"07408500{i:04d},Nguyễn Văn An,1985-03-14,MALE,HS-{i},1.2345,2,R{i},2026-11-02T09:00:00,"
        "MORTGAGE,3,77,250.0"
        for i in range(50)
    ]
    path = tmp_path / "land.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(hub.runtime, "Runtime", _SlowRuntime)
    console = io.StringIO()
    publisher = _Publisher(console)

    def _publisher(runtime: object, department: Department, metrics: HubMetrics) -> _Publisher:
        publisher.metrics = metrics
        return publisher

    monkeypatch.setattr(publish_command, "_publisher", _publisher)
    export = ExportFile(path, Department.LAND)
    export.check()
    settings = Settings(kafka_bootstrap="broker.test:9092", metrics_port=0)
    started = time.monotonic()
    with RejectFile(tmp_path / "rejects.csv") as rejects:
        tally = publish_command._publish_to_hub(
            settings, export, rejects, threading.Event(), Console(file=console, width=300), 5
        )
    wall = time.monotonic() - started
    assert wall >= 0.8
    assert tally.accepted == publisher.sent == 50 and tally.delivered == 50
    assert 'hub_records_published_total{department="land"} 10.0' in publisher.served  # served while it ran
    assert 0 < tally.seconds < wall - 0.5  # timed: the rows and the flush; not the 0.8 s of start-up
