"""Issue 4's figures: reconciliation throughput against the full registry, and its memory.

The hub's own reconciliation processes (``hub run --stage reconcile``, one or more in one
consumer group) read records already on the department topics and write the reconciled
and rejected topics; the rate is counted on those output topics, from the first output to
the last. The same job written the straightforward way, as a per-record faust-streaming
agent, runs on a sample for comparison (:mod:`hub.bench.faust_baseline`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import KafkaError

from hub.bench.publish import Figure
from hub.db import connect
from hub.errors import HubError
from hub.province import Province
from hub.registry import RegistryStore
from hub.runtime import Runtime
from hub.settings import Settings
from hub.topics import RECONCILED, REJECTED
from producers.population import generate_population
from producers.publisher import publishers_for
from producers.simulation import SimulationPlan, run_simulation

__all__ = ["bench_reconcile", "count_outputs"]


def count_outputs(
    bootstrap: str,
    topics: list[str],
    expected: int,
    timeout: float,
    on_first: Callable[[], None] | None = None,
) -> tuple[float, float, int]:
    """Count messages arriving on ``topics`` until ``expected``: (first time, last time, count)."""
    from hub.kafka.clients import KafkaClients

    consumer = KafkaClients({"bootstrap.servers": bootstrap}).consumer(
        f"hub-bench-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": False}
    )
    consumer.subscribe(topics)
    first = last = 0.0
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < expected and time.monotonic() < deadline:
            for message in consumer.consume(10_000, 0.5):
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    raise HubError(f"bench consumer: {error.str()}")
                if error is None:
                    if not seen:
                        first = time.perf_counter()
                        if on_first:
                            on_first()
                    seen += 1
                    last = time.perf_counter()
    finally:
        consumer.close()
    return first, last, seen


def _peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def bench_reconcile(
    settings: Settings,
    province: Province,
    citizens: int,
    records: int,
    seed: int,
    processes: int = 2,
    faust_records: int = 20_000,
) -> list[Figure]:
    """Publish ``records``, then time ``processes`` reconciliation processes through them."""
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        database_url = settings.database_url or f"sqlite:///{Path(tmp) / 'hub.db'}"
        local = Settings(**{**settings.model_dump(), "database_url": database_url, "data_dir": Path(tmp)})
        population = generate_population(province, citizens, seed)
        started = time.perf_counter()
        store = RegistryStore(connect(database_url))
        loader = getattr(store, "load", None)
        (loader or store.upsert)(population)
        figures.append(
            Figure(
                f"load the registry ({citizens:,} citizens) into the database",
                time.perf_counter() - started,
                "s",
            )
        )
        with Runtime(local) as runtime:
            runtime.prepare()
            plan = SimulationPlan(province, citizens, records, seed, out_dir=None)
            run_simulation(plan, publishers_for(runtime), population=population)
            del population
            bootstrap = runtime.clients.bootstrap
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
                "HUB_KAFKA_BOOTSTRAP": bootstrap,
                "HUB_DATABASE_URL": database_url,
                "HUB_DATA_DIR": tmp,
                "HUB_EXCHANGE_URL": "http://127.0.0.1:9",  # not used by the reconcile stage
            }
            launched = time.perf_counter()
            workers = [
                subprocess.Popen(
                    [sys.executable, "-m", "hub.cli", "run", "--stage", "reconcile"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
                for _ in range(processes)
            ]
            try:
                first, last, seen = count_outputs(
                    bootstrap, [RECONCILED.name, REJECTED.name], records, timeout=600
                )
                peaks = [_peak_rss_mib(w.pid) for w in workers]
            finally:
                _stop(workers)
            faust_rate = _faust(bootstrap, database_url, faust_records, env) if faust_records else None
    if seen < records:
        raise HubError(f"reconciliation produced {seen:,} of {records:,} outputs within the time limit")
    rate = seen / (last - first) if last > first else float("nan")
    figures += [
        Figure(
            f"{processes} reconciliation process(es): start to first output (registry snapshot, group join)",
            first - launched,
            "s",
        ),
        Figure(
            f"reconcile {records:,} records, department topics → reconciled/rejected topics",
            last - first,
            "s",
        ),
        Figure(
            f"reconciliation rate, {processes} process(es), Avro decode + encode included",
            rate,
            "records/s",
            ">= 50,000 records/s",
            rate >= 50_000,
        ),
        Figure("peak RSS of one reconciliation process with the full registry", max(peaks), "MiB"),
    ]
    if faust_rate is not None:
        figures += [
            Figure(
                f"the same job as a per-record faust-streaming agent, 1 process, {faust_records:,} records",
                faust_rate,
                "records/s",
            ),
            Figure("hub rate ÷ faust rate", rate / faust_rate if faust_rate else float("nan"), "×"),
        ]
    return figures


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()


def _faust(bootstrap: str, database_url: str, sample: int, env: dict[str, str]) -> float:
    """Run the faust baseline over the same department topics; its rate over ``sample`` records."""
    result = Path(tempfile.mkdtemp()) / "faust.txt"
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "hub.bench.faust_baseline",
                bootstrap,
                database_url,
                str(sample),
                str(result),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300 + sample / 500,
        )
    except subprocess.TimeoutExpired as exc:
        raise HubError(
            f"the faust baseline did not finish {sample:,} records in {exc.timeout:.0f} s"
        ) from exc
    try:
        records, seconds = result.read_text(encoding="ascii").split()
        return int(records) / float(seconds)
    except (OSError, ValueError):
        raise HubError(f"the faust baseline failed: {done.stderr.strip()[-500:]}") from None
