"""The auditors' trail on the real pipeline. A broker restart (the embedded broker keeps nothing)
followed by a restore from the archive: every archived record is back where it was, and the hub
carries on without reprocessing anything (each stage, restarted, reads only the records published
after the restore). The trace of a record shows every step of its life."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from consumers.archive.stage import broker_was_reset
from hub.archive import ArchiveWriter, verify
from hub.archive.reader import archive_records, schema_texts
from hub.audit.replay import Span, from_topic, replay_json
from hub.audit.restore import restore
from hub.avro.wire import AvroCodec
from hub.errors import ArchiveError
from hub.kafka.broker import EmbeddedBroker
from hub.metrics import HubMetrics
from hub.province import load_province
from hub.registry import RegistryStore
from hub.runtime import Runtime
from hub.service import Service
from hub.settings import Settings
from hub.topics import DEPARTMENT_TOPICS, EXCHANGE_ACKS, Department, Group
from producers.population import generate_population
from producers.publisher import DepartmentPublisher
from producers.simulate import generate_records
from tests.integration.traffic import settle

pytestmark = pytest.mark.integration

PER_DEPARTMENT = 40
Position = tuple[str, int, int]


def _settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return Settings(
        kafka_bootstrap=broker.bootstrap,
        database_url=f"sqlite:///{tmp_path / 'hub.db'}",
        data_dir=tmp_path,
        archive_dir=tmp_path / "archive",
        archive_segment_bytes=50_000,
        indicator_allowed_lateness_days=36_500,  # the records' receipt dates are fixed, today is not
    )


def _publish(
    runtime: Runtime, seed: int, outcomes: dict[str, str] | None = None, per_department: int = PER_DEPARTMENT
) -> int:
    """PER_DEPARTMENT records of each department; how many the registry matches. ``outcomes``:
    filled with each record id's expected reconciliation outcome."""
    population = generate_population(load_province("74"), 400, seed=5)
    RegistryStore(runtime.engine).upsert(population)
    matched = 0
    for department in Department:
        registered = runtime.schema_ids[DEPARTMENT_TOPICS[department].value_schema or ""]
        publisher = DepartmentPublisher(
            department, runtime.clients.producer(), runtime.codec, registered.schema_id
        )
        for simulated in generate_records(population, department, per_department, seed=seed):
            simulated.send(publisher)
            matched += simulated.matched
            if outcomes is not None:
                outcomes[simulated.record["record_id"]] = simulated.expected
        assert publisher.flush().delivered == per_department
    return matched


def _archived(archive: Path) -> dict[Position, bytes | None]:
    found: dict[Position, bytes | None] = {}
    for r in archive_records(archive):
        assert (r.topic, r.partition, r.offset) not in found, "archived twice"
        found[r.topic, r.partition, r.offset] = r.value
    return found


def test_restore_after_a_broker_restart_loses_nothing_and_reprocesses_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with EmbeddedBroker() as first, Runtime(_settings(first, tmp_path)) as runtime:
        runtime.prepare()
        matched = _publish(runtime, seed=41)
        with Service(runtime, HubMetrics()) as service:
            exchange = service.exchange
            assert exchange is not None
            settle(service, lambda: exchange.ledger.count() >= matched)
    before = _archived(archive)  # the first broker is gone, and every record with it
    assert verify(archive).ok

    with EmbeddedBroker() as second, Runtime(_settings(second, tmp_path)) as runtime:
        runtime.prepare()
        held = ArchiveWriter(archive).high
        assert broker_was_reset(runtime.clients, held)  # what the archiver sees of a fresh broker
        done = restore(runtime.clients, archive)
        assert not broker_was_reset(runtime.clients, held)  # restored: the archive carries on
        assert done.total == len(before) and done.moved == 0
        assert set(done.groups) == {g.value for g in Group}
        on_broker = {
            (r.topic, r.partition, r.offset): r.value
            for topic in {t for t, _, _ in before}
            for r in from_topic(runtime.clients, topic, Span())
        }
        assert on_broker == before  # every archived record, at its offset, unchanged
        with pytest.raises(ArchiveError, match="already holds records"):
            restore(runtime.clients, archive)  # into a broker that is not empty: refused

        matched_after = _publish(runtime, seed=42)
        new_department_records = PER_DEPARTMENT * len(Department)
        with Service(runtime, HubMetrics()) as service:
            exchange = service.exchange
            assert exchange is not None
            settle(service, lambda: exchange.ledger.count() >= matched + matched_after)
            consumed = {name: runner.stats.consumed for name, runner in service.runners.items()}
            assert exchange.ledger.count() == matched + matched_after
        acks = Counter(
            a["value"]["record_id"] for a in replay_json(runtime.clients, EXCHANGE_ACKS, runtime.codec)
        )
    after = _archived(archive)
    assert verify(archive).ok
    assert {p: v for p, v in after.items() if p in before} == before
    new = {p for p in after if p not in before}
    # Reprocessed nothing: each stage read only what came after the restore.
    assert consumed["reconcile"] == new_department_records
    assert consumed["forward"] == sum(1 for t, _, _ in new if t == "lgsp.reconciled")
    assert consumed["archive"] == len(new)
    assert len(acks) == matched + matched_after and set(acks.values()) == {1}  # each acknowledged once


def test_hub_broker_restore_and_hub_archive_restore(tmp_path: Path) -> None:
    """The commands: `hub broker --restore` starts an embedded broker holding the archive;
    `hub archive restore` into it again is refused (not empty), and says why without a broker."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from hub.archive import ArchivedRecord, ArchiveWriter
    from hub.kafka.clients import KafkaClients
    from hub.topics import POSITIONS, RECONCILED

    archive = tmp_path / "archive"
    writer = ArchiveWriter(archive)
    marker = json.dumps({"group": "hub.forward", "stage": "forward", "offsets": {RECONCILED.name: {"1": 2}}})
    writer.append(
        [
            ArchivedRecord(RECONCILED.name, 1, i, 1_793_466_000_000 + i, b"k", (), None, b"v%d" % i)
            for i in range(3)
        ]
        + [ArchivedRecord(POSITIONS.name, 0, 0, 1_793_466_000_100, b"hub.forward", (), None, marker.encode())]
    )
    writer.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {"HUB_DATA_DIR": str(tmp_path), "HUB_ARCHIVE_DIR": str(archive)}
    hub = [sys.executable, "-m", "hub.cli"]
    alone = subprocess.run([*hub, "archive", "restore"], env=env, capture_output=True, text=True, timeout=60)
    assert alone.returncode == 1 and "HUB_KAFKA_BOOTSTRAP" in alone.stderr
    broker = subprocess.Popen(
        [*hub, "broker", "--port", "0", "--restore"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert broker.stdout is not None
        line = broker.stdout.readline()
        assert line.startswith("export HUB_KAFKA_BOOTSTRAP="), broker.stderr.read() if broker.stderr else ""
        bootstrap = line.strip().split("=", 1)[1]
        clients = KafkaClients({"bootstrap.servers": bootstrap})
        held = [(r.partition, r.offset, r.value) for r in from_topic(clients, RECONCILED.name, Span())]
        assert sorted(held) == [(1, i, b"v%d" % i) for i in range(3)]
        consumer = clients.consumer("hub.forward")
        from confluent_kafka import TopicPartition

        (committed,) = consumer.committed([TopicPartition(RECONCILED.name, 1)], timeout=10)
        consumer.close()
        assert committed.offset == 2  # where the forwarder's marker said it had got to
        again = subprocess.run(
            [*hub, "archive", "restore"],
            env=env | {"HUB_KAFKA_BOOTSTRAP": bootstrap},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 2 and "already holds records" in again.stderr
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.communicate(timeout=30)  # and its pipes closed


def test_the_trace_of_a_record_shows_every_step(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    outcomes: dict[str, str] = {}
    with EmbeddedBroker() as broker, Runtime(_settings(broker, tmp_path)) as runtime:
        runtime.prepare()
        matched = _publish(runtime, seed=43, outcomes=outcomes)
        with Service(runtime, HubMetrics()) as service:
            exchange = service.exchange
            assert exchange is not None
            settle(service, lambda: exchange.ledger.count() >= matched)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env |= {
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_ARCHIVE_DIR": str(tmp_path / "archive"),
        "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
    }

    def traced(record_id: str, *more: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "hub.cli", "audit", "trace", record_id, *more]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    good = next(r for r, outcome in outcomes.items() if outcome.startswith("MATCHED"))
    result = traced(good, "--json")
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["steps"]
    assert [s["what"] for s in steps] == ["received", "reconciled", "counted", "acknowledged"], steps
    received, reconciled, counted, acknowledged = steps
    assert received["agency"] and received["where"].startswith("lgsp.")
    assert reconciled["reason"] and reconciled["read_from"] == received["where"]
    assert counted["from"].startswith("the hub's database") and counted["synced"] is True
    assert counted["indicators"] and counted["dimensions"]["department"] == received["department"]
    assert acknowledged["status"] == "ACCEPTED" and acknowledged["exchange_transaction_id"]

    refused = next(r for r, outcome in outcomes.items() if not outcome.startswith("MATCHED"))
    result = traced(refused)
    assert result.returncode == 0, result.stderr
    assert "rejected" in result.stdout and f"reason: {outcomes[refused]}" in result.stdout
    assert "acknowledged" not in result.stdout  # never forwarded

    missing = traced("no-such-record")
    assert missing.returncode == 1 and "not in the archive" in missing.stderr


def test_rerunning_an_archived_period_reproduces_the_live_indicators_exactly(tmp_path: Path) -> None:
    """The archived department records and acknowledgements of a period, re-published into the
    topics of a fresh broker and re-processed by reconciliation and the indicators into a fresh
    database, give the very counts the live run gave, in every dimension."""
    from hub.audit.records import Filters
    from hub.audit.replay import from_archive, select
    from hub.audit.republish import republish
    from hub.db import connect
    from hub.stages.indicators.store import DIMENSIONS, DossierStore

    live_db = tmp_path / "live"
    live_db.mkdir()
    start = int(time.time() * 1000)
    with EmbeddedBroker() as broker, Runtime(_settings(broker, live_db)) as runtime:
        runtime.prepare()
        matched = _publish(runtime, seed=44)
        with Service(runtime, HubMetrics()) as service:
            exchange = service.exchange
            assert exchange is not None
            settle(service, lambda: exchange.ledger.count() >= matched)
        live = {dim: DossierStore(runtime.engine).tallies(dim) for dim in DIMENSIONS}
    end = int(time.time() * 1000) + 1
    archive = live_db / "archive"

    again = tmp_path / "rerun"
    again.mkdir()
    settings = _settings(broker, again).model_copy(update={"archive_dir": again / "archive"})
    with (
        EmbeddedBroker() as fresh,
        Runtime(settings.model_copy(update={"kafka_bootstrap": fresh.bootstrap})) as runtime,
    ):
        runtime.prepare()
        RegistryStore(runtime.engine).upsert(generate_population(load_province("74"), 400, seed=5))
        codec = AvroCodec(schema_texts(archive).get)
        republished = 0
        for topic in [*DEPARTMENT_TOPICS.values(), EXCHANGE_ACKS]:
            rows = select(from_archive(archive, topic.name, Span(from_ms=start, to_ms=end)), codec, Filters())
            republished += republish(runtime.clients, rows, topic.name, topic.partitions)
        assert republished >= PER_DEPARTMENT * len(Department) + matched
        with Service(runtime, HubMetrics(), ("reconcile", "indicators")) as service:
            reconciled = service.runners["indicators"]
            settle(service, lambda: reconciled.stats.consumed >= republished)
        rerun = {dim: DossierStore(runtime.engine).tallies(dim) for dim in DIMENSIONS}
        engine = connect(f"sqlite:///{live_db / 'hub.db'}")
        assert DossierStore(engine).count() == DossierStore(runtime.engine).count() > 0
        engine.dispose()
    assert rerun == live


def test_the_archiver_stops_last_with_everything_the_others_produced(tmp_path: Path) -> None:
    """Stopped mid-stream, the hub stops its stages first and its archiver last, once it has
    archived every record on the broker: an embedded broker keeps nothing, the archive all."""
    from hub.topics import ALL_TOPICS

    with EmbeddedBroker() as broker, Runtime(_settings(broker, tmp_path)) as runtime:
        runtime.prepare()
        _publish(runtime, seed=45, per_department=5000)  # more than is archived by the time it stops
        with Service(runtime, HubMetrics()) as service:
            deadline = time.monotonic() + 60
            while service.runners["reconcile"].stats.consumed == 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        on_broker = {
            (r.topic, r.partition, r.offset): r.value
            for topic in ALL_TOPICS
            for r in from_topic(runtime.clients, topic.name, Span())
        }
    assert _archived(tmp_path / "archive") == on_broker
