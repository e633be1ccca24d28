"""Issue 4's figures: reconciliation throughput against the full registry, and its memory.

The hub's own reconciliation processes (``hub run --stage reconcile``, one or more in one
consumer group) read records already on the department topics and write the reconciled
and rejected topics; the rate is counted on those output topics, from the first output to
the last. The same job written the straightforward way, as a per-record faust-streaming
agent, runs on a sample for comparison (:mod:`hub.bench.faust_baseline`).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from hub.bench.publish import Figure
from hub.db import connect
from hub.errors import HubError
from hub.province import Province
from hub.registry import RegistryStore
from hub.runtime import Runtime
from hub.service import publishers_for
from hub.settings import Settings
from hub.topics import RECONCILED, REJECTED
from producers.population import generate_population
from producers.simulation import SimulationPlan, run_simulation

__all__ = ["bench_reconcile", "count_outputs", "published", "scraped"]


@dataclass
class Arrivals:
    """When the outputs arrived: the first, the last, and at each milestone (a count)."""

    seen: int = 0
    first: float = 0.0
    last: float = 0.0
    at: dict[int, float] = field(default_factory=dict)

    def rate(self, low: int, high: int) -> float:
        """Outputs per second between two milestones."""
        span = self.at.get(high, 0.0) - self.at.get(low, 0.0)
        return (high - low) / span if span > 0 else float("nan")


def count_outputs(
    bootstrap: str,
    topics: list[str],
    expected: int,
    timeout: float,
    milestones: tuple[int, ...] = (),
    on_milestone: Callable[[int], None] | None = None,
    check: Callable[[], None] = lambda: None,
) -> Arrivals:
    """Count messages arriving on ``topics`` until ``expected`` have, noting when each milestone
    (a count) was passed and calling ``on_milestone`` then; ``check`` runs while waiting (it
    raises to give up, e.g. when a process being measured has died)."""
    from hub.kafka.clients import KafkaClients

    consumer = KafkaClients({"bootstrap.servers": bootstrap}).consumer(
        f"hub-bench-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": False}
    )
    consumer.subscribe(topics)
    arrivals = Arrivals()
    pending = sorted(milestones)
    deadline = time.monotonic() + timeout
    try:
        while arrivals.seen < expected and time.monotonic() < deadline:
            messages = consumer.consume(10_000, 0.5)
            for message in messages:
                error = message.error()
                if error is not None:
                    raise HubError(f"bench consumer: {error.str()}")
            if not messages:
                check()
                continue
            now = time.perf_counter()
            arrivals.first = arrivals.first or now
            arrivals.last = now
            arrivals.seen += len(messages)
            while pending and arrivals.seen >= pending[0]:
                arrivals.at[pending[0]] = now
                if on_milestone:
                    on_milestone(pending.pop(0))
                else:
                    pending.pop(0)
    finally:
        consumer.close()
    return arrivals


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _memory_mib(pid: int, field: str = "VmHWM") -> float:
    """A process's memory from /proc: ``VmHWM`` its peak resident set, ``VmRSS`` its resident set now."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


@contextmanager
def published(
    settings: Settings, province: Province, citizens: int, records: int, seed: int, figures: list[Figure]
) -> Iterator[tuple[Runtime, dict[str, str], str]]:
    """The registry of ``citizens`` loaded and ``records`` simulated records published, in a
    temporary data directory: the runtime, the environment for a ``hub run`` process, the directory."""
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
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
                "HUB_KAFKA_BOOTSTRAP": runtime.clients.bootstrap,
                "HUB_DATABASE_URL": database_url,
                "HUB_DATA_DIR": tmp,
                "HUB_EXCHANGE_URL": "http://127.0.0.1:9",  # not used by these stages
            }
            yield runtime, env, tmp


def bench_reconcile(
    settings: Settings,
    province: Province,
    citizens: int,
    records: int,
    seed: int,
    processes: int = 2,
    faust_records: int = 20_000,
    metrics_enabled: bool = True,
    poll_page: bool = True,
) -> list[Figure]:
    """Publish ``records``, then time ``processes`` reconciliation processes through them
    (``metrics_enabled`` False: with every metric counting nothing, HUB_METRICS_ENABLED=false)."""
    figures: list[Figure] = []
    with published(settings, province, citizens, records, seed, figures) as (runtime, env, tmp):
        env["HUB_METRICS_ENABLED"] = "true" if metrics_enabled else "false"
        env["HUB_OPS_PORT"] = "0"  # each process's page on a port of its own
        bootstrap = runtime.clients.bootstrap
        database_url = env["HUB_DATABASE_URL"]
        launched = time.perf_counter()
        logs = [Path(tmp) / f"reconcile-{i}.log" for i in range(processes)]
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "run", "--stage", "reconcile"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log.open("wb"),
            )
            for log in logs
        ]

        def alive() -> None:
            for worker, log in zip(workers, logs, strict=True):
                if worker.poll() is not None:
                    tail = log.read_text(errors="replace").strip()[-1500:]
                    raise HubError(f"a reconciliation process exited ({worker.returncode}):\n{tail}")

        pids = {"reconciliation": [w.pid for w in workers]}
        if runtime.broker is not None:
            pids["broker"] = [runtime.broker.pid]
        low, high = records // 10, records - records // 10
        cpu: dict[int, dict[str, float]] = {}

        resident: list[float] = []

        def note_cpu(milestone: int) -> None:
            cpu[milestone] = {who: sum(map(_cpu_seconds, ps)) for who, ps in pids.items()}
            resident[:] = [_memory_mib(w.pid, "VmRSS") for w in workers]

        page = PagePoller(logs[0])
        try:
            if poll_page:
                page.start()
            arrivals = count_outputs(
                bootstrap, [RECONCILED.name, REJECTED.name], records, 600, (low, high), note_cpu, alive
            )
            peaks = [_memory_mib(w.pid) for w in workers]
        finally:
            page.stop()
            _stop(workers)
        faust_rate = _faust(bootstrap, database_url, faust_records, env) if faust_records else None
    if arrivals.seen < records:
        raise HubError(
            f"reconciliation produced {arrivals.seen:,} of {records:,} outputs within the time limit"
        )
    rate = arrivals.rate(low, high)
    whole = (
        arrivals.seen / (arrivals.last - arrivals.first) if arrivals.last > arrivals.first else float("nan")
    )
    figures += [
        Figure(
            f"{processes} reconciliation process(es): start to first output (registry snapshot, group join)",
            arrivals.first - launched,
            "s",
        ),
        Figure(
            f"reconcile {records:,} records, department topics → reconciled/rejected, first to last output",
            arrivals.last - arrivals.first,
            "s",
        ),
        Figure(
            f"reconciliation rate, {processes} process(es), Avro decode + encode included, "
            "outputs 10 % to 90 % (sustained)",
            rate,
            "records/s",
            ">= 50,000 records/s",
            rate >= 50_000,
        ),
        Figure("the same, first output to last", whole, "records/s"),
        Figure("peak RSS of one reconciliation process with the full registry", max(peaks), "MiB"),
        Figure("RSS of one reconciliation process while it runs (at 90 %)", max(resident or [0.0]), "MiB"),
    ]
    answers = sorted(took for at, took in page.answers if arrivals.first <= at <= arrivals.last)
    if answers:
        p99 = answers[min(len(answers) - 1, int(len(answers) * 0.99))]
        figures += [
            Figure(
                f"operations page of a reconciliation process, /api/state while it reconciles, p99 "
                f"({len(answers)} polls)",
                p99 * 1000,
                "ms",
                "< 100 ms",
                p99 < 0.1,
            ),
            Figure("the same, slowest answer", answers[-1] * 1000, "ms"),
        ]
    if low in cpu and high in cpu:
        for who in pids:
            used = cpu[high][who] - cpu[low][who]
            figures.append(Figure(f"CPU per record, {who} (10 % to 90 %)", used / (high - low) * 1e6, "µs"))
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


class PagePoller:
    """Polls the operations page of the process whose log is ``log`` (its address is printed
    there at start) every 0.2 s from a thread, keeping each answer's time in seconds."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.answers: list[tuple[float, float]] = []  # (when, how long), perf_counter seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="page-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)

    def _url(self) -> str | None:
        found = re.search(
            r"page\s+(http://\S+)", self.log.read_text(errors="replace") if self.log.exists() else ""
        )
        return found.group(1) if found else None

    def _poll(self) -> None:
        import httpx

        url = None
        while url is None and not self._stop.wait(0.2):
            url = self._url()
        if url is None:
            return
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.wait(0.2):
                started = time.perf_counter()
                try:
                    client.get(url + "api/state").raise_for_status()
                except httpx.HTTPError:
                    continue
                self.answers.append((started, time.perf_counter() - started))


SUSTAINED = "reconciliation rate"  # the start of the sustained rate's figure name


def bench_metrics_cost(
    settings: Settings, province: Province, citizens: int, records: int, seed: int, processes: int
) -> list[Figure]:
    """The reconcile benchmark with metrics on and off (every metric counting nothing), twice
    each, alternating, the operations page not polled: the sustained rates, and what the metrics
    cost (off's best against on's best; this machine's noise is several per cent a run)."""
    rates: dict[bool, list[float]] = {True: [], False: []}
    for enabled in (True, False, True, False):
        figures = bench_reconcile(settings, province, citizens, records, seed, processes, 0, enabled, False)
        (rate,) = [f.value for f in figures if f.name.startswith(SUSTAINED)]
        rates[enabled].append(rate)
    on, off = max(rates[True]), max(rates[False])
    cost = (off - on) / off * 100 if off else float("nan")
    return [
        *(
            Figure(f"reconciliation rate, metrics on, run {i + 1}", r, "records/s")
            for i, r in enumerate(rates[True])
        ),
        *(
            Figure(
                f"reconciliation rate, metrics off (HUB_METRICS_ENABLED=false), run {i + 1}", r, "records/s"
            )
            for i, r in enumerate(rates[False])
        ),
        Figure("what the metrics cost: off's best rate over on's best", cost, "%", "<= 3 %", cost <= 3.0),
    ]


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


def scraped(log: Path, *series: str) -> list[float] | None:
    """The sum of each of ``series`` (a metric name and the start of its labels) on the /metrics
    of the ``hub`` process writing ``log``; None until the log names that address."""
    import re

    import httpx

    found = re.search(r"metrics\s+(http://\S+)", log.read_text(errors="replace"))
    if not found:
        return None
    # uncompressed: gzip would cost the measured process more than answering
    text = httpx.get(found.group(1), timeout=5, headers={"Accept-Encoding": "identity"}).text
    return [sum(float(m) for m in re.findall(re.escape(name) + r"\S* ([0-9.e+]+)", text)) for name in series]
