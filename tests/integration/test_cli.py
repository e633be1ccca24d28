"""The ``hub`` command as users run it: real processes, real exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hub.topics import ALL_TOPICS

pytestmark = pytest.mark.integration

HUB = [sys.executable, "-m", "hub.cli"]


def _run(
    args: list[str], tmp_path: Path, timeout: float = 150, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    # the faust tables on a free port: two runs at once (or a port left busy) must not collide
    clean.update(
        {"HUB_DATA_DIR": str(tmp_path / "data"), "HUB_INDICATOR_TABLES_PORT": "0", "COLUMNS": "160", **env}
    )
    return subprocess.run(
        [*HUB, *args], capture_output=True, text=True, timeout=timeout, env=clean, cwd=tmp_path
    )


MARK = "LGSP_TEST_RUN"  # set, to a fresh value, in the environment of the process a test starts


def _new_mark() -> dict[str, str]:
    """Environment for a process whose descendants :func:`_marked_processes` should find."""
    return {MARK: uuid.uuid4().hex}


def _marked_processes(mark: dict[str, str], program: bytes = b"tansu") -> set[int]:
    """Running ``program`` processes started, directly or not, by the process given ``mark``.

    Descendants inherit the environment, and keep it when their parent dies and they are
    re-parented: a broker the demo left behind is still found after the demo exits (a walk
    of parent ids would lose it). Processes other tests or users run have no such mark.
    """
    (wanted,) = (f"{k}={v}".encode() for k, v in mark.items())
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if program not in (entry / "cmdline").read_bytes().split(b"\0")[0]:
                    continue
                if wanted in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
    return found


def test_marked_processes_are_descendants_even_orphaned_and_only_them(tmp_path: Path) -> None:
    import time

    mark = _new_mark()
    env = {**os.environ, **mark}
    # A grandchild `sleep` under a shell that waits for it, and one the shell leaves orphaned.
    parent = subprocess.Popen(["sh", "-c", "sleep 60 & wait"], env=env)
    subprocess.run(["sh", "-c", "sleep 61 >/dev/null 2>&1 &"], env=env, check=True)
    unrelated = subprocess.Popen(["sleep", "62"])  # not started with the mark
    try:
        deadline = time.monotonic() + 10
        while len(found := _marked_processes(mark, b"sleep")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(found) == 2 and unrelated.pid not in found
        assert not _marked_processes(_new_mark(), b"sleep")
    finally:
        for pid in _marked_processes(mark, b"sleep"):
            os.kill(pid, signal.SIGTERM)
        for process in (parent, unrelated):
            process.terminate()
            process.wait(timeout=10)


def test_demo_runs_end_to_end_and_leaves_nothing_behind(tmp_path: Path) -> None:
    mark = _new_mark()
    result = _run(["demo", "--records", "200", "--citizens", "1500"], tmp_path, **mark)
    assert result.returncode == 0, result.stderr
    for department in ("civil_status", "land", "health", "social_insurance"):
        row = next(line for line in result.stdout.splitlines() if f" {department} " in line)
        published, reconciled = (int(cell) for cell in row.split("│")[2:4])
        assert published == 200 and 150 < reconciled < 200, row
    assert "reuse rate" in result.stdout
    assert "forwarded to the national exchange" in result.stdout
    assert "rejected, by reason" in result.stdout
    about = " ".join(result.stdout.split())  # the explanation wraps with the terminal
    assert "already-digitized data ÷ dossiers received" in about and "≥ 80%" in about
    assert "6.98–7.32 %" in about  # why the simulated rate is far from the target
    counts = re.search(
        r"forwarded to the national exchange: (\d+) = acknowledged \(accepted (\d+), duplicate (\d+), "
        r"rejected (\d+)\); dead-lettered (\d+); the exchange's ledger holds (\d+)",
        about,
    )
    assert counts, about
    forwarded, accepted, duplicate, rejected, dead, ledger = map(int, counts.groups())
    assert forwarded == accepted + duplicate + rejected > 0 and dead == rejected  # they add up
    assert ledger == accepted  # a fresh database: each accepted record once
    live = re.search(
        r"live from the indicators' faust tables: province reuse rate [\d.]+% \((\d+)/(\d+)\), the same as",
        about,
    )
    assert live, about  # faust's table, fed by the stage's counts events, agrees with the SQL store
    assert int(live[2]) > 0
    header = {line.split()[0]: line.split()[1:] for line in result.stderr.splitlines() if line.strip()}
    assert header["metrics"][0].startswith("http://127.0.0.1:") and header["metrics"][0].endswith("/metrics")
    assert header["database"] == [f"sqlite:///{tmp_path / 'data' / 'hub.db'}"]
    assert not _marked_processes(mark)  # the embedded broker was stopped


def test_help_on_every_command(tmp_path: Path) -> None:
    commands = [
        "demo",
        "replay",
        "topics",
        "broker",
        "run",
        "exchange",
        "publish",
        "simulate",
        "bench",
        "schema-registry",
        "registry",
    ]
    for command in ([], *([c] for c in commands)):
        result = _run([*command, "--help"], tmp_path)
        assert result.returncode == 0 and "Usage" in result.stdout, command


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["demo"],
            {"HUB_DATABASE_URL": "postgresql+psycopg://x@127.0.0.1:1/x?connect_timeout=2"},
            "cannot reach database",
        ),
        (["demo"], {"HUB_DATABASE_URL": "nonsense"}, "not a database URL"),
        (["demo"], {"HUB_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, "cannot reach Kafka at 127.0.0.1:1"),
        (["demo"], {"HUB_METRICS_PORT": "70000"}, "HUB_METRICS_PORT"),
        (["replay", "lgsp.reconciled"], {}, "reading a live topic needs a running broker"),
        (["run", "--stage", "dance"], {}, "unknown stage dance"),
    ],
)
def test_user_mistakes_are_one_line_errors(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = _run(args, tmp_path, timeout=60, **env)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_says_what_is_wrong_with_its_input_and_exits_2(tmp_path: Path) -> None:
    result = _run(["replay", "lgsp.nope"], tmp_path, timeout=60)
    assert result.returncode == 2 and "unknown topic 'lgsp.nope'" in result.stderr
    result = _run(["replay", "lgsp.reconciled", "--archive-dir", str(tmp_path)], tmp_path, timeout=60)
    assert result.returncode == 2 and "not an archive" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_reported(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(["demo"], tmp_path, timeout=60, HUB_EMBEDDED_BROKER_PORT=str(port))
    assert result.returncode == 1
    assert f"port 127.0.0.1:{port} is in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_replay_prints_decoded_json_lines(broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from hub.runtime import Runtime
    from hub.settings import Settings
    from hub.topics import Department
    from producers.publisher import DepartmentPublisher

    db = f"sqlite:///{tmp_path / 'hub.db'}"
    settings = Settings(kafka_bootstrap=broker.bootstrap, database_url=db)
    with Runtime(settings) as runtime:
        runtime.prepare()
        registered = runtime.schema_ids["vn.lgsp.LandRecord"]
        publisher = DepartmentPublisher(
            Department.LAND, runtime.clients.producer(), runtime.codec, registered.schema_id
        )
        from hub.province import load_province
        from producers.population import generate_population
        from producers.simulate import generate_records

        population = generate_population(load_province("74"), 50, seed=1)
        for simulated in generate_records(population, Department.LAND, 5, seed=77):
            simulated.send(publisher)
        publisher.flush()
    result = _run(
        ["replay", "lgsp.land.records", "--limit", "3"],
        tmp_path,
        HUB_KAFKA_BOOTSTRAP=broker.bootstrap,
        HUB_DATABASE_URL=db,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3
    assert "replay: 3 records of lgsp.land.records printed" in result.stderr
    assert all(line["topic"] == "lgsp.land.records" and "citizen" in line["value"] for line in lines)


def test_ctrl_c_stops_the_demo_and_everything_it_started(tmp_path: Path) -> None:
    import time

    mark = _new_mark()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATA_DIR"] = str(tmp_path / "data")
    env.update(mark)
    demo = subprocess.Popen(
        [*HUB, "demo", "--records", "200000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 60
    while not _marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _marked_processes(mark), "the demo's embedded broker never showed up"
    time.sleep(3)  # let it get into publishing
    demo.send_signal(signal.SIGINT)
    _, stderr = demo.communicate(timeout=60)
    assert demo.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not _marked_processes(mark)


def test_topics_piped_prints_every_name_whole(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    result = subprocess.run(
        [*HUB, "topics"], capture_output=True, text=True, timeout=60, env={**clean, "COLUMNS": "40"}
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows[0][:2] == ["topic", "partitions"]
    assert [row[0] for row in rows[1:]] == [topic.name for topic in ALL_TOPICS]


def test_taken_metrics_and_page_ports_are_said_and_the_hub_runs_on(tmp_path: Path) -> None:
    import signal
    import time

    with socket.socket() as metrics_port, socket.socket() as page_port:
        for taken in (metrics_port, page_port):
            taken.bind(("127.0.0.1", 0))
            taken.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env |= {
            "HUB_DATA_DIR": str(tmp_path / "data"),
            "HUB_METRICS_PORT": str(metrics_port.getsockname()[1]),
            "HUB_OPS_PORT": str(page_port.getsockname()[1]),
        }
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            worker = subprocess.Popen([*HUB, "run", "--stage", "archive"], env=env, stderr=out, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 90
            while "running archive" not in log.read_text():
                assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            text = log.read_text()
            assert "HUB_METRICS_PORT" in text and "HUB_OPS_PORT" in text and "Traceback" not in text
            time.sleep(1)
            assert worker.poll() is None  # still running, doing its work
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
    assert worker.returncode == 0, log.read_text()[-2000:]
