"""The indicators' faust tables at the stage's rate, exactly: the real worker
(:mod:`hub.stages.indicators.tables`) fed synthetic counts events.

    python -m hub.bench.faust_tables [--batches N] [--seed S]

Starts its own embedded broker and produces N delta events (each one batch of 5,000 dossiers,
:mod:`hub.bench.indicator_deltas`) to ``lgsp.indicators.counts``, then runs the worker process:

1. clean: one worker applies every event; its rate, from its first event to its last;
2. recover: the same app restarted: the time to rebuild its table from the changelog;
3. kill/restart: another app, SIGKILLed half-way, restarted, run to the end.

Each run's indicators (``GET /indicators/``) are compared with those of the events folded
directly (:func:`expected_rows`).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from hub.bench.indicator_deltas import DOSSIERS_PER_BATCH, batches
from hub.errors import HubError
from hub.kafka.broker import EmbeddedBroker
from hub.kafka.clients import KafkaClients
from hub.net import free_port
from hub.stages.indicators.counts import facts_of_key, fold
from hub.stages.indicators.formulas import Facts
from hub.stages.indicators.tables import indicator_rows
from hub.topics import INDICATORS_COUNTS

__all__ = ["TablesWorker", "expected_rows", "main", "produce_events"]

NEEDED_EVENTS_PER_S = 50_000 / DOSSIERS_PER_BATCH


def produce_events(bootstrap: str, events: Iterable[Mapping[str, Any]]) -> int:
    """Create the counts topic and produce the events to it, in order; returns the bytes sent."""
    clients = KafkaClients({"bootstrap.servers": bootstrap})
    clients.ensure_topics([INDICATORS_COUNTS])
    producer = clients.producer(**{"message.max.bytes": 8 * 1024 * 1024})
    sent = 0
    for event in events:
        value = orjson.dumps(event)
        sent += len(value)
        producer.produce(INDICATORS_COUNTS.name, value=value)
        producer.poll(0)
    if producer.flush(30):
        raise HubError("the counts events were not all delivered in 30 s")
    return sent


def expected_rows(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The indicators of the events folded directly, in order, by the tables' own rule."""
    table = fold(events)
    counts: dict[tuple[date, str, str], Counter[Facts]] = {
        (date.fromisoformat(day), dim, value): Counter(
            {facts_of_key(k): n for k, n in held["counts"].items()}
        )
        for (day, dim, value), held in table.items()
    }
    return indicator_rows(counts)


class TablesWorker:
    """The tables' worker as a process of its own, watched over its web view."""

    def __init__(self, bootstrap: str, app_id: str, workdir: Path) -> None:
        self.bootstrap, self.app_id, self.workdir = bootstrap, app_id, workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{app_id}.log"

    def start(self) -> TablesWorker:
        env = {**os.environ, "HUB_DATA_DIR": str(self.workdir), "HUB_INDICATOR_TABLES_PORT": str(self.port)}
        command = [
            sys.executable,
            "-m",
            "hub.stages.indicators.tables",
            self.bootstrap,
            "--app-id",
            self.app_id,
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def get(self, path: str = "", **query: str) -> dict[str, Any] | None:
        """``/indicators/<path>`` as JSON; None while the worker does not answer."""
        try:
            url = f"http://127.0.0.1:{self.port}/indicators/{path}"
            response = httpx.get(url, params=query, timeout=10)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def check(self) -> None:
        """:class:`HubError` with the end of its log if the worker has exited."""
        if self.process is None or self.process.poll() is not None:
            tail = self.log.read_text(errors="replace").strip()[-1500:] if self.log.exists() else ""
            raise HubError(f"the tables worker {self.app_id} exited: {tail}")

    def wait_applied(self, offset: int, timeout: float) -> dict[str, Any]:
        """Its progress once it has applied the event at ``offset`` (or beyond)."""
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            progress = self.get("progress/")
            if progress and progress["applied_offset"] >= offset:
                return progress
            if time.monotonic() > deadline:
                raise HubError(
                    f"the tables worker {self.app_id} did not reach offset {offset} in {timeout:.0f} s"
                )
            time.sleep(0.05)

    def peak_rss_mib(self) -> float:
        """VmHWM of the worker process."""
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass(frozen=True)
class Figures:
    clean_rate: float  # events/s
    clean_rss_mib: float
    clean_exact: bool
    recovery_seconds: float
    recovery_records: int
    started_to_recovered: float
    killed_at: int
    restarted_exact: bool


def run(bootstrap: str, events: list[dict[str, Any]], workdir: Path, timeout: float) -> Figures:
    """The three runs against events already on the broker."""
    expected = expected_rows(events)
    last = len(events) - 1
    clean = TablesWorker(bootstrap, f"hub-bench-tables-{uuid.uuid4().hex[:8]}", workdir).start()
    try:
        done = clean.wait_applied(last, timeout)
        rate = (done["events"] - 1) / (done["last_applied"] - done["first_applied"])
        rss = clean.peak_rss_mib()
        clean_exact = (clean.get() or {}).get("indicators") == expected
    finally:
        clean.stop()
    again = TablesWorker(bootstrap, clean.app_id, workdir).start()
    try:
        recovered = again.wait_applied(last, timeout)
    finally:
        again.stop()
    killed = TablesWorker(bootstrap, f"hub-bench-tables-{uuid.uuid4().hex[:8]}", workdir).start()
    killed_at = killed.wait_applied(last // 2, timeout)["applied_offset"]
    killed.stop(signal.SIGKILL)
    restarted = TablesWorker(bootstrap, killed.app_id, workdir).start()
    try:
        restarted.wait_applied(last, timeout)
        restarted_exact = (restarted.get() or {}).get("indicators") == expected
    finally:
        restarted.stop()
    return Figures(
        clean_rate=rate,
        clean_rss_mib=rss,
        clean_exact=clean_exact,
        recovery_seconds=recovered.get("recovery_seconds", 0.0),
        recovery_records=recovered["changelog_read"],
        started_to_recovered=recovered["recovered"] - recovered["started"],
        killed_at=killed_at,
        restarted_exact=restarted_exact,
    )


def bench(batches_wanted: int, seed: int) -> Figures:
    """Produce the events, run the three runs, print the figures."""
    events = list(batches(batches_wanted, seed, datetime.now(UTC).date()))
    rows = sum(len(e["rows"]) for e in events) // len(events)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        sent = produce_events(broker.bootstrap, events)
        print(
            f"{len(events):,} delta events on {INDICATORS_COUNTS.name}, "
            f"{sent / len(events) / 1e3:,.0f} kB and {rows:,} rows each ({DOSSIERS_PER_BATCH:,} dossiers)"
        )
        figures = run(broker.bootstrap, events, Path(tmp), timeout=120 + batches_wanted)
    rate = figures.clean_rate
    verdict = "met" if rate >= NEEDED_EVENTS_PER_S else "NOT met"
    print(
        f"applied: {rate:,.1f} events/s = {rate * DOSSIERS_PER_BATCH:,.0f} dossiers/s (need >= "
        f"{NEEDED_EVENTS_PER_S:.0f} events/s: {verdict}); worker peak RSS {figures.clean_rss_mib:,.0f} MiB"
    )
    print(
        f"recovery: {figures.recovery_records:,} changelog records in {figures.recovery_seconds:.2f} s, "
        f"{figures.started_to_recovered:.1f} s from process start"
    )
    print(f"clean run's indicators == the events folded directly: {figures.clean_exact}")
    print(
        f"SIGKILLed after offset {figures.killed_at:,}, restarted: indicators == the events folded "
        f"directly: {figures.restarted_exact}"
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hub.bench.faust_tables", description=__doc__)
    parser.add_argument("--batches", type=int, default=600, help="delta events to produce (default 600)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    figures = bench(args.batches, args.seed)
    if not (figures.clean_exact and figures.restarted_exact):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
