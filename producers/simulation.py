"""A whole simulation run: population registry file, department records, ground truth.

``hub simulate`` and ``hub bench`` call :func:`run_simulation`; it is a thin loop around the
pure generators in :mod:`producers.population` and :mod:`producers.simulate`.
"""

from __future__ import annotations

import csv
import gc
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import IO

from hub.avro.wire import jsonable
from hub.errors import InputError, Interrupted
from hub.province import Province
from hub.topics import Department
from producers.population import Population, generate_population
from producers.publisher import DepartmentPublisher, PublishReport
from producers.simulate import EXPECTED, BundleProfile, DirtProfile, Simulator

__all__ = ["GROUND_TRUTH_COLUMNS", "SimulationPlan", "SimulationSummary", "run_simulation"]

GROUND_TRUTH_COLUMNS = ("record_id", "department", "dirt", "expected", "bundle_id")

Progress = Callable[[str, int], None]  # (what, how many more done)


@dataclass(frozen=True)
class SimulationPlan:
    """What to simulate and where to put it."""

    province: Province
    citizens: int = 2_700_000
    records: int = 500_000
    seed: int = 74
    dirt: DirtProfile = field(default_factory=DirtProfile)
    bundles: BundleProfile = field(default_factory=BundleProfile)
    start: date = date(2026, 11, 1)
    days: int = 7
    out_dir: Path | None = None  # where the registry and ground truth go; None: no files
    export_records: bool = False  # also write records as JSON lines, one file per department


@dataclass
class SimulationSummary:
    """What a run produced, with the time each part took."""

    citizens: int = 0
    population_seconds: float = 0.0
    registry_file: Path | None = None
    registry_seconds: float = 0.0
    records: int = 0
    records_seconds: float = 0.0
    by_department: Counter[str] = field(default_factory=Counter)
    by_dirt: Counter[str] = field(default_factory=Counter)
    by_expected: Counter[str] = field(default_factory=Counter)
    bundled: int = 0
    ground_truth_file: Path | None = None
    record_files: dict[str, Path] = field(default_factory=dict)
    published: dict[str, PublishReport] = field(default_factory=dict)

    @property
    def records_per_second(self) -> float:
        return self.records / self.records_seconds if self.records_seconds else 0.0


def run_simulation(
    plan: SimulationPlan,
    publishers: Mapping[Department, DepartmentPublisher] | None = None,
    progress: Progress | None = None,
    interrupted: threading.Event | None = None,
    population: Population | None = None,
) -> SimulationSummary:
    """Generate (or reuse) the population, write its registry file, then simulate records.

    Records go to ``publishers`` (one per department) when given, to JSON-lines files when
    ``plan.export_records``, and their expected outcomes to the ground-truth file.
    """
    if plan.records < 0 or plan.citizens < 1:
        raise InputError("--citizens must be at least 1 and --records at least 0")
    summary = SimulationSummary()
    report = progress or (lambda _what, _n: None)
    stop = interrupted or threading.Event()
    started = time.perf_counter()
    if population is None:
        population = generate_population(plan.province, plan.citizens, plan.seed, today=plan.start)
    summary.citizens = len(population)
    summary.population_seconds = time.perf_counter() - started
    report("population", len(population))

    with ExitStack() as files:
        truth: IO[str] | None = None
        exports: dict[Department, IO[str]] = {}
        if plan.out_dir is not None:
            out = _prepare(plan.out_dir)
            started = time.perf_counter()
            summary.registry_file = out / "registry.csv"
            population.write_csv(summary.registry_file, lambda n: report("registry", n))
            summary.registry_seconds = time.perf_counter() - started
            summary.ground_truth_file = out / "ground_truth.csv"
            truth = files.enter_context(summary.ground_truth_file.open("w", encoding="utf-8", newline=""))
            csv.writer(truth).writerow(GROUND_TRUTH_COLUMNS)
            if plan.export_records:
                (out / "records").mkdir(exist_ok=True)
                for department in Department:
                    path = out / "records" / f"{department.value}.jsonl"
                    summary.record_files[department.value] = path
                    exports[department] = files.enter_context(path.open("w", encoding="utf-8"))
        with _few_collections():
            _simulate(plan, population, publishers, truth, exports, summary, report, stop)
    return summary


@contextmanager
def _few_collections() -> Iterator[None]:
    """Collect garbage rarely while records stream: each record's objects die young, and a
    collection every 700 allocations (Python's default) costs the loop about a tenth."""
    threshold = gc.get_threshold()
    gc.freeze()  # the population and lookup tables are long-lived: stop scanning them
    gc.set_threshold(100_000, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _prepare(out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot write to {out_dir}: {exc.strerror or exc}") from exc
    return out_dir


def _simulate(
    plan: SimulationPlan,
    population: Population,
    publishers: Mapping[Department, DepartmentPublisher] | None,
    truth: IO[str] | None,
    exports: Mapping[Department, IO[str]],
    summary: SimulationSummary,
    report: Progress,
    stop: threading.Event,
) -> None:
    simulator = Simulator(population, plan.seed, plan.dirt, plan.bundles, start=plan.start, days=plan.days)
    counts: Counter[tuple[Department, str]] = Counter()  # the expected outcome follows from the dirt
    lines: list[str] = []
    send = {d: p.publish for d, p in publishers.items()} if publishers is not None else None
    stream = simulator.records()
    started = time.perf_counter()
    done = 0
    while done < plan.records:
        chunk = min(8192, plan.records - done)
        for department, record, dirt, expected, raw in islice(stream, chunk):
            if send is not None:
                if raw is None:
                    send[department](record)
                else:
                    publishers[department].publish_raw(raw, record["record_id"])  # type: ignore[index]
            counts[department, dirt] += 1
            if truth is not None:
                bundle = record.get("bundle_id") or ""
                lines.append(f"{record['record_id']},{department.value},{dirt},{expected},{bundle}\n")
            if exports:
                exports[department].write(_export_line(record, raw))
        done += chunk
        if truth is not None:
            truth.write("".join(lines))
            lines.clear()
        report("records", chunk)
        if stop.is_set() and done < plan.records:
            raise Interrupted(f"simulation interrupted after {done:,} records")
    if publishers is not None:
        for department, publisher in publishers.items():
            summary.published[department.value] = publisher.flush()
    summary.records = done
    summary.records_seconds = time.perf_counter() - started
    for (department, dirt), n in counts.items():
        summary.by_department[department.value] += n
        summary.by_dirt[dirt] += n
        summary.by_expected[EXPECTED[dirt]] += n
    summary.bundled = simulator.bundled


def _export_line(record: dict[str, object], raw: bytes | None) -> str:
    """One JSON line as an agency's export would have it; a garbage row stays garbage."""
    if raw is not None:
        return raw.decode("utf-8", "replace").replace("\n", " ") + "\n"
    return json.dumps(jsonable(record), ensure_ascii=False) + "\n"
