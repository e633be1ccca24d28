"""The population registry in SQL at province scale: bulk load and in-memory snapshot, timed."""

from __future__ import annotations

import gc
import resource
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from hub.bench.publish import Figure
from hub.db import connect
from hub.province import load_province
from hub.registry import RegistryStore
from hub.settings import get_settings
from producers.population import generate_population, open_registry, read_registry_csv

__all__ = ["bench_registry_load"]

_LOAD_TARGET_SECONDS = 60.0
_RUNS = (  # (what, replace)
    ("into an empty registry", True),
    ("replacing a full registry", True),
    ("merging the same file again", False),
)


def _rss_bytes() -> int:
    """The process's resident memory now (Linux), or its peak where /proc is missing."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * resource.getpagesize()


def _timed_load(store: RegistryStore, path: Path, replace: bool) -> tuple[int, float]:
    started = time.perf_counter()
    with open_registry(path) as stream:
        rows = store.load(read_registry_csv(stream), replace=replace)
    return rows, time.perf_counter() - started


def bench_registry_load(database_url: str, citizens: int, seed: int) -> list[Figure]:
    """Load a generated registry.csv into ``database_url`` (into an empty registry, replacing
    it, merging it again), then take a snapshot; time each and measure the snapshot's memory.

    The registry in ``database_url`` is replaced: point it at a scratch database.
    """
    population = generate_population(load_province(get_settings().province_code), citizens, seed)
    database = make_url(database_url).get_backend_name()
    store = RegistryStore(connect(database_url))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "registry.csv"
            population.write_csv(path)
            del population
            store.load([])  # start from an empty registry
            figures = _load_figures(store, path, database)
        return figures + _snapshot_figures(store, database)
    finally:
        store.engine.dispose()


def _load_figures(store: RegistryStore, path: Path, database: str) -> list[Figure]:
    figures: list[Figure] = []
    for label, replace in _RUNS:
        rows, seconds = _timed_load(store, path, replace)
        target = f"< {_LOAD_TARGET_SECONDS:.0f} s" if replace else ""
        met = seconds < _LOAD_TARGET_SECONDS if replace else None
        figures += [
            Figure(f"{database}: load {rows:,} rows {label}", seconds, "s", target, met),
            Figure(f"{database}: load rate {label}", rows / seconds, "rows/s"),
        ]
    return figures


def _snapshot_figures(store: RegistryStore, database: str) -> list[Figure]:
    gc.collect()
    before, started = _rss_bytes(), time.perf_counter()
    snapshot = store.snapshot()
    seconds, grown = time.perf_counter() - started, _rss_bytes() - before
    return [
        Figure(f"{database}: snapshot() of {len(snapshot):,} citizens", seconds, "s"),
        Figure(f"{database}: snapshot resident memory", grown / 2**20, "MiB"),
        Figure(f"{database}: snapshot memory per citizen", grown / max(len(snapshot), 1), "bytes"),
    ]
