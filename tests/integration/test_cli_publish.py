"""``hub publish`` as agencies run it: a real broker, real files, real exit codes and reject files."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.kafka.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

HUB = [sys.executable, "-m", "hub.cli"]
HEADER = [
    "record_id", "occurred_at", "Số CCCD", "HoVaTen", "NgayThangNamSinh", "GioiTinh", "MaHoSo", "MaTTHC",
    "KenhThucHien", "PhiLePhi", "transaction_type", "map_sheet_number", "parcel_number", "area_m2", "ghi_chu",
]  # fmt: skip


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    """A broker of this module's own: the pipeline tests read every department topic from the start
    with fixed consumer groups, so records published here must not reach the session broker."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def env(broker: EmbeddedBroker, tmp_path: Path) -> dict[str, str]:
    return {"HUB_KAFKA_BOOTSTRAP": broker.bootstrap, "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}


def _run(args: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    clean.update({"HUB_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "160", **env})
    return subprocess.run([*HUB, *args], capture_output=True, text=True, timeout=120, env=clean, cwd=tmp_path)


def _published(env: dict[str, str], topic: str, prefix: str) -> dict[str, dict[str, Any]]:
    """Decoded values on ``topic`` whose record id starts with ``prefix``, by record id."""
    from hub.audit.replay import replay_json as replay
    from hub.avro.wire import AvroCodec
    from hub.db import connect
    from hub.kafka.clients import KafkaClients
    from hub.schema_store import SchemaStore
    from hub.topics import topic_by_name

    clients = KafkaClients({"bootstrap.servers": env["HUB_KAFKA_BOOTSTRAP"]})
    if topic not in clients.existing_topics():
        return {}
    engine = connect(env["HUB_DATABASE_URL"])
    try:
        codec = AvroCodec(SchemaStore(engine).schema_text)
        found = {}
        for message in replay(clients, topic_by_name(topic), codec):
            record_id = message["headers"].get("hub.record_id", "")
            if record_id.startswith(prefix):
                assert record_id not in found, f"{record_id} published twice"
                found[record_id] = message["value"]
        return found
    finally:
        engine.dispose()


def _end_offsets(bootstrap: str, topic: str) -> int:
    """The sum of ``topic``'s end offsets: it moves whenever anything is published."""
    from confluent_kafka import TopicPartition

    from hub.kafka.clients import KafkaClients

    clients = KafkaClients({"bootstrap.servers": bootstrap})
    partitions = clients.existing_topics().get(topic, 0)
    consumer = clients.consumer("test.watermarks")
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, n), timeout=10)[1] for n in range(partitions)
        )
    finally:
        consumer.close()


def _row(record_id: str, **cells: str) -> list[str]:
    row = {
        "record_id": record_id,
        "occurred_at": "2026-11-02 09:30",
        "Số CCCD": "074201000001",
        "HoVaTen": "Nguyễn Văn An",
        "NgayThangNamSinh": "17/05/1990",
        "GioiTinh": "Nam",
        "MaHoSo": f"HS-{record_id}",
        "MaTTHC": "1.0001",
        "KenhThucHien": "2",
        "PhiLePhi": "50000",
        "transaction_type": "transfer",
        "map_sheet_number": "12",
        "parcel_number": "345",
        "area_m2": "1234.5",
        "ghi_chu": "",
        **cells,
    }
    return [row[column] for column in HEADER]


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def test_csv_good_rows_are_published_and_bad_rows_rejected_with_their_lines(
    env: dict[str, str], tmp_path: Path
) -> None:
    p = f"C{uuid.uuid4().hex[:8]}-"
    rows = [
        _row(p + "good-1"),  # line 2
        _row(p + "good-2", ghi_chu="hai\ndòng", NgayThangNamSinh="1985-01-31"),  # lines 3-4
        _row(p + "bad-date", NgayThangNamSinh="31/02/1990"),  # line 5
        _row(p + "bad-number", area_m2="1.234,5"),  # line 6
        _row(p + "no-number")[:-3],  # line 7: the export lost the last cells
        ["#### Xuất dữ liệu lỗi ####"],  # line 8
        _row(p + "good-3", **{"Số CCCD": ""}, GioiTinh="FEMALE"),  # line 9: the reconciler says MISSING_ID
        _row(p + "bad-gender", GioiTinh="X"),  # line 10
    ]
    path = _write_csv(tmp_path / "dat-dai.csv", rows)

    result = _run(
        ["publish", "--department", "land", str(path), "--map", "Số CCCD=SoDinhDanh"], tmp_path, env
    )

    assert result.returncode == 0, result.stderr
    assert "5 rows rejected" in result.stdout and f"{path}.rejects.csv" in result.stdout
    assert "ignored columns that are not fields of vn.lgsp.LandRecord: ghi_chu" in result.stdout
    assert re.search(r"delivered\s*│\s*3 ", result.stdout), result.stdout
    with open(f"{path}.rejects.csv", encoding="utf-8", newline="") as f:
        rejects = list(csv.DictReader(f))
    assert [(r["line"], r["reason"]) for r in rejects] == [
        ("5", "citizen.NgayThangNamSinh: '31/02/1990' is not a date (YYYY-MM-DD or dd/mm/yyyy)"),
        ("6", "area_m2: '1.234,5' is not a number (write 1234.5: '.' for decimals, no thousands separator)"),
        ("7", "12 cells, but the header has 15 columns"),
        ("8", "1 cells, but the header has 15 columns"),
        ("10", "citizen.GioiTinh: 'X' is not one of MALE, FEMALE, UNKNOWN"),
    ]
    assert rejects[3]["row"] == rows[5][0]
    assert rejects[0]["row"].startswith(f"{p}bad-date,2026-11-02 09:30,074201000001,")

    published = _published(env, "lgsp.land.records", p)
    assert sorted(published) == [p + "good-1", p + "good-2", p + "good-3"]
    first = published[p + "good-1"]
    assert first["agency"] == "STNMT" and first["occurred_at"] == "2026-11-02T02:30:00+00:00"
    assert first["citizen"]["SoDinhDanh"] == "074201000001" and first["citizen"]["GioiTinh"] == "MALE"
    assert first["citizen"]["NgayThangNamSinh"] == "1990-05-17"
    assert (first["transaction_type"], first["area_m2"], first["dossier"]["PhiLePhi"]) == (
        "TRANSFER",
        1234.5,
        50000,
    )
    assert published[p + "good-2"]["citizen"]["NgayThangNamSinh"] == "1985-01-31"
    assert published[p + "good-3"]["citizen"]["SoDinhDanh"] is None


def test_json_lines_nested_and_flat_are_published_broken_lines_rejected(
    env: dict[str, str], tmp_path: Path
) -> None:
    p = f"J{uuid.uuid4().hex[:8]}-"
    nested = {
        "record_id": p + "nested",
        "occurred_at": "2026-11-03T08:00:00+07:00",
        "citizen": {"SoDinhDanh": "074201000002", "HoVaTen": "Trần Thị Bình", "GioiTinh": "Nữ"},
        "dossier": {"MaHoSo": "HS-1", "MaTTHC": "1.2", "KenhThucHien": 1, "HoSoCoThanhPhanSoHoa": True},
        "entry_type": "VACCINATION",
        "facility_code": "74001",
        "health_book_id": "SSK0000000001",
    }
    flat = {
        "record_id": p + "flat",
        "occurred_at": "03/11/2026 10:15",
        "HoVaTen": "Lê Văn Cường",
        "GioiTinh": "male",
        "MaHoSo": "HS-2",
        "MaTTHC": "1.2",
        "KenhThucHien": "2",
        "entry_type": "checkup",
        "facility_code": "74002",
        "health_book_id": "SSK0000000002",
    }
    lines = [
        json.dumps(nested, ensure_ascii=False),
        json.dumps(flat, ensure_ascii=False),
        '{"record_id": "' + p + 'broken", "HoVaTen": "Ph',
        json.dumps({**flat, "record_id": p + "bad-type", "entry_type": "SURGERY"}),
    ]
    path = tmp_path / "y-te.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = _run(["publish", "-d", "health", str(path)], tmp_path, env)

    assert result.returncode == 0, result.stderr
    assert "2 rows rejected" in result.stdout
    with open(f"{path}.rejects.csv", encoding="utf-8", newline="") as f:
        rejects = [(r["line"], r["reason"].split(":")[0], r["row"]) for r in csv.DictReader(f)]
    assert rejects == [("3", "not valid JSON", lines[2]), ("4", "entry_type", lines[3])]
    published = _published(env, "lgsp.health.records", p)
    assert sorted(published) == [p + "flat", p + "nested"]
    assert published[p + "nested"]["citizen"]["GioiTinh"] == "FEMALE"
    assert published[p + "flat"]["occurred_at"] == "2026-11-03T03:15:00+00:00"
    assert published[p + "flat"]["agency"] == "SYT"


def test_dry_run_checks_every_row_without_a_broker(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "land.csv", [_row("D-1"), _row("D-2", area_m2="x")])
    result = _run(
        ["publish", "-d", "land", str(path), "--map", "Số CCCD=SoDinhDanh", "--dry-run"], tmp_path, {}
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"valid \(not published\)\s*│\s*1 ", result.stdout), result.stdout
    assert "1 rows rejected" in result.stdout


def _cp1258_in_the_middle(path: Path) -> list[str]:
    """A file whose first rows are good utf-8 and whose third row was saved as cp1258."""
    _write_csv(path, [_row("E-1"), _row("E-2")])
    with open(path, "ab") as f:
        f.write(",".join(_row("E-3", HoVaTen="Lê Văn Hoa")).encode("cp1258") + b"\n")
    return ["publish", "-d", "land", str(path), "--map", "Số CCCD=SoDinhDanh"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown department", "unknown department 'dat_dai'; departments are: civil_status, land, health"),
        ("missing file", "cannot read "),
        ("wrong encoding", "line 4 is not utf-8 (byte 0xea); try --encoding cp1258"),
        (
            "missing columns",
            "missing required columns HoVaTen, area_m2 (columns found: record_id, occurred_at,",
        ),
        ("no bootstrap", "hub publish needs a running hub: set HUB_KAFKA_BOOTSTRAP"),
        ("bad map", "--map 'Số CCCD=SoCCCD': 'SoCCCD' is not a field of vn.lgsp.LandRecord"),
    ],
)
def test_mistakes_are_one_line_errors_and_nothing_is_published(
    broker: EmbeddedBroker, env: dict[str, str], tmp_path: Path, case: str, message: str
) -> None:
    p = f"E{uuid.uuid4().hex[:8]}-"
    good = _write_csv(tmp_path / "land.csv", [_row(p + "1"), _row(p + "2")])
    args = ["publish", "-d", "land", str(good), "--map", "Số CCCD=SoDinhDanh"]
    if case == "unknown department":
        args[2] = "dat_dai"
    elif case == "missing file":
        args[3] = str(tmp_path / "nope.csv")
    elif case == "wrong encoding":
        args = _cp1258_in_the_middle(tmp_path / "land.csv")
    elif case == "missing columns":
        rows = [
            [c for c, name in zip(_row(p + "1"), HEADER, strict=True) if name not in ("HoVaTen", "area_m2")]
        ]
        with open(good, "w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows([[h for h in HEADER if h not in ("HoVaTen", "area_m2")], *rows])
    elif case == "no bootstrap":
        env = {k: v for k, v in env.items() if k != "HUB_KAFKA_BOOTSTRAP"}
    elif case == "bad map":
        args[-1] = "Số CCCD=SoCCCD"

    before = _end_offsets(broker.bootstrap, "lgsp.land.records")
    result = _run(args, tmp_path, env)

    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.rejects.csv"))
    assert _end_offsets(broker.bootstrap, "lgsp.land.records") == before


def test_ctrl_c_stops_reading_flushes_what_was_sent_and_exits_130(
    env: dict[str, str], tmp_path: Path
) -> None:
    p = f"K{uuid.uuid4().hex[:8]}-"
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(HEADER) + "\n")
        line = ",".join(_row("{n}"))
        f.writelines(line.replace("{n}", f"{p}{n:07d}", 1) + "\n" for n in range(400_000))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    clean.update({"HUB_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "160", **env})
    args = [*HUB, "publish", "-d", "land", str(path), "--map", "Số CCCD=SoDinhDanh"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean)
    assert process.stderr is not None
    first = process.stderr.readline()  # "publishing ..." once the broker is reached and reading starts
    assert first.startswith("publishing "), first
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=90)

    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert "interrupted at line" in stdout
    delivered = int(re.search(r"delivered\s*│\s*([\d,]+)", stdout).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert 0 < delivered < 400_000
    assert len(_published(env, "lgsp.land.records", p)) == delivered
