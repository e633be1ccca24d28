"""Can faust hold the indicators' live counts as windowed tables, exactly, at the stage's rate?

    python -m hub.bench.faust_tables [--batches N] [--seed S]

Starts its own embedded broker and produces N delta events (one per batch of 5,000 dossiers,
:mod:`hub.bench.indicator_deltas`) to a one-partition topic, then runs the faust worker
(:mod:`hub.bench.faust_tables_worker`) in subprocesses:

1. clean: one worker applies every event; its rate, from its first event to its last;
2. recover: the same app restarted, only to rebuild its table from the changelog (timed);
3. kill/restart: another app, SIGKILLed half-way, restarted, run to the end.

Each run's final table is compared with the others and with the table computed directly
from the events (:func:`hub.bench.indicator_deltas.expected_table`).
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import TopicPartition

from hub.bench.faust_tables_worker import DELTAS_TOPIC, TABLE_NAME
from hub.bench.indicator_deltas import DOSSIERS_PER_BATCH, batches, expected_table
from hub.errors import HubError
from hub.kafka.broker import EmbeddedBroker
from hub.kafka.clients import KafkaClients
from hub.topics import Topic

__all__ = ["Exactness", "Run", "check_exactness", "main", "produce_events"]

NEEDED_EVENTS_PER_S = 50_000 / DOSSIERS_PER_BATCH
_DELTAS = Topic(DELTAS_TOPIC, 1, "none", None, "bench: one message of aggregated deltas per batch")


@dataclass(frozen=True)
class Run:
    """What one worker process reported (see :mod:`hub.bench.faust_tables_worker`)."""

    stats: dict[str, Any]
    recovery: dict[str, Any]
    table: list[list[Any]]

    @property
    def events_per_s(self) -> float:
        seconds = self.stats["last"] - self.stats["first"]
        return (self.stats["events"] - 1) / seconds if seconds > 0 else float("nan")

    @property
    def updates_per_s(self) -> float:
        seconds = self.stats["last"] - self.stats["first"]
        return self.stats["updates"] / seconds if seconds > 0 else float("nan")

    @property
    def recovery_s(self) -> float:
        """From faust's recovery starting to read the changelog to the table declared recovered."""
        return float(self.recovery["reading"])


@dataclass(frozen=True)
class Exactness:
    """The kill/restart run against a clean table."""

    killed_at: int  # the last seq the killed worker had applied
    restarted: Run

    def identical_to(self, table: list[list[Any]]) -> bool:
        return self.restarted.table == table

    def explain(self, table: list[list[Any]], shown: int = 8) -> str:
        """How the restarted table differs from ``table``: what a failed check needs to say."""
        got = {tuple(row[:3]): row[3:] for row in self.restarted.table}
        want = {tuple(row[:3]): row[3:] for row in table}
        lines = [
            f"killed after seq {self.killed_at}; restarted run: {self.restarted.stats}; "
            f"recovery: {self.restarted.recovery}",
            f"keys: {len(got)} held, {len(want)} expected, {len(want.keys() - got.keys())} missing, "
            f"{len(got.keys() - want.keys())} unexpected",
        ]
        wrong = sorted(key for key in want.keys() & got.keys() if got[key] != want[key])
        lines.append(f"{len(wrong)} keys with other values; first: ")
        for key in wrong[:shown]:
            (seq, counts), (want_seq, want_counts) = got[key], want[key]
            off = {k: counts.get(k, 0) - n for k, n in want_counts.items() if counts.get(k, 0) != n}
            lines.append(f"  {key}: seq {seq} (expected {want_seq}), count - expected: {off}")
        lines.extend(
            f"  missing {key} (seq {want[key][0]})" for key in sorted(want.keys() - got.keys())[:shown]
        )
        return "\n".join(lines)


def produce_events(bootstrap: str, events: Iterable[Mapping[str, Any]]) -> int:
    """Create the deltas topic and produce the events to it, in order; returns the bytes sent."""
    clients = KafkaClients({"bootstrap.servers": bootstrap})
    clients.ensure_topics([_DELTAS])
    producer = clients.producer(**{"message.max.bytes": 8 * 1024 * 1024})
    sent = 0
    for event in events:
        value = orjson.dumps(event)
        sent += len(value)
        producer.produce(DELTAS_TOPIC, value=value)
        producer.poll(0)
    if producer.flush(30):
        raise HubError("the delta events were not all delivered in 30 s")
    return sent


def changelog_on_broker(bootstrap: str, app_id: str) -> tuple[int, int]:
    """The table's changelog: records read to its end, and the high watermark the broker reports."""
    topic = f"{app_id}-{TABLE_NAME}-changelog"
    consumer = KafkaClients({"bootstrap.servers": bootstrap}).consumer(
        f"hub-faust-tables-count-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": False}
    )
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        records = 0
        while batch := consumer.consume(10_000, timeout=2.0):  # not to the watermark: past it
            records += sum(1 for message in batch if not message.error())
        return records, high
    finally:
        consumer.close()


def run_worker(
    bootstrap: str, app_id: str, last_seq: int, workdir: Path, *, flags: tuple[str, ...] = (), timeout: float
) -> Run:
    """Run one worker process to its end; :class:`HubError` with its log's tail if it fails."""
    worker, result = _start(bootstrap, app_id, last_seq, workdir, flags)
    try:
        worker.wait(timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    return _read(result, workdir / f"{result.stem}.log")


def check_exactness(
    bootstrap: str, last_seq: int, workdir: Path, timeout: float, flags: tuple[str, ...] = ()
) -> Exactness:
    """SIGKILL a worker once it has applied half the events, restart it, let it finish."""
    app_id = f"hub-faust-tables-kill-{uuid.uuid4().hex[:8]}"
    worker, _ = _start(bootstrap, app_id, last_seq, workdir, flags)
    progress = workdir / f"{app_id}.progress"
    deadline = time.monotonic() + timeout
    while _seq(progress) < last_seq // 2:
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise HubError(f"the worker to be killed stopped early: {_tail(workdir / f'{app_id}.log')}")
        time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    killed_at = _seq(progress)
    restarted = run_worker(bootstrap, app_id, last_seq, workdir, flags=flags, timeout=timeout)
    return Exactness(killed_at, restarted)


def _start(
    bootstrap: str, app_id: str, last_seq: int, workdir: Path, flags: tuple[str, ...]
) -> tuple[subprocess.Popen[bytes], Path]:
    stem = f"{app_id}-{uuid.uuid4().hex[:4]}"
    result = workdir / f"{stem}.json"
    command = [
        sys.executable,
        "-m",
        "hub.bench.faust_tables_worker",
        bootstrap,
        app_id,
        str(last_seq),
        str(result),
        str(workdir / f"{app_id}.progress"),
        *flags,
    ]
    with open(workdir / f"{stem}.log", "wb") as log:
        worker = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return worker, result


def _read(result: Path, log: Path) -> Run:
    try:
        body = orjson.loads(result.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        raise HubError(f"the faust worker wrote no result: {_tail(log)}") from None
    return Run(body["stats"], body["recovery"], body["table"])


def _seq(progress: Path) -> int:
    try:
        return int(progress.read_bytes() or b"0")
    except (OSError, ValueError):
        return 0


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace").strip()[-800:]
    except OSError:
        return "(no log)"


def expected_rows(events: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """The reference table in the worker's dump format."""
    table = expected_table(events)
    return [[*key, held["seq"], held["counts"]] for key, held in sorted(table.items())]


def bench(batches_wanted: int, seed: int, flags: tuple[str, ...] = ()) -> None:
    """Run the three runs and print the figures."""
    events = list(batches(batches_wanted, seed, datetime.now(UTC).date()))
    expected = expected_rows(events)
    rows = sum(len(e["deltas"]) for e in events) // len(events)
    timeout = 120 + batches_wanted
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        workdir = Path(tmp)
        sent = produce_events(broker.bootstrap, events)
        print(
            f"{len(events):,} delta events, {sent / len(events) / 1e3:,.0f} kB and {rows:,} delta rows each, "
            f"{len(expected):,} table keys in the end; worker flags: {' '.join(flags) or 'none'}"
        )
        app_id = f"hub-faust-tables-clean-{uuid.uuid4().hex[:8]}"
        clean = run_worker(broker.bootstrap, app_id, len(events), workdir, flags=flags, timeout=timeout)
        _print_rate(clean)
        again = (*flags, "--recover-only")
        recovered = run_worker(broker.bootstrap, app_id, len(events), workdir, flags=again, timeout=timeout)
        _print_recovery("full changelog", recovered)
        records, high = changelog_on_broker(broker.bootstrap, app_id)
        killed = check_exactness(broker.bootstrap, len(events), workdir, timeout, flags)
        _print_recovery(f"after SIGKILL at seq {killed.killed_at:,}", killed.restarted)
    writes = clean.stats["updates"] + clean.stats["markers"]
    print(f"clean table == reference (events folded directly): {clean.table == expected}")
    print(
        f"changelog: {writes:,} writes in the clean run ({clean.stats['markers']:,} of them markers); "
        f"on the broker {records:,} records, high watermark reported {high:,}; "
        f"recovery read {recovered.recovery['messages']:,}"
    )
    print(f"recovered table == clean table: {recovered.table == clean.table}")
    print(
        f"kill/restart table == clean table: {killed.identical_to(clean.table)}; per-key replays skipped "
        f"after the restart: {killed.restarted.stats['skips']:,} (each would count twice without the seq)"
    )


def _print_rate(run: Run) -> None:
    rate = run.events_per_s
    verdict = "met" if rate >= NEEDED_EVENTS_PER_S else "NOT met"
    print(
        f"applied: {rate:,.1f} events/s, {run.updates_per_s:,.0f} table-key updates/s "
        f"= {rate * DOSSIERS_PER_BATCH:,.0f} dossiers/s (need >= {NEEDED_EVENTS_PER_S:.0f} events/s: "
        f"{verdict}); worker peak RSS {run.stats['rss_peak_mib']:,.0f} MiB"
    )


def _print_recovery(what: str, run: Run) -> None:
    recovery = run.recovery
    print(
        f"recovery ({what}): {recovery['messages']:,} changelog records, {recovery.get('keys', 0):,} "
        f"table keys, {run.recovery_s:.2f} s reading them ({recovery['applying']:.2f} s in the store), "
        f"{run.stats['started_to_recovered']:.1f} s from process start, applied through seq "
        f"{recovery.get('applied_through', 0):,}; "
        f"peak RSS {run.stats['rss_peak_mib']:,.0f} MiB"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m hub.bench.faust_tables", description=__doc__)
    parser.add_argument("--batches", type=int, default=600, help="delta events to produce (default 600)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--no-wait-changelog",
        action="store_true",
        help="faust's own behaviour: take the next event without waiting for the changelog",
    )
    args = parser.parse_args(argv)
    bench(args.batches, args.seed, ("--no-wait-changelog",) if args.no_wait_changelog else ())


if __name__ == "__main__":
    main()
