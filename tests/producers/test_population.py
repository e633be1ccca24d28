"""Unit tests for producers.population: a deterministic, internally consistent registry."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from hub.province import known_province_codes, load_province
from hub.reconcile import id_consistent
from hub.registry import RegistryCitizen
from producers.population import citizen_number, generate_population, names

PROVINCE = load_province("74")
TODAY = date(2026, 11, 1)


@pytest.fixture(scope="module")
def population() -> list[RegistryCitizen]:
    return list(generate_population(PROVINCE, 20_000, seed=11))


def test_same_seed_same_population() -> None:
    first = list(generate_population(PROVINCE, 500, seed=3))
    assert first == list(generate_population(PROVINCE, 500, seed=3))


def test_different_seed_different_population() -> None:
    assert list(generate_population(PROVINCE, 200, seed=3)) != list(
        generate_population(PROVINCE, 200, seed=4)
    )


def test_a_larger_population_extends_a_smaller_one() -> None:
    small = list(generate_population(PROVINCE, 100, seed=5))
    assert list(generate_population(PROVINCE, 300, seed=5))[:100] == small


def test_size(population: list[RegistryCitizen]) -> None:
    assert len(population) == 20_000


def test_citizen_ids_are_unique(population: list[RegistryCitizen]) -> None:
    ids = [c.citizen_id for c in population]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 12 and i.isdigit() for i in ids)


def test_legacy_ids_are_unique_and_local(population: list[RegistryCitizen]) -> None:
    legacy = [c.legacy_id for c in population if c.legacy_id]
    assert len(legacy) > 1000  # about a third of those born before 2000
    assert len(set(legacy)) == len(legacy)
    assert all(len(i) == 9 and i.isdigit() for i in legacy)
    assert all(i[:3] in PROVINCE.legacy_id_prefixes for i in legacy)
    assert {i[:3] for i in legacy} == set(PROVINCE.legacy_id_prefixes)


def test_only_citizens_born_before_2000_have_legacy_ids(population: list[RegistryCitizen]) -> None:
    assert all(c.date_of_birth.year < 2000 for c in population if c.legacy_id)


def test_ids_are_consistent_with_birth_year_and_gender(population: list[RegistryCitizen]) -> None:
    provinces = known_province_codes()
    problems = [
        (c.citizen_id, problem)
        for c in population
        if (problem := id_consistent(c.citizen_id, c.date_of_birth, c.gender, provinces))
    ]
    assert problems == []


def test_most_citizens_were_registered_in_the_province(population: list[RegistryCitizen]) -> None:
    local = sum(c.citizen_id.startswith(PROVINCE.id_prefix) for c in population)
    assert 0.8 < local / len(population) < 0.9


def test_residence_is_in_the_province(population: list[RegistryCitizen]) -> None:
    communes = {(d.code, c) for d in PROVINCE.districts for c in d.communes}
    assert all((c.district_code, c.commune_code) in communes for c in population)


def test_births_deaths_and_genders_are_plausible(population: list[RegistryCitizen]) -> None:
    assert {c.gender for c in population} == {"M", "F"}
    assert all(date(1935, 1, 1) <= c.date_of_birth <= TODAY for c in population)
    deceased = [c for c in population if c.deceased_on is not None]
    assert 0 < len(deceased) < 0.02 * len(population)
    assert all(c.date_of_birth <= c.deceased_on < TODAY for c in deceased if c.deceased_on)


def test_names_are_nfc_vietnamese_names(population: list[RegistryCitizen]) -> None:
    surnames = {s for s, _ in names()["surnames"]}
    for c in population[:2000]:
        assert unicodedata.is_normalized("NFC", c.full_name)
        parts = c.full_name.split(" ")
        assert len(parts) >= 3
        assert parts[0] in surnames


@pytest.mark.parametrize(
    ("birth", "gender", "expected"),
    [
        (date(1985, 3, 14), "M", "074085001234"),
        (date(1985, 3, 14), "F", "074185001234"),
        (date(2001, 7, 2), "M", "074201001234"),
        (date(2001, 7, 2), "F", "074301001234"),
    ],
)
def test_citizen_number(birth: date, gender: str, expected: str) -> None:
    assert citizen_number("074", birth, gender, 1234) == expected


def test_citizen_number_keeps_six_serial_digits() -> None:
    assert citizen_number("079", date(1950, 1, 1), "M", 1_234_567) == "079050234567"
