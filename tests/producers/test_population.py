"""Unit tests for producers.population: a deterministic, internally consistent registry in columns."""

from __future__ import annotations

import gzip
import io
import unicodedata
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from hub.citizen_id import id_consistent
from hub.errors import InputError
from hub.province import known_province_codes, load_province
from hub.registry import RegistryCitizen
from producers.population import (
    REGISTRY_COLUMNS,
    Population,
    citizen_number,
    generate_population,
    names,
    open_registry,
    read_registry_csv,
)

PROVINCE = load_province("74")
TODAY = date(2026, 11, 1)
HEADER = ",".join(REGISTRY_COLUMNS)
AN = RegistryCitizen("074085001234", "280123456", "Nguyễn Văn An", date(1985, 3, 14), "M", "718", "25708")
HOA = RegistryCitizen(
    "079150000007", None, "Lê Thị Hoa", date(1950, 1, 20), "F", "720", "25730", date(2024, 5, 10)
)


@pytest.fixture(scope="module")
def population() -> Population:
    return generate_population(PROVINCE, 20_000, seed=11)


@pytest.fixture(scope="module")
def rows(population: Population) -> list[RegistryCitizen]:
    return list(population)


def csv_text(*lines: str) -> io.StringIO:
    return io.StringIO("".join(line + "\n" for line in lines))


# --- generation ------------------------------------------------------------------------------


def test_same_seed_same_population() -> None:
    assert list(generate_population(PROVINCE, 500, seed=3)) == list(
        generate_population(PROVINCE, 500, seed=3)
    )


def test_different_seed_different_population() -> None:
    first = list(generate_population(PROVINCE, 200, seed=3))
    assert first != list(generate_population(PROVINCE, 200, seed=4))


@pytest.mark.parametrize("size", [0, -5])
def test_a_population_needs_a_citizen(size: int) -> None:
    with pytest.raises(InputError, match="at least one citizen"):
        generate_population(PROVINCE, size, seed=1)


def test_a_single_citizen() -> None:
    [only] = list(generate_population(PROVINCE, 1, seed=1))
    assert len(only.citizen_id) == 12


def test_size_indexing_and_iteration(population: Population, rows: list[RegistryCitizen]) -> None:
    assert len(population) == len(rows) == 20_000
    assert all(isinstance(c, RegistryCitizen) for c in rows[:10])
    assert [population[i] for i in (0, 1, 19_999)] == [rows[0], rows[1], rows[19_999]]
    assert population[-1] == rows[-1]
    assert population.citizen(7) == rows[7]
    assert population.full_name(7) == rows[7].full_name


def test_citizens_keeps_the_order_of_indices(population: Population, rows: list[RegistryCitizen]) -> None:
    picks = [5, 2, 5, 19_000]
    assert list(population.citizens(picks)) == [rows[i] for i in picks]
    assert list(population.citizens(np.array(picks))) == [rows[i] for i in picks]
    assert list(population.citizens([])) == []


def test_iteration_crosses_chunk_boundaries() -> None:
    """Rows are made 65,536 at a time; the ones after the first chunk must be right too."""
    big = generate_population(PROVINCE, 70_000, seed=2)
    rows = list(big)
    assert len(rows) == 70_000
    assert rows[65_535] == big[65_535]
    assert rows[65_536] == big[65_536]
    assert rows[-1] == big[69_999]


def test_columns(population: Population, rows: list[RegistryCitizen]) -> None:
    idx = np.array([3, 0, 12_345], dtype=np.int64)
    numbers, full_names, births, deaths = population.columns(idx)
    expected = [rows[i] for i in idx.tolist()]
    assert numbers == [c.citizen_id for c in expected]
    assert full_names == [c.full_name for c in expected]
    assert births == [c.date_of_birth for c in expected]
    assert deaths == [c.deceased_on for c in expected]


def test_alive(population: Population, rows: list[RegistryCitizen]) -> None:
    assert population.alive().tolist() == [c.deceased_on is None for c in rows]


def test_citizen_ids_are_unique(rows: list[RegistryCitizen]) -> None:
    ids = [c.citizen_id for c in rows]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 12 and i.isdigit() for i in ids)


def test_numbers_stay_unique_at_scale() -> None:
    big = generate_population(PROVINCE, 200_000, seed=5)
    assert np.unique(big.ids).size == 200_000
    legacy = big.legacy[big.legacy >= 0]
    assert legacy.size > 40_000
    assert np.unique(legacy).size == legacy.size
    assert set((legacy // 1_000_000).tolist()) == {int(p) for p in PROVINCE.legacy_id_prefixes}


def test_legacy_ids_are_unique_and_local(rows: list[RegistryCitizen]) -> None:
    legacy = [c.legacy_id for c in rows if c.legacy_id]
    assert len(set(legacy)) == len(legacy)
    assert all(len(i) == 9 and i.isdigit() for i in legacy)
    assert {i[:3] for i in legacy} == set(PROVINCE.legacy_id_prefixes)


def test_about_a_third_of_pre_2000_births_keep_a_legacy_id(rows: list[RegistryCitizen]) -> None:
    older = [c for c in rows if c.date_of_birth.year < 2000]
    share = sum(c.legacy_id is not None for c in older) / len(older)
    assert 0.32 < share < 0.38
    assert all(c.date_of_birth.year < 2000 for c in rows if c.legacy_id)


def test_ids_are_consistent_with_birth_year_and_gender(rows: list[RegistryCitizen]) -> None:
    provinces = known_province_codes()
    problems = [
        (c.citizen_id, problem)
        for c in rows
        if (problem := id_consistent(c.citizen_id, c.date_of_birth, c.gender, provinces))
    ]
    assert problems == []


@pytest.mark.parametrize("index", range(0, 20_000, 2_500))
def test_number_layout(rows: list[RegistryCitizen], index: int) -> None:
    c = rows[index]
    century = {1900: 0, 2000: 2}[c.date_of_birth.year // 100 * 100]
    assert c.citizen_id[3] == str(century + (c.gender == "F"))
    assert c.citizen_id[4:6] == f"{c.date_of_birth.year % 100:02d}"
    assert c.citizen_id[:3] in known_province_codes()


def test_most_citizens_were_registered_in_the_province(rows: list[RegistryCitizen]) -> None:
    local = sum(c.citizen_id.startswith(PROVINCE.id_prefix) for c in rows) / len(rows)
    assert 0.83 < local < 0.87
    assert {c.citizen_id[:3] for c in rows} <= known_province_codes()


def test_residence_is_in_the_province(rows: list[RegistryCitizen]) -> None:
    communes = {(d.code, c) for d in PROVINCE.districts for c in d.communes}
    assert all((c.district_code, c.commune_code) in communes for c in rows)
    assert {c.district_code for c in rows} == {d.code for d in PROVINCE.districts}


def test_births_and_genders_are_plausible(rows: list[RegistryCitizen]) -> None:
    assert all(date(1935, 1, 1) <= c.date_of_birth <= TODAY for c in rows)
    female = sum(c.gender == "F" for c in rows) / len(rows)
    assert {c.gender for c in rows} == {"M", "F"}
    assert 0.47 < female < 0.53


def test_about_seven_in_a_thousand_are_deceased(rows: list[RegistryCitizen]) -> None:
    deceased = [c for c in rows if c.deceased_on is not None]
    assert 0.004 < len(deceased) / len(rows) < 0.010
    assert all(c.date_of_birth <= c.deceased_on < TODAY for c in deceased if c.deceased_on)


def test_a_later_today_moves_the_dates() -> None:
    later = date(2030, 1, 1)
    rows = list(generate_population(PROVINCE, 3000, seed=1, today=later))
    assert max(c.date_of_birth for c in rows) > TODAY
    assert all(c.deceased_on < later for c in rows if c.deceased_on)


def test_names_are_nfc_vietnamese_names(rows: list[RegistryCitizen]) -> None:
    surnames = {s for s, _ in names()["surnames"]}
    for c in rows[:3000]:
        assert unicodedata.is_normalized("NFC", c.full_name)
        parts = c.full_name.split(" ")
        assert len(parts) >= 3
        assert all(parts), c.full_name  # no double, leading or trailing spaces
        assert parts[0] in surnames
    with_diacritics = sum(not c.full_name.isascii() for c in rows) / len(rows)
    assert with_diacritics > 0.9


def test_given_names_follow_gender(rows: list[RegistryCitizen]) -> None:
    parts = names()
    for c in rows[:2000]:
        given = parts["given_female"] if c.gender == "F" else parts["given_male"]
        assert c.full_name.split(" ")[-1] in given


@pytest.mark.parametrize(
    ("birth", "gender", "expected"),
    [
        (date(1985, 3, 14), "M", "074085001234"),
        (date(1985, 3, 14), "F", "074185001234"),
        (date(2001, 7, 2), "M", "074201001234"),
        (date(2001, 7, 2), "F", "074301001234"),
        (date(2100, 1, 1), "F", "074500001234"),
    ],
)
def test_citizen_number(birth: date, gender: str, expected: str) -> None:
    assert citizen_number("074", birth, gender, 1234) == expected


def test_citizen_number_keeps_six_serial_digits() -> None:
    assert citizen_number("079", date(1950, 1, 1), "M", 1_234_567) == "079050234567"


# --- from_citizens ---------------------------------------------------------------------------


def test_from_citizens_round_trip(rows: list[RegistryCitizen]) -> None:
    sample = [*rows[:300], *(c for c in rows if c.deceased_on)][:400]
    again = Population.from_citizens(PROVINCE, sample)
    assert len(again) == len(sample)
    assert list(again) == sample
    assert again[3] == sample[3]
    assert again.alive().tolist() == [c.deceased_on is None for c in sample]


def test_from_citizens_of_hand_made_rows() -> None:
    population = Population.from_citizens(PROVINCE, [AN, HOA])
    assert list(population) == [AN, HOA]
    assert population.alive().tolist() == [True, False]
    assert population.columns(np.array([1]))[3] == [date(2024, 5, 10)]


def test_from_citizens_of_nothing() -> None:
    assert len(Population.from_citizens(PROVINCE, [])) == 0


def test_from_citizens_keeps_a_citizen_without_residence() -> None:
    homeless = AN._replace(district_code=None, commune_code=None)
    assert list(Population.from_citizens(PROVINCE, [homeless])) == [homeless]


# --- CSV -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> Population:
    population = generate_population(PROVINCE, 3000, seed=8)
    rows = list(population)
    assert any(c.deceased_on for c in rows) and any(c.legacy_id for c in rows)
    return population


def test_csv_round_trip_through_a_stream(small: Population) -> None:
    buffer = io.StringIO()
    assert small.write_csv(buffer) == len(small)
    text = buffer.getvalue()
    assert text.splitlines()[0] == HEADER
    assert len(text.splitlines()) == len(small) + 1
    assert list(read_registry_csv(io.StringIO(text))) == list(small)


@pytest.mark.parametrize("name", ["registry.csv", "registry.csv.gz"])
def test_csv_round_trip_through_a_file(small: Population, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    reported: list[int] = []
    assert small.write_csv(path, reported.append) == len(small)
    assert sum(reported) == len(small)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") is name.endswith(".gz")
    with open_registry(path) as stream:
        assert list(read_registry_csv(stream)) == list(small)


def test_hand_made_rows_round_trip_through_csv() -> None:
    buffer = io.StringIO()
    Population.from_citizens(PROVINCE, [AN, HOA]).write_csv(buffer)
    assert list(read_registry_csv(io.StringIO(buffer.getvalue()))) == [AN, HOA]


def test_a_gzipped_registry_written_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "other.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.write(f"{HEADER}\n074085001234,280123456,Nguyễn Văn An,1985-03-14,M,718,25708,\n")
    with open_registry(path) as stream:
        assert list(read_registry_csv(stream)) == [AN]


def test_empty_optional_columns_read_as_none() -> None:
    rows = list(read_registry_csv(csv_text(HEADER, "074085001234,,Nguyễn Văn An,1985-03-14,M,,,")))
    assert rows == [AN._replace(legacy_id=None, district_code=None, commune_code=None)]


@pytest.mark.parametrize(
    "header",
    ["", "citizen_id,full_name", HEADER.replace("legacy_id,full_name", "full_name,legacy_id"), HEADER + ",x"],
)
def test_a_bad_header_is_an_input_error(header: str) -> None:
    with pytest.raises(InputError, match="header must be"):
        list(read_registry_csv(io.StringIO(header + "\n" if header else "")))


@pytest.mark.parametrize(
    "bad",
    [
        "074150000007,,Lê Thị Hoa,1950-01-20,F,720,25730",  # a column short
        "074150000007,,Lê Thị Hoa,1950-01-20,F,720,25730,,extra",
        "074150000007,,Lê Thị Hoa,20/01/1950,F,720,25730,",
        "074150000007,,Lê Thị Hoa,1950-01-20,F,720,25730,2024-13-10",
        "",
    ],
)
def test_a_bad_line_is_an_input_error_with_its_line_number(bad: str) -> None:
    good = "074085001234,280123456,Nguyễn Văn An,1985-03-14,M,718,25708,"
    rows = read_registry_csv(csv_text(HEADER, good, good, bad, good))
    assert next(rows) == AN
    with pytest.raises(InputError, match="line 4"):
        list(rows)


def test_a_missing_registry_file_is_an_input_error(tmp_path: Path) -> None:
    for name in ("missing.csv", "missing.csv.gz"):
        with pytest.raises(InputError, match="cannot read registry file"):
            open_registry(tmp_path / name)


def test_names_with_commas_and_quotes_round_trip_through_csv() -> None:
    odd = AN._replace(full_name='Nguyễn "Văn", An')
    buffer = io.StringIO()
    Population.from_citizens(PROVINCE, [odd]).write_csv(buffer)
    assert list(read_registry_csv(io.StringIO(buffer.getvalue()))) == [odd]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("latin1.csv", f"{HEADER}\n074085001234,,Nguy\xe1n,1985-03-14,M,718,25708,\n".encode("latin-1")),
        ("broken.csv.gz", b"this is not gzip"),
    ],
)
def test_an_unreadable_registry_file_is_an_input_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError), open_registry(path) as stream:
        list(read_registry_csv(stream))
