"""``hub bench --only archive``: the archiver's rate, ``verify``'s, and a day replayed out of a week.

Department records are simulated and published (not timed); then one archiver process (``hub
run --stage archive``) reads every hub topic from the start into a fresh archive. Its rate is
read from its consumer group's committed offsets (as the indicators' bench does), asked of the
broker, and its CPU from /proc, so that measuring costs the measured process nothing. ``verify``
then checks that archive. Last, the same records, stamped over a week, are written again
(in-process) into a second archive, about ten segments a day, and one day of it is replayed by
time range: read alone, and decoded as ``hub replay --archive --from --to`` does.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

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

__all__ = ["Run", "bench_archive", "replay_day", "write_week"]

POPULATION = 100_000  # who the records are about does not matter to the archive
DAY_MS = 86_400_000
WEEK_START_MS = int(datetime(2026, 11, 1, tzinfo=VIETNAM).timestamp() * 1000)
SEGMENTS_PER_DAY = 10


@dataclass
class Run:
    """When the archiver had committed 10 %, 90 % and all of its records, and its CPU time then."""

    records: int
    launched: float
    at: dict[int, float]  # records committed → perf_counter()
    cpu: dict[int, float]  # records committed → CPU seconds of the process

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
    settings: Settings, province: Province, citizens: int, records: int, seed: int
) -> list[Figure]:
    """Publish ``records`` department records, archive them, verify the archive, replay a day."""
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = root / "archive"
        database_url = settings.database_url or f"sqlite:///{root / 'hub.db'}"
        local = Settings(
            **{
                **settings.model_dump(),
                "database_url": database_url,
                "data_dir": root,
                "archive_dir": archive,
            }
        )
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
                "HUB_ARCHIVE_DIR": str(archive),
                "HUB_EXCHANGE_URL": "http://127.0.0.1:9",  # not used by the archiver
            }
            figures += _archiver(runtime.clients, env, root, delivered)
        figures += _verify(archive)
        count = sum(1 for _ in archive_records(archive))
        segments_bytes = max(1 << 20, _archive_bytes(archive) // (7 * SEGMENTS_PER_DAY))
        batch = max(1000, count // (7 * SEGMENTS_PER_DAY * 4))  # a few appends a segment
        week = root / "week"
        started = time.perf_counter()
        write_week(archive_records(archive), week, count, schema_texts(archive), segments_bytes, batch)
        took = time.perf_counter() - started
        figures.append(
            Figure(
                f"write a week's archive in-process (ArchiveWriter.append, {batch:,} a batch, "
                f"segments of {segments_bytes / 1e6:,.1f} MB), {count:,} records",
                count / took,
                "records/s",
            )
        )
        figures += replay_day(week, WEEK_START_MS + 3 * DAY_MS)
    return figures


def _archiver(clients: KafkaClients, env: dict[str, str], root: Path, total: int) -> list[Figure]:
    """Time one archiver process through the ``total`` records just published. (Their count is
    the publishers': the embedded broker's end offsets undercount, see :mod:`hub.audit.live`.)"""
    inputs = [topic.name for topic in ALL_TOPICS]
    log = root / "archive.log"
    with _Committed(clients.bootstrap, Group.ARCHIVE.value, inputs) as committed:
        start = committed()  # 0 on a fresh broker
        worker = _hub_run("archive", env, log)
        run = Run(total, time.perf_counter(), {}, {})
        try:
            _follow(run, worker, log, lambda: committed() - start)
            peak = _memory_mib(worker.pid)
        finally:
            _stop([worker])
    archived = root / "archive"
    size = _archive_bytes(archived)
    whole = _per_second(total, run.at[total] - run.launched)
    low, high = run.marks
    return [
        Figure(
            f"archiver, 1 process (hub run --stage archive), {total:,} department records, "
            "10 % to 90 % (sustained)",
            run.rate(),
            "records/s",
            ">= 80,000 records/s",
            run.rate() >= 80_000,
        ),
        Figure(
            "the same, from the process's start (imports, group join) to the last commit", whole, "records/s"
        ),
        Figure(f"archiver CPU per record (10 % to 90 %, {high - low:,} records)", run.cpu_per_record(), "µs"),
        Figure(
            "archiver CPU per record, whole run (start-up included)",
            run.cpu[total] / total * 1e6,
            "µs",
        ),
        Figure(f"archive written ({size / total:,.0f} bytes a record)", size / 1e6, "MB"),
        Figure("peak RSS of the archiver process", peak, "MiB"),
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


def _verify(archive: Path) -> list[Figure]:
    size = _archive_bytes(archive)
    started = time.perf_counter()
    verdict = verify(archive)
    took = time.perf_counter() - started
    if not verdict.ok:
        raise HubError(f"bench: the archive does not verify: {verdict.problem} at {verdict.where}")
    rate = size / 1e9 / (took / 60)
    return [
        Figure(
            f"verify the archive ({verdict.segments} segments, {verdict.records + verdict.open_records:,} "
            f"records, {size / 1e6:,.0f} MB)",
            rate,
            "GB/min",
            ">= 1 GB/min",
            rate >= 1,
        ),
        Figure("verify, per record", took / max(1, verdict.records + verdict.open_records) * 1e6, "µs"),
    ]


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
