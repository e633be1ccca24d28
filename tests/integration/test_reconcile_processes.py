"""`hub run --stage reconcile` as real processes: two share the work; one killed with -9 loses nothing.

Every input is traced through the outputs by its position: a reconciled record names it in
``source``, a rejected one in its ``__hub.errors.topic/partition/offset`` headers.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, Message, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from hub.avro.wire import AvroCodec
from hub.kafka.broker import EmbeddedBroker
from hub.kafka.clients import KafkaClients
from hub.province import load_province
from hub.registry import RegistryStore
from hub.runtime import Runtime
from hub.service import publishers_for
from hub.settings import Settings
from hub.topics import DEPARTMENT_TOPICS, RECONCILED, REJECTED
from producers.population import generate_population
from producers.simulate import Simulator

pytestmark = pytest.mark.integration

HUB = [sys.executable, "-m", "hub.cli", "run", "--stage", "reconcile"]
CITIZENS = 20_000
Position = tuple[str, int, int]  # topic, partition, offset of an input record


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """These tests count everything on the topics: each gets its own broker."""
    with EmbeddedBroker() as running:
        yield running


@dataclass
class Hub:
    """A prepared hub: topics, schemas and registry in place, ``inputs`` published."""

    clients: KafkaClients
    codec: AvroCodec
    env: dict[str, str]
    cwd: Path
    inputs: set[Position]


@contextmanager
def published(broker: EmbeddedBroker, tmp_path: Path, records: int, seed: int) -> Iterator[Hub]:
    database_url = f"sqlite:///{tmp_path / 'hub.db'}"
    settings = Settings(kafka_bootstrap=broker.bootstrap, database_url=database_url)
    with Runtime(settings) as runtime:
        runtime.prepare()
        population = generate_population(load_province("74"), CITIZENS, seed=seed)
        RegistryStore(runtime.engine).upsert(population)
        publishers = publishers_for(runtime)
        for simulated in Simulator(population, seed).take(records):
            simulated.send(publishers[simulated.department])
        for publisher in publishers.values():
            report = publisher.flush()
            assert report.failed == 0, report.errors
        reader = Outputs(runtime.clients, runtime.codec, _department_topics())
        inputs = {m.position for m in reader.drain()}
        reader.close()
        assert len(inputs) == records, f"{len(inputs)} of {records} published records read back"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env |= {
            "HUB_KAFKA_BOOTSTRAP": broker.bootstrap,
            "HUB_DATABASE_URL": database_url,
            "HUB_DATA_DIR": str(tmp_path / "data"),
            "HUB_EXCHANGE_URL": "http://127.0.0.1:9",  # only reconcile runs: never called
            "COLUMNS": "400",  # rich wraps stderr lines at the terminal width
        }
        yield Hub(runtime.clients, runtime.codec, env, tmp_path, inputs)


def _department_topics() -> dict[str, int]:
    return {t.name: t.partitions for t in DEPARTMENT_TOPICS.values()}


@dataclass(frozen=True)
class Seen:
    """One record read from a topic, and the input position it stands for."""

    topic: str
    position: Position


class Outputs:
    """Reads topics from their start by assignment (no group join), remembering where it is."""

    def __init__(self, clients: KafkaClients, codec: AvroCodec, topics: dict[str, int]) -> None:
        self.codec = codec
        self.partitions = {(t, p) for t, n in topics.items() for p in range(n)}
        self.consumer = clients.consumer("test.reader", **{"fetch.wait.max.ms": 50})
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in self.partitions])
        self.at_end: set[tuple[str, int]] = set()
        self.seen: list[Seen] = []

    def poll(self, seconds: float = 0.3) -> int:
        """Read what arrives within ``seconds``; returns how many records were read."""
        before = len(self.seen)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            for message in self.consumer.consume(10_000, min(left, 0.1)):
                error, where = message.error(), (message.topic(), message.partition())
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        self.at_end.add(where)
                    continue
                self.at_end.discard(where)
                self.seen.append(Seen(str(message.topic()), self._position(message)))
        return len(self.seen) - before

    def _position(self, message: Message) -> Position:
        if message.topic() == RECONCILED.name:
            _, record = self.codec.decode(message.value())
            source = record["source"]
            return source["topic"], source["partition"], source["offset"]
        if message.topic() == REJECTED.name:
            h = {k: (v or b"").decode() for k, v in message.headers() or []}
            return h["__hub.errors.topic"], int(h["__hub.errors.partition"]), int(h["__hub.errors.offset"])
        return str(message.topic()), int(message.partition() or 0), int(message.offset() or 0)

    def drain(self, timeout: float = 30.0) -> list[Seen]:
        """Everything up to the end of every partition (partition EOF, not the high watermark)."""
        deadline = time.monotonic() + timeout
        while self.at_end != self.partitions:
            assert time.monotonic() < deadline, f"not at the end of {self.partitions - self.at_end}"
            self.poll()
        return self.seen

    def close(self) -> None:
        self.consumer.close()


def _outputs(hub: Hub) -> Outputs:
    return Outputs(hub.clients, hub.codec, {RECONCILED.name: RECONCILED.partitions, REJECTED.name: 1})


class Reconciler:
    """One `hub run --stage reconcile` process, its stderr in a file."""

    def __init__(self, hub: Hub, name: str, **env: str) -> None:
        self.log = hub.cwd / f"{name}.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                HUB, stdout=log, stderr=subprocess.STDOUT, env=hub.env | env, cwd=hub.cwd
            )
        self.name = name
        self._metrics_url = ""

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def metrics_url(self, timeout: float = 30.0) -> str:
        if self._metrics_url:
            return self._metrics_url
        deadline = time.monotonic() + timeout
        while not (found := re.search(r"metrics\s+(http://\S+)", self.output())):
            assert self.process.poll() is None, f"{self.name} exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"{self.name} did not start:\n{self.output()}"
            time.sleep(0.1)
        self._metrics_url: str = found.group(1)
        return self._metrics_url

    def consumed(self) -> float:
        """Records this process's reconcile stage consumed and committed, from its /metrics."""
        text = httpx.get(self.metrics_url(), timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "hub_stage_records_consumed"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels.get("stage") == "reconcile"
        )

    def terminate(self, timeout: float = 30.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _wait_for(
    outputs: Outputs, done: Callable[[int], bool], timeout: float, why: Callable[[], str], step: float = 0.3
) -> None:
    deadline = time.monotonic() + timeout
    while not done(len(outputs.seen)):
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s: {why()}"
        outputs.poll(step)


def _wait_until_committed(worker: Reconciler, at_least: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while (done := worker.consumed()) < at_least:
        assert worker.process.poll() is None, f"{worker.name} exited:\n{worker.output()}"
        assert time.monotonic() < deadline, f"{worker.name} committed {done} records:\n{worker.output()}"
        time.sleep(0.02)
    return done


def _tally(outputs: Outputs, inputs: set[Position]) -> tuple[Counter[Position], set[Position]]:
    """How often each input was output, and the outputs that are no input at all."""
    times = Counter(s.position for s in outputs.seen)
    return times, set(times) - inputs


def test_two_processes_share_the_work_exactly_once(broker: EmbeddedBroker, tmp_path: Path) -> None:
    records = 20_000
    with published(broker, tmp_path, records, seed=31) as hub:
        started = time.monotonic()
        outputs = _outputs(hub)
        workers = [Reconciler(hub, "first"), Reconciler(hub, "second")]
        try:
            for worker in workers:
                worker.metrics_url()

            def why() -> str:
                logs = "\n".join(f"--- {w.name}:\n{w.output()[-2000:]}" for w in workers)
                return f"{len(outputs.seen)} of {records} outputs\n{logs}"

            _wait_for(outputs, lambda n: n >= records, 45, why)
            outputs.poll(2.0)  # a late duplicate would arrive now
            consumed = [w.consumed() for w in workers]
            codes = [w.terminate() for w in workers]
        finally:
            for worker in workers:
                worker.kill()
        seen = outputs.drain()
        outputs.close()
        times, strays = _tally(outputs, hub.inputs)
        twice = {p: n for p, n in times.items() if n > 1}
        print(
            f"\ntwo reconcilers: {records} inputs, {len(seen)} outputs, consumed {consumed}, "
            f"{time.monotonic() - started:.1f} s"
        )
        assert codes == [0, 0], why()
        assert not strays, f"outputs for positions never published: {sorted(strays)[:10]}"
        assert set(times) == hub.inputs, f"{len(hub.inputs - set(times))} inputs without an output"
        assert not twice, f"{len(twice)} inputs output more than once, e.g. {sorted(twice)[:10]}"
        assert all(n > 0 for n in consumed), f"one process did nothing: consumed {consumed}"
        assert sum(consumed) == records


def test_a_reconciler_killed_with_sigkill_loses_nothing(broker: EmbeddedBroker, tmp_path: Path) -> None:
    records, batch = 20_000, 100
    with published(broker, tmp_path, records, seed=32) as hub:
        started = time.monotonic()
        outputs = _outputs(hub)
        first = Reconciler(hub, "killed", HUB_CONSUMER_BATCH_SIZE=str(batch))
        workers = [first]
        try:
            # The trigger is the process's own count of committed records: a reader of the
            # output topics lags behind by a fetch or two, too late to catch it half-way.
            committed = _wait_until_committed(first, records // 10, timeout=40)
            time.sleep(0.037)  # just after a commit is the least interesting moment: move off it
            first.kill()  # SIGKILL
            before = len(outputs.drain())
            assert before < records, "the first process finished before it could be killed"
            second = Reconciler(hub, "successor", HUB_CONSUMER_BATCH_SIZE=str(batch))
            workers.append(second)
            _wait_for(
                outputs,
                lambda _: hub.inputs <= {s.position for s in outputs.seen},
                45,
                lambda: f"{len(outputs.seen)} outputs, inputs missing\n{second.output()}",
            )
            outputs.poll(2.0)
            code = second.terminate()
        finally:
            for worker in workers:
                worker.kill()
        outputs.drain()
        outputs.close()
        times, strays = _tally(outputs, hub.inputs)
        by_killed = [s.position for s in outputs.seen[:before]]
        by_successor = {s.position for s in outputs.seen[before:]}
        again = set(by_killed) & by_successor
        print(
            f"\nkill -9 after {before} of {records} outputs: {len(again)} inputs output twice "
            f"(batch size {batch}; killed when it had committed {committed:.0f}); "
            f"{time.monotonic() - started:.1f} s"
        )
        assert code == 0, second.output()
        assert not strays, f"outputs for positions never published: {sorted(strays)[:10]}"
        assert set(times) == hub.inputs, f"{len(hub.inputs - set(times))} inputs without an output"
        assert len(by_killed) == len(set(by_killed)), "the killed process output an input twice"
        assert len(outputs.seen) - before == len(by_successor), "the successor output an input twice"
        assert len(again) <= batch, f"{len(again)} inputs output twice, more than one batch of {batch}"
        # Re-done work is the killed process's uncommitted tail: per input partition, every
        # duplicate comes after every input the killed process alone handled.
        for topic, partition in {(t, p) for t, p, _ in again}:
            only_first = [
                o for t, p, o in by_killed if (t, p) == (topic, partition) and (t, p, o) not in again
            ]
            dup = [o for t, p, o in again if (t, p) == (topic, partition)]
            assert not only_first or min(dup) > max(only_first), (topic, partition, sorted(dup))
