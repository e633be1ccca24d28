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
    """Load a generated registry.csv into ``database_url`` twice (into an empty registry, then
    replacing it), then take a snapshot; time both and measure the snapshot's memory.

    The registry in ``database_url`` is replaced: point it at a scratch database.
    """
    population = generate_population(load_province(get_settings().province_code), citizens, seed)
    database = make_url(database_url).get_backend_name()
    store = RegistryStore(connect(database_url))
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registry.csv"
        population.write_csv(path)
        del population
        store.load([])  # start from an empty registry
        for label in ("into an empty registry", "replacing a full registry"):
            rows, seconds = _timed_load(store, path, replace=True)
            figures += [
                Figure(
                    f"{database}: load {rows:,} rows {label}",
                    seconds,
                    "s",
                    f"< {_LOAD_TARGET_SECONDS:.0f} s",
                    seconds < _LOAD_TARGET_SECONDS,
                ),
                Figure(f"{database}: load rate {label}", rows / seconds, "rows/s"),
            ]
    gc.collect()
    before, started = _rss_bytes(), time.perf_counter()
    snapshot = store.snapshot()
    seconds, grown = time.perf_counter() - started, _rss_bytes() - before
    figures += [
        Figure(f"{database}: snapshot() of {len(snapshot):,} citizens", seconds, "s"),
        Figure(f"{database}: snapshot resident memory", grown / 2**20, "MiB"),
        Figure(f"{database}: snapshot memory per citizen", grown / max(len(snapshot), 1), "bytes"),
    ]
    store.engine.dispose()
    return figures
