"""``hub bench --only archive``: the archiver's rate, ``verify``'s, and a day replayed out of a week.

Department records are simulated and published (not timed); then one archiver process (``hub
run --stage archive``) reads every hub topic from the start into a fresh archive. Its rate is
read from its consumer group's committed offsets (as the indicators' bench does), asked of the
broker, and its CPU from /proc, so that measuring costs the measured process nothing. The run is
repeated (the group's offsets put back to 0, a fresh archive each time): noise only slows a run
down, so the best is the machine's capability, the median shown too. ``verify`` then checks the
last archive. Last, the same records, stamped over a week, are written again (in-process) into a
second archive, about ten segments a day, and one day of it is replayed by time range: read
alone, and decoded as ``hub replay --archive --from --to`` does.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from confluent_kafka import TopicPartition

from hub.archive import ArchivedRecord, ArchiveWriter, verify
from hub.archive.reader import archive_records, schema_texts, segments
from hub.audit.records import Filters
from hub.audit.replay import Span, from_archive, select
from hub.avro.wire import AvroCodec
from hub.bench.indicators import _Committed, _hub_run, _per_second
from hub.bench.publish import Figure
from hub.bench.reconcile import _cpu_seconds, _memory_mib, _stop
from hub.errors import HubError
from hub.kafka.clients import KafkaClients
from hub.province import VIETNAM, Province
from hub.runtime import Runtime
from hub.service import publishers_for
from hub.settings import Settings
from hub.topics import ALL_TOPICS, DEPARTMENT_TOPICS, Group
from producers.population import generate_population
from producers.simulation import SimulationPlan, run_simulation

__all__ = ["Run", "archiver_figures", "bench_archive", "replay_day", "verify_figures", "write_week"]

POPULATION = 100_000  # who the records are about does not matter to the archive
DAY_MS = 86_400_000
WEEK_START_MS = int(datetime(2026, 11, 1, tzinfo=VIETNAM).timestamp() * 1000)
SEGMENTS_PER_DAY = 10
_INPUTS = [topic.name for topic in ALL_TOPICS]  # what the archiver reads


@dataclass
class Run:
    """When the archiver had committed 10 %, 90 % and all of its records, and its CPU time then."""

    records: int
    launched: float
    at: dict[int, float]  # records committed → perf_counter()
    cpu: dict[int, float]  # records committed → CPU seconds of the process
    peak: float = 0.0  # MiB resident, at most

    @property
    def marks(self) -> tuple[int, int]:
        return self.records // 10, self.records - self.records // 10

    def rate(self) -> float:
        """Records per second from 10 % to 90 % of them: the sustained rate."""
        low, high = self.marks
        return _per_second(high - low, self.at[high] - self.at[low])

    def cpu_per_record(self) -> float:
        """CPU µs per record from 10 % to 90 %."""
        low, high = self.marks
        return (self.cpu[high] - self.cpu[low]) / (high - low) * 1e6 if high > low else float("nan")


def bench_archive(
    settings: Settings, province: Province, citizens: int, records: int, seed: int, repeat: int = 3
) -> list[Figure]:
    """Publish ``records`` department records, archive them (``repeat`` times), verify the
    archive, replay a day out of a week of them."""
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        database_url = settings.database_url or f"sqlite:///{root / 'hub.db'}"
        local = Settings(**{**settings.model_dump(), "database_url": database_url, "data_dir": root})
        with Runtime(local) as runtime:
            runtime.prepare()
            people = min(citizens, POPULATION)
            plan = SimulationPlan(province, people, records, seed, out_dir=None)
            summary = run_simulation(
                plan, publishers_for(runtime), population=generate_population(province, people, seed)
            )
            delivered = sum(report.delivered for report in summary.published.values())
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
                "HUB_KAFKA_BOOTSTRAP": runtime.clients.bootstrap,
                "HUB_DATABASE_URL": database_url,
                "HUB_DATA_DIR": tmp,
                "HUB_EXCHANGE_URL": "http://127.0.0.1:9",  # not used by the archiver
            }
            archives = [root / f"archive-{attempt}" for attempt in range(repeat)]
            runs: list[Run] = []
            for archive in archives:
                if runs:
                    _rewind(runtime.clients)
                own = {**env, "HUB_ARCHIVE_DIR": str(archive)}
                runs.append(_archiver(runtime.clients, own, archive, delivered))
        archive = archives[-1]  # the last run's: verified, then stamped over a week
        figures += archiver_figures(runs, _archive_bytes(archive))
        checked, count = verify_figures(archive)
        figures += checked
        segment_bytes = max(1 << 20, _archive_bytes(archive) // (7 * SEGMENTS_PER_DAY))
        batch = max(1000, count // (7 * SEGMENTS_PER_DAY * 4))  # a few appends a segment
        write_week(
            archive_records(archive), root / "week", count, schema_texts(archive), segment_bytes, batch
        )
        figures += replay_day(root / "week", WEEK_START_MS + 3 * DAY_MS)
    return figures


def _archiver(clients: KafkaClients, env: dict[str, str], archive: Path, total: int) -> Run:
    """Time one archiver process through the ``total`` records just published. (Their count is
    the publishers': the embedded broker's end offsets undercount, see :mod:`hub.audit.live`.)"""
    log = archive.with_suffix(".log")
    with _Committed(clients.bootstrap, Group.ARCHIVE.value, _INPUTS) as committed:
        start = committed()  # 0 on a fresh broker
        worker = _hub_run("archive", env, log)
        run = Run(total, time.perf_counter(), {}, {})
        try:
            _follow(run, worker, log, lambda: committed() - start)
            run.peak = _memory_mib(worker.pid)
        finally:
            _stop([worker])
    return run


def _rewind(clients: KafkaClients) -> None:
    """Put the archiver's group back at the start of every topic, for another run."""
    consumer = clients.consumer(Group.ARCHIVE.value)  # never subscribes: the group has no members
    try:
        topics = consumer.list_topics(timeout=10).topics
        starts = [TopicPartition(name, p, 0) for name in _INPUTS for p in topics[name].partitions]
        consumer.commit(offsets=starts, asynchronous=False)
    finally:
        consumer.close()


def archiver_figures(runs: list[Run], size: int) -> list[Figure]:
    """The best of the archiver's runs (its rate checked), the median, its CPU per record."""
    best = max(runs, key=Run.rate)
    rates = ", ".join(f"{run.rate():,.0f}" for run in runs)
    total = best.records
    low, high = best.marks
    return [
        Figure(
            f"archiver, 1 process (hub run --stage archive), {total:,} department records, "
            f"10 % to 90 % (sustained), best of {len(runs)} runs",
            best.rate(),
            "records/s",
            ">= 80,000 records/s",
            best.rate() >= 80_000,
        ),
        Figure(
            f"the same, runs: {rates}", statistics.median(run.rate() for run in runs), "records/s (median)"
        ),
        Figure(
            "the best run from the process's start (imports, group join) to the last commit",
            _per_second(total, best.at[total] - best.launched),
            "records/s",
        ),
        Figure(
            f"archiver CPU per record (10 % to 90 %, {high - low:,} records)", best.cpu_per_record(), "µs"
        ),
        Figure("archiver CPU per record, whole run (start-up included)", best.cpu[total] / total * 1e6, "µs"),
        Figure(f"archive written ({size / total:,.0f} bytes a record)", size / 1e6, "MB"),
        Figure("peak RSS of the archiver process", max(run.peak for run in runs), "MiB"),
    ]


def _follow(
    run: Run, worker: subprocess.Popen[bytes], log: Path, committed: Callable[[], int], timeout: float = 900
) -> None:
    """Note when (and at what CPU time) the archiver had committed 10 %, 90 % and all records."""
    low, high = run.marks
    wanted = sorted({low, high, run.records})
    deadline = time.monotonic() + timeout
    while len(run.at) < len(wanted):
        if worker.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-1500:]
            raise HubError(f"bench: the archiver stopped or stalled: {tail}")
        time.sleep(0.02)
        done = committed()
        now, cpu = time.perf_counter(), _cpu_seconds(worker.pid)
        for mark in wanted:
            if done >= mark and mark not in run.at:
                run.at[mark], run.cpu[mark] = now, cpu


def _archive_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in (directory / "segments").glob("*.avro"))


def verify_figures(archive: Path) -> tuple[list[Figure], int]:
    """``verify`` of the archive in ``archive``, timed; and how many records it holds."""
    size = _archive_bytes(archive)
    started = time.perf_counter()
    verdict = verify(archive)
    took = time.perf_counter() - started
    if not verdict.ok:
        raise HubError(f"bench: the archive does not verify: {verdict.problem} at {verdict.where}")
    rate = size / 1e9 / (took / 60)
    count = verdict.records + verdict.open_records
    figures = [
        Figure(
            f"verify the archive ({verdict.segments} segments, {count:,} records, {size / 1e6:,.0f} MB)",
            rate,
            "GB/min",
            ">= 1 GB/min",
            rate >= 1,
        ),
        Figure("verify, per record", took / max(1, count) * 1e6, "µs"),
    ]
    return figures, count


def write_week(
    records: Iterable[ArchivedRecord],
    directory: Path,
    count: int,
    schemas: dict[int, str],
    segment_bytes: int,
    batch: int = 20_000,
    start_ms: int = WEEK_START_MS,
) -> None:
    """``records`` (``count`` of them) archived again in ``directory``, their timestamps spread
    evenly over the week from ``start_ms``, in batches as the archiver appends them."""
    writer = ArchiveWriter(directory, max_bytes=segment_bytes, max_seconds=float("inf"))
    step = 7 * DAY_MS / max(1, count)
    for numbered in _batches(records, batch):
        stamped = [replace(r, timestamp=start_ms + int(i * step)) for i, r in numbered]
        writer.append(stamped, schemas)
    writer.close()


def _batches(records: Iterable[ArchivedRecord], size: int) -> Iterator[list[tuple[int, ArchivedRecord]]]:
    batch: list[tuple[int, ArchivedRecord]] = []
    for numbered in enumerate(records):
        batch.append(numbered)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def replay_day(directory: Path, day_start: int) -> list[Figure]:
    """Read the day from ``day_start`` out of the archive in ``directory``: every department
    topic's records alone, then decoded, topic by topic, as ``hub replay --archive`` does."""
    day_end = day_start + DAY_MS
    topics = [topic.name for topic in DEPARTMENT_TOPICS.values()]
    held = segments(directory)
    opened = sum(1 for s in held if s.may_hold(set(topics), day_start, day_end))
    started = time.perf_counter()
    found = sum(1 for _ in archive_records(directory, topics=topics, start_ms=day_start, end_ms=day_end))
    raw = time.perf_counter() - started
    texts = schema_texts(directory)
    codec = AvroCodec(texts.get)
    span = Span(from_ms=day_start, to_ms=day_end)
    started = time.perf_counter()
    rows = 0
    for topic in topics:
        rows += sum(1 for _ in select(from_archive(directory, topic, span), codec, Filters()))
    decoded = time.perf_counter() - started
    if rows != found:
        raise HubError(f"bench: replay decoded {rows:,} records of the day, read {found:,}")
    return [
        Figure(
            f"replay one day of a week's archive by time range, read ({found:,} records; "
            f"{opened} of {len(held)} segments opened)",
            raw,
            "s",
        ),
        Figure(
            f"the same day decoded, 4 department topics (from_archive + select), {rows:,} records",
            decoded,
            "s",
            "< 10 s",
            decoded < 10,
        ),
    ]
