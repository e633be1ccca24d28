"""The population registry in SQL on SQLite and PostgreSQL: bulk loads, changes, change feed, CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

import hub.registry.bulk
from hub.bench.registry import bench_registry_load
from hub.db import connect
from hub.errors import InputError
from hub.province import load_province
from hub.registry import ChangeKind, RegistryChange, RegistryCitizen, RegistryStore
from hub.settings import get_settings
from producers.population import generate_population, read_registry_csv

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def people() -> list[RegistryCitizen]:
    return list(generate_population(load_province("74"), 2000, seed=5))


@pytest.fixture
def store(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> RegistryStore:
    monkeypatch.setattr(hub.registry.bulk, "_CHUNK", 300)  # several chunks, even for small files
    return RegistryStore(engine)


def _everyone(store: RegistryStore) -> dict[str, RegistryCitizen]:
    return {c.citizen_id: c for c in store.snapshot()}


def _with_legacy(people: list[RegistryCitizen]) -> list[RegistryCitizen]:
    return [c for c in people if c.legacy_id]


# --- bulk loads ---------------------------------------------------------------------------------


def test_load_replaces_the_whole_registry_and_writes_one_load_change(
    store: RegistryStore, people: list[RegistryCitizen]
) -> None:
    seen: list[int] = []
    assert store.load(people, progress=seen.append) == len(people)
    assert sum(seen) == len(people) and len(seen) > 1
    first = store.last_change_id()
    assert store.load(people[500:1500]) == 1000
    assert _everyone(store) == {c.citizen_id: c for c in people[500:1500]}
    assert store.last_change_id() == first + 1  # one LOAD change per load, not one per citizen
    stats = store.stats()
    assert stats.citizens == 1000 and stats.last_change is not None
    assert (stats.last_change.kind, stats.last_change.citizen_id) == ("LOAD", None)
    assert stats.last_change.detail == {"rows": 1000, "mode": "replace"}
    assert stats.last_change.changed_at.utcoffset() is not None


def test_load_merge_updates_and_inserts_and_keeps_the_rest(
    store: RegistryStore, people: list[RegistryCitizen]
) -> None:
    store.load(people[:1500])
    giver, taker = _with_legacy(people[:1500])[:2]
    moved = [giver._replace(legacy_id=None), taker._replace(legacy_id=giver.legacy_id)]  # a number moves
    renamed = people[0]._replace(full_name="Nguyễn Thị Mới", deceased_on=None)
    assert store.load([*moved, renamed, *people[1500:]], replace=False) == 2 + 1 + 500
    everyone = _everyone(store)
    assert len(everyone) == len(people)
    assert everyone[renamed.citizen_id] == renamed
    assert everyone[taker.citizen_id].legacy_id == giver.legacy_id
    assert everyone[giver.citizen_id].legacy_id is None
    assert everyone[people[700].citizen_id] == people[700]
    assert store.snapshot().by_legacy(str(giver.legacy_id)) == moved[1]
    last = store.stats().last_change
    assert last is not None and last.detail == {"rows": 503, "mode": "merge"}


@pytest.mark.parametrize("replace", [True, False])
def test_a_number_twice_in_the_file_is_named_and_changes_nothing(
    store: RegistryStore, people: list[RegistryCitizen], replace: bool
) -> None:
    store.load(people[:1000])
    before, last = _everyone(store), store.last_change_id()
    twice = people[1200]
    with pytest.raises(InputError, match=f"citizen_id {twice.citizen_id} appears more than once"):
        store.load([*people[1000:1700], twice._replace(full_name="Lê Văn Khác")], replace=replace)
    legacy = _with_legacy(people[1000:])[0]
    clash = people[1999]._replace(legacy_id=legacy.legacy_id)
    with pytest.raises(InputError, match=f"legacy_id {legacy.legacy_id} appears more than once"):
        store.load([*people[1000:1998], clash], replace=replace)
    assert _everyone(store) == before and store.last_change_id() == last


def test_merge_cannot_take_a_legacy_number_another_citizen_keeps(
    store: RegistryStore, people: list[RegistryCitizen]
) -> None:
    store.load(people)
    before = _everyone(store)
    holder, other = _with_legacy(people)[:2]
    with pytest.raises(InputError, match=f"legacy_id {holder.legacy_id} .* held by another citizen"):
        store.load([other._replace(legacy_id=holder.legacy_id)], replace=False)
    assert _everyone(store) == before


def test_a_bad_line_late_in_the_file_rolls_the_whole_load_back(
    store: RegistryStore, people: list[RegistryCitizen]
) -> None:
    store.load(people[:100])
    lines = ["citizen_id,legacy_id,full_name,date_of_birth,gender,district_code,commune_code,deceased_on"]
    lines += [
        f"{c.citizen_id},{c.legacy_id or ''},{c.full_name},{c.date_of_birth},{c.gender},"
        f"{c.district_code},{c.commune_code},{c.deceased_on or ''}"
        for c in people[100:1900]
    ]
    lines.append("074000000001,,Lê Văn Sai,1990-02-30,M,718,25708,")
    with pytest.raises(InputError, match="line 1802"):
        store.load(read_registry_csv(io.StringIO("\n".join(lines) + "\n")))
    assert _everyone(store) == {c.citizen_id: c for c in people[:100]}


def test_upsert_is_a_merge(store: RegistryStore, people: list[RegistryCitizen]) -> None:
    assert store.upsert(people[:10]) == 10
    assert store.upsert([people[0]._replace(full_name="Đỗ Văn Mười"), people[10]]) == 2
    assert store.stats().citizens == 11
    assert store.citizen(people[0].citizen_id) == people[0]._replace(full_name="Đỗ Văn Mười")


# --- changes ------------------------------------------------------------------------------------


def test_each_change_writes_the_row_and_one_change_row(
    store: RegistryStore, people: list[RegistryCitizen]
) -> None:
    store.load(people[:50])
    baby = RegistryCitizen("074226000001", None, "Trần Thị Bé", TODAY, "F", "724", "25760")
    born = store.apply(RegistryChange(ChangeKind.BIRTH, baby, "giấy khai sinh 12/2026"))
    alive = next(c for c in people[:50] if c.deceased_on is None)
    dead = alive._replace(deceased_on=TODAY)
    died = store.apply(RegistryChange(ChangeKind.DEATH, dead))
    fixed = dead._replace(full_name="Tên Đã Sửa", legacy_id=None, deceased_on=None)
    corrected = store.apply(RegistryChange(ChangeKind.CORRECTION, fixed))
    assert born < died < corrected == store.last_change_id()
    assert store.citizen(baby.citizen_id) == baby and store.citizen(alive.citizen_id) == fixed
    last = store.stats().last_change
    assert last is not None and (last.change_id, last.kind, last.citizen_id) == (
        corrected,
        "CORRECTION",
        alive.citizen_id,
    )
    assert last.detail["full_name"] == "Tên Đã Sửa" and last.detail["legacy_id"] is None


def test_refused_changes_leave_no_trace(store: RegistryStore, people: list[RegistryCitizen]) -> None:
    store.load(people[:50])
    last, before = store.last_change_id(), _everyone(store)
    known, unknown = people[0], people[1999]
    refused = [
        (RegistryChange(ChangeKind.BIRTH, known._replace(deceased_on=None)), "already in the registry"),
        (RegistryChange(ChangeKind.DEATH, unknown._replace(deceased_on=TODAY)), "no citizen"),
        (
            RegistryChange(ChangeKind.DEATH, known._replace(deceased_on=date(1900, 1, 1))),
            "already recorded dead|between the birth",
        ),
        (RegistryChange(ChangeKind.CORRECTION, unknown), "no citizen"),
    ]
    holder = _with_legacy(people[:50])[0]
    taker = people[1998]._replace(legacy_id=holder.legacy_id, deceased_on=None)
    refused.append((RegistryChange(ChangeKind.BIRTH, taker), f"legacy_id {holder.legacy_id} is held"))
    for change, message in refused:
        with pytest.raises(InputError, match=message):
            store.apply(change)
    assert store.last_change_id() == last and _everyone(store) == before


def test_changes_since_returns_current_rows_once_and_asks_for_a_reload_after_a_load(
    store: RegistryStore, people: list[RegistryCitizen]
) -> None:
    assert store.changes_since(0) == (0, [], False)
    store.load(people[:100])
    snapshot = store.snapshot()
    assert snapshot.change_id == store.last_change_id() == 1
    assert store.changes_since(0).reload  # the LOAD itself
    assert store.changes_since(snapshot.change_id) == (1, [], False)

    a, b = [c for c in people[:100] if c.deceased_on is None and not c.legacy_id][:2]
    renamed, dead, other = (
        a._replace(full_name="Tên Một"),
        a._replace(full_name="Tên Một", deceased_on=TODAY),
        b._replace(full_name="Tên Hai"),
    )
    first = store.apply(RegistryChange(ChangeKind.CORRECTION, renamed))
    store.apply(RegistryChange(ChangeKind.CORRECTION, other))
    third = store.apply(RegistryChange(ChangeKind.DEATH, dead))
    change_id, rows, reload = store.changes_since(snapshot.change_id)
    assert (change_id, reload) == (third, False)
    assert sorted(rows) == sorted([dead, other])  # each citizen once, as the registry holds them now
    assert store.changes_since(snapshot.change_id, limit=1) == (first, [dead], False)
    snapshot.update(rows)
    assert snapshot.by_id(a.citizen_id) == store.citizen(a.citizen_id)
    assert store.changes_since(third) == (third, [], False)

    store.load(people[100:200], replace=False)
    assert store.changes_since(third) == (third + 1, [], True)
    assert store.changes_since(first).reload


def test_stats_by_district(store: RegistryStore, people: list[RegistryCitizen]) -> None:
    store.load(people)
    stats = store.stats()
    assert stats.citizens == len(people) == sum(n for _, n in stats.by_district)
    assert stats.with_legacy_id == len(_with_legacy(people))
    assert stats.deceased == sum(1 for c in people if c.deceased_on)
    assert [code for code, _ in stats.by_district] == sorted({str(c.district_code) for c in people})


def test_bench_figures_on_a_small_registry(database_url: str) -> None:
    figures = bench_registry_load(database_url, 3000, seed=3)
    assert [f.met for f in figures if f.target] == [True, True]
    assert any("snapshot() of 3,000 citizens" in f.name for f in figures)


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _registry_csv(path: Path, people: list[RegistryCitizen]) -> Path:
    from producers.population import Population

    Population.from_citizens(load_province("74"), people).write_csv(path)
    return path


def test_cli_load_stats_and_changes(cli_env: str, tmp_path: Path, people: list[RegistryCitizen]) -> None:
    from hub.cli.registry import registry_app

    runner = CliRunner()
    file = _registry_csv(tmp_path / "registry.csv", people)
    result = runner.invoke(registry_app, ["load", str(file)])
    assert result.exit_code == 0, result.output
    assert f"loaded {len(people):,} citizens" in result.stdout and "rows/s" in result.stdout
    result = runner.invoke(registry_app, ["load", str(file), "--merge"])
    assert result.exit_code == 0 and "(merged)" in result.stdout

    birth = ["birth", "--id", "074226000123", "--name", " Lê  Thị Hoa ", "--dob", str(TODAY)]
    result = runner.invoke(registry_app, [*birth, "--gender", "f", "--district", "718", "--commune", "25708"])
    assert result.exit_code == 0, result.output
    assert "BIRTH of citizen 074226000123" in result.stdout
    assert runner.invoke(registry_app, ["death", "074226000123", "--on", str(TODAY)]).exit_code == 0
    correct = ["correct", "074226000123", "--name", "Lê Thị Hòa", "--deceased-on", ""]
    result = runner.invoke(registry_app, correct)
    assert result.exit_code == 0, result.output
    store = RegistryStore(connect(cli_env))
    assert store.citizen("074226000123") == RegistryCitizen(
        "074226000123", None, "Lê Thị Hòa", TODAY, "F", "718", "25708"
    )
    store.engine.dispose()

    result = runner.invoke(registry_app, ["stats"])
    assert result.exit_code == 0
    assert f"{len(people) + 1:,}" in result.stdout and "CORRECTION of 074226000123" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["death", "074999999999", "--on", "2026-01-01"], "no citizen 074999999999 in the registry"),
        (["death", "074999999999", "--on", "yesterday"], "--on must be a date like"),
        (["correct", "074999999999"], "nothing to correct"),
        (["load", "missing.csv"], "cannot read registry file missing.csv"),
    ],
)
def test_cli_refusals_are_hub_errors(cli_env: str, args: list[str], message: str) -> None:
    from hub.cli.registry import registry_app

    result = CliRunner().invoke(registry_app, args)
    assert result.exit_code == 1 and isinstance(result.exception, InputError)
    assert message in str(result.exception)


_HUB_WITH_REGISTRY = (
    "from hub.cli.app import app, main\n"
    "from hub.cli.registry import registry_app\n"
    "if not any(g.name == 'registry' for g in app.registered_groups):\n"
    "    app.add_typer(registry_app, name='registry')\n"
    "main()\n"
)


def test_cli_errors_are_one_line_with_exit_code_1(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,name\n1,An\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"})
    for args, message in [
        (["load", str(wrong)], "registry file header must be"),
        (["birth", "--id", "074226000001", "--name", "An", "--dob", "2026-02-30", "--gender", "M"], "--dob"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", _HUB_WITH_REGISTRY, "registry", *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
        assert result.returncode == 1, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("hub: error:")]
        assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.stderr
