"""``hub bench --only indicators``: the indicators stage through a reconciled province, and
``hub report`` over a month of it.

The simulated records are published and reconciled first (not timed); then one indicators
process (``hub run --stage indicators``) reads the reconciled and rejected topics from the
start. Its rate is read from its consumer group's committed offsets (batch by batch), asked
of the broker, so that measuring costs the measured process nothing; from 10 % to 90 % of the
records.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import TopicPartition

from hub.bench.publish import Figure
from hub.bench.reconcile import _memory_mib, _stop, count_outputs, published
from hub.errors import HubError
from hub.kafka.clients import KafkaClients
from hub.province import Province
from hub.settings import Settings
from hub.stages.indicators.periods import periods_of
from hub.stages.indicators.report import report
from hub.stages.indicators.store import DossierStore
from hub.topics import RECONCILED, REJECTED, Group

__all__ = ["bench_indicators"]


def bench_indicators(
    settings: Settings, province: Province, citizens: int, records: int, seed: int
) -> list[Figure]:
    figures: list[Figure] = []
    with published(settings, province, citizens, records, seed, figures) as (runtime, env, tmp):
        workers = [_hub_run("reconcile", env, Path(tmp) / f"reconcile-{i}.log") for i in range(2)]
        try:
            done = count_outputs(
                runtime.clients.bootstrap,
                [RECONCILED.name, REJECTED.name],
                records,
                900,
                (),
                None,
                lambda: None,
            )
        finally:
            _stop(workers)
        if done.seen < records:
            raise HubError(f"bench: reconciliation gave {done.seen:,} of {records:,} records in time")
        log = Path(tmp) / "indicators.log"
        worker = _hub_run("indicators", env, log)
        try:
            marks, resident = _follow(worker, log, records, runtime.clients.bootstrap)
            peak = _memory_mib(worker.pid)
        finally:
            _stop([worker])
        low, high = records // 10, records - records // 10
        rate = _per_second(high - low, marks[high] - marks[low])
        figures += [
            Figure(
                f"indicators stage, 1 process, {records:,} reconciled and rejected records, 10 % to 90 %",
                rate,
                "records/s",
                ">= 50,000 records/s",
                rate >= 50_000,
            ),
            Figure("the same, all records", _per_second(records, marks[records] - marks[0]), "records/s"),
            Figure("RSS of the indicators process while it runs (at 90 %)", resident, "MiB"),
            Figure("peak RSS of the indicators process", peak, "MiB"),
        ]
        store = DossierStore(runtime.engine)
        latest = store.latest_day()
        if latest is not None:
            month = periods_of(latest)[2]
            for by in ("province", "district", "commune", "procedure"):
                started = time.perf_counter()
                rows = report(store, month, by)
                took = time.perf_counter() - started
                figures.append(
                    Figure(
                        f"hub report --period {month.label} --by {by} ({len(rows):,} rows)",
                        took,
                        "s",
                        "< 2 s",
                        took < 2,
                    )
                )
    return figures


def _hub_run(stage: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "run", "--stage", stage],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def _follow(
    worker: subprocess.Popen[bytes], log: Path, records: int, bootstrap: str
) -> tuple[dict[int, float], float]:
    """When the stage had committed 0, 10 %, 90 % and all of ``records``; its RSS at 90 %."""
    wanted = sorted({1, records // 10, records - records // 10, records})
    marks: dict[int, float] = {}
    resident = 0.0
    deadline = time.monotonic() + 900
    with _Committed(bootstrap, Group.INDICATORS.value, [RECONCILED.name, REJECTED.name]) as committed:
        while len(marks) < len(wanted):
            if worker.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-1500:]
                raise HubError(f"bench: the indicators stage stopped or stalled: {tail}")
            time.sleep(0.05)
            done = committed()
            now = time.perf_counter()
            for mark in wanted:
                if done >= mark and mark not in marks:
                    marks[mark] = now
                    if mark == records - records // 10:
                        resident = _memory_mib(worker.pid, "VmRSS")
    marks[0] = marks.pop(1)
    return marks, resident


class _Committed:
    """The offsets a consumer group has committed on some topics, summed: records it is done with."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self._consumer = KafkaClients({"bootstrap.servers": bootstrap}).consumer(group)  # never subscribes
        self._topics = topics
        self._partitions: list[TopicPartition] = []

    def __call__(self) -> int:
        if not self._partitions:
            metadata = self._consumer.list_topics(timeout=10).topics
            self._partitions = [
                TopicPartition(topic, p) for topic in self._topics for p in metadata[topic].partitions
            ]
        found = self._consumer.committed(self._partitions, timeout=10)
        return sum(max(0, tp.offset) for tp in found)

    def __enter__(self) -> _Committed:
        return self

    def __exit__(self, *exc: object) -> None:
        self._consumer.close()


def _per_second(count: int, seconds: float) -> float:
    """A rate; NaN when everything was seen at one poll (a run too small to time: one batch)."""
    return count / seconds if seconds > 0 else float("nan")
