"""Unit tests for producers.simulate: deterministic records whose ground truth the hub agrees with."""

from __future__ import annotations

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime

import pytest

from hub.province import known_province_codes, load_province
from hub.reconcile import Reason, reconcile
from hub.registry import RegistryCitizen, RegistrySnapshot
from hub.schemas import get_catalog
from hub.serde import AvroCodec
from hub.topics import DEPARTMENT_TOPICS, Department
from producers.population import generate_population
from producers.simulate import EXPECTED, DirtProfile, SimulatedRecord, generate_records

PROVINCE = load_province("74")
PROVINCES = known_province_codes()
NO_DIRT = DirtProfile(**{f.name: 0.0 for f in dataclasses.fields(DirtProfile)})


@pytest.fixture(scope="module")
def population() -> list[RegistryCitizen]:
    return list(generate_population(PROVINCE, 3000, seed=2026))


@pytest.fixture(scope="module")
def registry(population: list[RegistryCitizen]) -> RegistrySnapshot:
    return RegistrySnapshot(population)


def event_day(record: dict[str, object]) -> date:
    """The day reconciliation judges the event by: event_date for civil status, else occurred_at."""
    if "event_date" in record:
        value = record["event_date"]
        assert isinstance(value, date)
        return value
    occurred = record["occurred_at"]
    assert isinstance(occurred, datetime)
    return occurred.date()


def only(kind: str) -> DirtProfile:
    return dataclasses.replace(NO_DIRT, **{kind: 1.0})


def test_generate_records_is_deterministic(population: list[RegistryCitizen]) -> None:
    first = list(generate_records(population, Department.LAND, 300, seed=9))
    again = list(generate_records(population, Department.LAND, 300, seed=9))
    assert first == again
    other = list(generate_records(population, Department.LAND, 300, seed=10))
    assert [r.record["citizen"] for r in first] != [r.record["citizen"] for r in other]


def test_departments_get_their_own_stream(population: list[RegistryCitizen]) -> None:
    land = list(generate_records(population, Department.LAND, 50, seed=9))
    health = list(generate_records(population, Department.HEALTH, 50, seed=9))
    assert [r.record["citizen"] for r in land] != [r.record["citizen"] for r in health]
    assert {r.record["agency"] for r in health} == {"SYT"}


def test_count_and_unique_record_ids(population: list[RegistryCitizen]) -> None:
    records = list(generate_records(population, Department.CIVIL_STATUS, 500, seed=1))
    assert len(records) == 500
    ids = [r.record["record_id"] for r in records]
    assert len(set(ids)) == 500
    assert all(i.startswith("STP-1-") for i in ids)
    assert all(r.department is Department.CIVIL_STATUS for r in records)


def test_events_fall_in_the_requested_window(population: list[RegistryCitizen]) -> None:
    start = date(2026, 11, 1)
    for simulated in generate_records(
        population, Department.HEALTH, 300, seed=1, dirt=NO_DIRT, start=start, days=3
    ):
        occurred = simulated.record["occurred_at"]
        assert occurred.tzinfo is UTC
        assert start <= occurred.date() <= date(2026, 11, 3)
        assert simulated.record["dossier"]["NgayTiepNhan"] == occurred


@pytest.mark.parametrize("department", list(Department))
def test_records_match_the_department_schema(
    population: list[RegistryCitizen], department: Department
) -> None:
    name = DEPARTMENT_TOPICS[department].value_schema
    assert name is not None
    codec = AvroCodec({1: get_catalog().text(name)}.get)
    for simulated in generate_records(population, department, 200, seed=4):
        assert codec.decode(codec.encode(1, simulated.record)) == (1, simulated.record)


def test_expected_reason_follows_the_dirt(population: list[RegistryCitizen]) -> None:
    for simulated in generate_records(population, Department.LAND, 1000, seed=5):
        assert simulated.expected is EXPECTED[simulated.dirt]


def test_without_dirt_every_record_is_clean(
    population: list[RegistryCitizen], registry: RegistrySnapshot
) -> None:
    for simulated in generate_records(population, Department.LAND, 300, seed=6, dirt=NO_DIRT):
        assert simulated.dirt == "clean"
        assert simulated.expected is Reason.MATCHED
        record = simulated.record
        assert reconcile(record["citizen"], event_day(record), registry, PROVINCES).matched


@pytest.mark.parametrize("kind", [k for k in EXPECTED if k != "clean"])
def test_each_kind_of_dirt_alone(
    population: list[RegistryCitizen], registry: RegistrySnapshot, kind: str
) -> None:
    records = list(generate_records(population, Department.HEALTH, 60, seed=8, dirt=only(kind)))
    assert Counter(r.dirt for r in records)[kind] >= 50  # a few names may have no diacritics
    for simulated in records:
        record = simulated.record
        decision = reconcile(record["citizen"], event_day(record), registry, PROVINCES)
        assert decision.reason is simulated.expected, (simulated.dirt, record["citizen"])


def test_name_dirt_on_a_name_without_diacritics_is_clean() -> None:
    """A name like "Phan Minh Chi" has nothing to strip: such a record is clean and matches."""
    plain = RegistryCitizen("074322556998", None, "Phan Minh Chi", date(2022, 8, 23), "F", "722", "25759")
    registry = RegistrySnapshot([plain])
    for kind in ("stripped_diacritics", "nfd_unicode"):
        for simulated in generate_records([plain], Department.LAND, 5, seed=1, dirt=only(kind)):
            assert simulated.record["citizen"]["HoVaTen"] == "Phan Minh Chi"
            assert (simulated.dirt, simulated.expected) == ("clean", Reason.MATCHED)
            decision = reconcile(simulated.record["citizen"], None, registry, PROVINCES)
            assert decision.reason is Reason.MATCHED


def test_dirt_that_needs_a_missing_pool_falls_back_to_clean() -> None:
    no_legacy = RegistryCitizen(
        "074301000042", None, "Trần Thị Bích Đào", date(2001, 7, 2), "F", "719", "25715"
    )
    for kind in ("legacy_instead", "deceased_citizen"):
        records = list(generate_records([no_legacy], Department.LAND, 5, seed=1, dirt=only(kind)))
        assert {r.dirt for r in records} == {"clean"}


@pytest.mark.parametrize("seed", [2026, 7])
def test_reconciler_agrees_with_the_simulators_ground_truth(
    population: list[RegistryCitizen], registry: RegistrySnapshot, seed: int
) -> None:
    """The most important check: for every simulated record, reconcile() reaches ``expected``."""
    records: list[SimulatedRecord] = [
        simulated
        for department in Department
        for simulated in generate_records(population, department, 1500, seed=seed)
    ]
    disagreements = []
    for simulated in records:
        record = simulated.record
        decision = reconcile(record["citizen"], event_day(record), registry, PROVINCES)
        if decision.reason is not simulated.expected:
            disagreements.append(
                (simulated.dirt, simulated.expected.value, decision.reason.value, record["citizen"])
            )
    assert disagreements == []
    assert len(records) == 6000
    # Every kind of dirt was exercised, so the agreement above means something.
    assert set(Counter(r.dirt for r in records)) == set(EXPECTED)
    assert {r.expected for r in records} == set(EXPECTED.values())
