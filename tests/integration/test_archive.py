"""The archiver (``hub run --stage archive``) against the real broker: killed with SIGKILL
mid-stream and restarted, it ends with every record of every topic in the archive exactly once,
unchanged, and the archive verifies; a write that fails stops it loudly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.archive import verify
from hub.archive.segments import read_segment, readable
from hub.audit.replay import Span, from_topic
from hub.bench.forward import publish_reconciled
from hub.kafka.broker import EmbeddedBroker
from hub.runtime import Runtime
from hub.settings import Settings
from hub.topics import RECONCILED

pytestmark = pytest.mark.integration

RECORDS = 12_000
Wait = Callable[[Callable[[], bool], float, str, Callable[[], None]], None]


def _archived(directory: Path, *, live: bool = False) -> list[tuple[str, int, int, bytes | None]]:
    """The archived records; ``live``: while the archiver writes, whose open segment may end
    in a block not yet whole (read up to it, as ``hub audit verify`` does)."""
    return [
        (r.topic, r.partition, r.offset, r.value)
        for path in sorted((directory / "segments").glob("*.avro"))
        for r in (readable(path)[0] if live else read_segment(path))
    ]


def _env(broker: EmbeddedBroker, tmp_path: Path, archive: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
        "HUB_KAFKA_BOOTSTRAP": broker.bootstrap,
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_ARCHIVE_DIR": str(archive),
        "HUB_CONSUMER_BATCH_SIZE": "500",
        "HUB_ARCHIVE_SEGMENT_BYTES": "400000",
    }


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        command = [sys.executable, "-m", "hub.cli", "run", "--stage", "archive"]
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=out)


def test_a_killed_archiver_loses_nothing_and_duplicates_nothing(
    own_broker: EmbeddedBroker, tmp_path: Path, wait: Wait
) -> None:
    archive = tmp_path / "archive"
    settings = Settings(kafka_bootstrap=own_broker.bootstrap, database_url=f"sqlite:///{tmp_path / 'hub.db'}")
    with Runtime(settings) as runtime:
        runtime.prepare()
        publish_reconciled(runtime, range(RECORDS))
        expected = {}
        for record in from_topic(runtime.clients, RECONCILED.name, Span()):
            expected[record.topic, record.partition, record.offset] = record.value
    env = _env(own_broker, tmp_path, archive)
    worker = _start(env, tmp_path / "archive-0.log")

    def running() -> None:
        assert worker.poll() is None, (tmp_path / "archive-0.log").read_text()[-2000:]

    try:
        wait(
            lambda: archive.exists() and len(_archived(archive, live=True)) >= RECORDS // 3,
            120,
            "a third archived",
            running,
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        worker = _start(env, tmp_path / "archive-1.log")
        wait(lambda: len(_archived(archive, live=True)) >= RECORDS, 120, "every record archived", running)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
    found = _archived(archive)
    positions = [(topic, partition, offset) for topic, partition, offset, _ in found]
    assert len(positions) == len(set(positions)) == RECORDS  # exactly once
    assert {(t, p, o): v for t, p, o, v in found} == expected  # unchanged
    verdict = verify(archive)
    assert verdict.ok, verdict
    assert verdict.records + verdict.open_records == RECORDS and verdict.segments >= 2


def test_an_archive_that_cannot_be_written_stops_the_archiver(
    own_broker: EmbeddedBroker, tmp_path: Path, wait: Wait
) -> None:
    archive = tmp_path / "archive"
    settings = Settings(kafka_bootstrap=own_broker.bootstrap, database_url=f"sqlite:///{tmp_path / 'hub.db'}")
    with Runtime(settings) as runtime:
        runtime.prepare()
        publish_reconciled(runtime, range(200))
    archive.mkdir()
    (archive / "segments").write_text("not a directory")  # nowhere to write a segment
    worker = _start(_env(own_broker, tmp_path, archive), tmp_path / "archive.log")
    try:
        assert worker.wait(60) != 0
    finally:
        if worker.poll() is None:
            worker.kill()
    assert "archive" in (tmp_path / "archive.log").read_text()


def test_an_archive_that_stops_being_writable_stops_the_archiver_and_the_health_check_says_so(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    import shutil
    import time

    import httpx

    from hub.metrics import HubMetrics, MetricsServer
    from hub.service import Service

    archive = tmp_path / "archive"
    settings = Settings(
        kafka_bootstrap=own_broker.bootstrap,
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        archive_dir=archive,
        archive_segment_bytes=4096,
    )
    metrics = HubMetrics()
    with Runtime(settings) as runtime, MetricsServer(metrics, "127.0.0.1", 0) as server:
        runtime.prepare()
        publish_reconciled(runtime, range(200))
        with Service(runtime, metrics, ("archive",)) as service:
            server.health = service.health
            deadline = time.monotonic() + 60
            while not list((archive / "segments").glob("*.json")):
                assert time.monotonic() < deadline, "nothing archived"
                time.sleep(0.1)
            assert httpx.get(server.health_url).status_code == 200
            shutil.rmtree(archive / "segments")
            (archive / "segments").write_text("not a directory any more")  # the disk went away
            publish_reconciled(runtime, range(200, 400))
            while "archive" not in service.failed:
                assert time.monotonic() < deadline + 60, "the archiver did not stop"
                time.sleep(0.1)
            answer = httpx.get(server.health_url)
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "failing" and body["checks"]["archive"]["state"] == "stopped"
    assert "ArchiveError" in body["checks"]["archive"]["last_error"]
