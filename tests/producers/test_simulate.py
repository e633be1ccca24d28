"""Unit tests for producers.simulate: deterministic records whose ground truth the hub agrees with."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from itertools import islice
from typing import Any

import pytest
from confluent_kafka import Message
from fastavro.validation import validate

from hub.avro.catalog import get_catalog
from hub.avro.wire import AvroCodec, DecodeReason
from hub.errors import InputError, RecordDecodeError
from hub.province import known_province_codes, load_province
from hub.reasons import Reason
from hub.registry import RegistryCitizen, RegistrySnapshot
from hub.stages.reconcile.stage import Verdict, reconcile_message
from hub.topics import DEPARTMENT_TOPICS, RECONCILED, REJECTED, Department
from producers.population import Population, generate_population
from producers.simulate import (
    EXPECTED,
    BundleProfile,
    DirtProfile,
    SimulatedRecord,
    Simulator,
    generate_records,
)

PROVINCE = load_province("74")
PROVINCES = known_province_codes()
START = date(2026, 11, 1)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
NO_BUNDLES = BundleProfile(birth=0.0, death=0.0)
CLEAN = DirtProfile.clean()
SCHEMA_IDS = {department: n for n, department in enumerate(Department, start=1)}
RECONCILED_ID = 9
DIRT_KINDS = [k for k in EXPECTED if k != "clean"]

TUYET = RegistryCitizen(
    "074190123456", "281234567", "Đặng Thị Ánh Tuyết", date(1990, 5, 17), "F", "724", "25772"
)
HOA = RegistryCitizen(
    "079150000007", None, "Lê Thị Hoa", date(1950, 1, 20), "F", "720", "25730", date(2024, 5, 10)
)


def only(kind: str) -> DirtProfile:
    return dataclasses.replace(CLEAN, **{kind: 1.0})


def schema_name(department: Department) -> str:
    name = DEPARTMENT_TOPICS[department].value_schema
    assert name is not None
    return name


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    catalog = get_catalog()
    texts = {SCHEMA_IDS[d]: catalog.text(schema_name(d)) for d in Department}
    texts[RECONCILED_ID] = catalog.text(RECONCILED.value_schema or "")
    return AvroCodec(texts.get)


def decide(
    codec: AvroCodec, simulated: SimulatedRecord, registry: RegistrySnapshot, offset: int = 0
) -> Verdict:
    """Send one simulated record through the reconcile stage's pure transformation, as the hub would."""
    if simulated.raw is not None:
        value = simulated.raw
    else:
        value = codec.encode(SCHEMA_IDS[simulated.department], simulated.record)
    topic = DEPARTMENT_TOPICS[simulated.department].name
    message = Message(topic=topic, partition=0, offset=offset, key=None, value=value)
    return reconcile_message(message, codec, registry, PROVINCES, RECONCILED_ID, NOW)


@pytest.fixture(scope="module")
def population() -> Population:
    return generate_population(PROVINCE, 20_000, seed=2026)


@pytest.fixture(scope="module")
def registry(population: Population) -> RegistrySnapshot:
    return RegistrySnapshot(population)


@pytest.fixture(scope="module")
def stream(population: Population) -> list[SimulatedRecord]:
    """About 20,000 records with the default dirt and bundles."""
    return Simulator(population, seed=2026).take(20_000)


@pytest.fixture(scope="module")
def dossiers(stream: list[SimulatedRecord]) -> list[dict[str, Any]]:
    return [s.record["dossier"] for s in stream if s.raw is None]


# --- determinism and the stream ------------------------------------------------------------


def test_same_seed_same_records(population: Population) -> None:
    assert Simulator(population, 9).take(300) == Simulator(population, 9).take(300)


def test_different_seed_different_records(population: Population) -> None:
    first = [s.record.get("citizen") for s in Simulator(population, 9).take(200)]
    assert first != [s.record.get("citizen") for s in Simulator(population, 10).take(200)]


def test_the_stream_does_not_depend_on_how_much_is_taken(population: Population) -> None:
    simulator = Simulator(population, 3)
    many = simulator.take(5000)
    assert many[:100] == simulator.take(100)
    assert list(islice(simulator.records(), 4000, 5000)) == many[4000:]  # across a batch boundary
    assert Simulator(population, 3).take(5000) == many


def test_the_stream_is_endless(population: Population) -> None:
    records = Simulator(population, 3, departments=[Department.LAND]).take(10_000)
    assert len(records) == 10_000
    assert len({s.record_id for s in records}) == 10_000


def test_record_ids_are_unique(stream: list[SimulatedRecord]) -> None:
    ids = [s.record_id for s in stream]
    assert len(set(ids)) == len(ids) == 20_000
    assert all(s.record_id.startswith(f"{s.department.agency}-2026-") for s in stream)
    codes = [s.record["dossier"]["MaHoSo"] for s in stream if s.raw is None]
    assert len(set(codes)) == len(codes)


def test_generate_records_is_one_departments_stream(population: Population) -> None:
    records = list(generate_records(population, Department.LAND, 300, seed=9))
    assert len(records) == 300
    assert {s.department for s in records} == {Department.LAND}
    assert {s.record["agency"] for s in records if s.raw is None} == {"STNMT"}
    assert records == list(generate_records(population, Department.LAND, 300, seed=9))
    assert records == Simulator(population, 9, departments=[Department.LAND]).take(300)


def test_departments_get_their_own_stream(population: Population) -> None:
    land = list(generate_records(population, Department.LAND, 50, seed=9))
    health = list(generate_records(population, Department.HEALTH, 50, seed=9))
    assert [s.record.get("citizen") for s in land] != [s.record.get("citizen") for s in health]
    assert {s.record["agency"] for s in health if s.raw is None} == {"SYT"}


def test_departments_share_the_events(stream: list[SimulatedRecord]) -> None:
    singles = Counter(s.department for s in stream if s.raw is None and s.record["bundle_id"] is None)
    total = sum(singles.values())
    expected = {
        Department.CIVIL_STATUS: 0.20,
        Department.LAND: 0.15,
        Department.HEALTH: 0.40,
        Department.SOCIAL_INSURANCE: 0.25,
    }
    for department, share in expected.items():
        assert singles[department] / total == pytest.approx(share, abs=0.015)


def test_events_fall_in_the_requested_window(population: Population) -> None:
    start = date(2026, 11, 1)
    for simulated in generate_records(population, Department.HEALTH, 300, seed=1, dirt=CLEAN, days=3):
        occurred = simulated.record["occurred_at"]
        assert occurred.tzinfo is UTC
        assert start <= occurred.date() <= date(2026, 11, 3)
        assert simulated.record["dossier"]["NgayTiepNhan"] == occurred


# --- schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("department", list(Department))
def test_records_match_the_department_schema(
    population: Population, codec: AvroCodec, department: Department
) -> None:
    parsed = get_catalog().parsed(schema_name(department))
    records = list(generate_records(population, department, 400, seed=4, dirt=DirtProfile().scaled(5)))
    assert {s.dirt for s in records} > {"clean", "garbage_number", "legacy_instead"}
    for simulated in records:
        if simulated.raw is not None:
            continue
        assert validate(simulated.record, parsed, raise_errors=True)
        data = codec.encode(SCHEMA_IDS[department], simulated.record)
        assert codec.decode(data) == (SCHEMA_IDS[department], simulated.record)


def test_garbage_rows_are_bytes_the_decoder_rejects(codec: AvroCodec, population: Population) -> None:
    rows = Simulator(population, 2, dirt=only("garbage_row")).take(50)
    assert {s.dirt for s in rows} == {"garbage_row"}
    for simulated in rows:
        assert simulated.raw
        assert simulated.expected == DecodeReason.BAD_MAGIC == "BAD_MAGIC_BYTE"
        assert simulated.record == {"record_id": simulated.record_id}
        with pytest.raises(RecordDecodeError) as caught:
            codec.decode(simulated.raw)
        assert caught.value.reason == DecodeReason.BAD_MAGIC


# --- dossiers ------------------------------------------------------------------------------


def test_dossier_times_are_in_order(dossiers: list[dict[str, Any]]) -> None:
    for dossier in dossiers:
        received, due, finished = dossier["NgayTiepNhan"], dossier["NgayHenTra"], dossier["NgayKetThucXuLy"]
        assert received < due
        assert finished is None or received <= finished


def test_dossier_codes_are_consistent(dossiers: list[dict[str, Any]]) -> None:
    for dossier in dossiers:
        assert dossier["KenhThucHien"] in (1, 2, 3)
        assert dossier["DuocThanhToanTrucTuyen"] in (0, 1, 2)
        assert dossier["PhiLePhi"] > 0 or dossier["DuocThanhToanTrucTuyen"] == 0
        assert (dossier["MaKetQua"] is None) is (dossier["DuongDanTepTinKetQua"] is None)
        assert dossier["KenhThucHien"] == 2 or not dossier["TaiKhoanDuocXacThucVoiVNeID"]


def share(items: list[dict[str, Any]], test: Any) -> float:
    assert items
    return sum(bool(test(d)) for d in items) / len(items)


def test_online_share(dossiers: list[dict[str, Any]]) -> None:
    assert share(dossiers, lambda d: d["KenhThucHien"] == 2) == pytest.approx(0.62, abs=0.02)
    online = [d for d in dossiers if d["KenhThucHien"] == 2]
    assert share(online, lambda d: d["TaiKhoanDuocXacThucVoiVNeID"]) == pytest.approx(0.7, abs=0.03)


def test_on_time_share(dossiers: list[dict[str, Any]]) -> None:
    finished = [d for d in dossiers if d["NgayKetThucXuLy"] is not None]
    assert len(finished) / len(dossiers) == pytest.approx(0.9, abs=0.02)
    on_time = share(finished, lambda d: d["NgayKetThucXuLy"] <= d["NgayHenTra"])
    assert on_time == pytest.approx(0.9801, abs=0.006)


def test_e_result_share_of_procedures_that_return_a_result(dossiers: list[dict[str, Any]]) -> None:
    returning = {d["MaTTHC"] for d in dossiers if d["MaKetQua"] is not None}
    assert 0 < len(returning) < len({d["MaTTHC"] for d in dossiers})  # some procedures return nothing
    of_returning = [d for d in dossiers if d["MaTTHC"] in returning]
    assert share(of_returning, lambda d: d["DuongDanTepTinKetQua"]) == pytest.approx(0.6, abs=0.03)


def test_online_payment_share_of_dossiers_with_a_fee(dossiers: list[dict[str, Any]]) -> None:
    with_fee = [d for d in dossiers if d["PhiLePhi"] > 0]
    assert share(with_fee, lambda d: d["DuocThanhToanTrucTuyen"]) == pytest.approx(0.3832, abs=0.025)


def test_reuse_share(dossiers: list[dict[str, Any]]) -> None:
    assert share(dossiers, lambda d: d["HoSoCoThanhPhanSoHoa"]) == pytest.approx(0.0715, abs=0.008)


def test_dirt_share(stream: list[SimulatedRecord]) -> None:
    dirty = sum(s.dirt != "clean" for s in stream) / len(stream)
    assert dirty == pytest.approx(sum(s for _, s in DirtProfile().kinds()), abs=0.012)


# --- dirt ----------------------------------------------------------------------------------


def test_expected_covers_every_kind_of_dirt() -> None:
    assert set(EXPECTED) == {"clean", *(f.name for f in dataclasses.fields(DirtProfile))}
    assert EXPECTED["garbage_row"] == DecodeReason.BAD_MAGIC
    assert {v for k, v in EXPECTED.items() if k != "garbage_row"} <= set(Reason)


def test_dirt_profiles() -> None:
    assert all(s == 0 for _, s in CLEAN.kinds())
    assert DirtProfile().scaled(0) == CLEAN
    doubled = dict(DirtProfile().scaled(2).kinds())
    assert doubled == pytest.approx({k: 2 * s for k, s in DirtProfile().kinds()})


def test_expected_reason_follows_the_dirt(stream: list[SimulatedRecord]) -> None:
    for simulated in stream:
        assert simulated.expected == EXPECTED[simulated.dirt]
        assert simulated.matched is simulated.expected.startswith("MATCHED")


@pytest.fixture(scope="module")
def tiny() -> Population:
    """An adult with a legacy number and a diacritic-rich name, and a deceased citizen."""
    return Population.from_citizens(PROVINCE, [TUYET, HOA])


CHANGED = {
    "clean": set(),
    "lost_leading_zero": {"SoDinhDanh"},
    "separators": {"SoDinhDanh"},
    "legacy_instead": {"SoDinhDanh", "SoCMND"},
    "stripped_diacritics": {"HoVaTen"},
    "nfd_unicode": {"HoVaTen"},
    "case_and_spacing": {"HoVaTen"},
    "mistyped_birth_date": {"NgayThangNamSinh"},
    "unknown_citizen": {"SoDinhDanh"},
    "deceased_citizen": set(),
    "inconsistent_number": {"SoDinhDanh"},
    "garbage_number": {"SoDinhDanh"},
}


def declared_as(row: RegistryCitizen) -> dict[str, Any]:
    """The citizen as a department declares them when nothing is wrong: no legacy number."""
    return {**row.as_citizen_record(), "SoCMND": None}


def dirt_is_what_it_says(kind: str, declared: dict[str, Any], row: RegistryCitizen) -> None:
    number, name = declared["SoDinhDanh"], declared["HoVaTen"]
    if kind == "lost_leading_zero":
        assert number == row.citizen_id[1:] and len(number) == 11
    elif kind == "separators":
        assert re.fullmatch(r"\d{3}([ .-])\d{3}\1\d{6}", number)
        assert re.sub(r"[ .-]", "", number) == row.citizen_id
    elif kind == "legacy_instead":
        assert number is None and declared["SoCMND"] == row.legacy_id
    elif kind == "stripped_diacritics":
        assert name == "Dang Thi Anh Tuyet"
    elif kind == "nfd_unicode":
        assert name == unicodedata.normalize("NFD", row.full_name) != row.full_name
    elif kind == "case_and_spacing":
        assert name != row.full_name and " ".join(name.split()) == row.full_name.upper()
    elif kind == "mistyped_birth_date":
        dob = declared["NgayThangNamSinh"]
        assert dob != row.date_of_birth and (dob.year, dob.month) == (
            row.date_of_birth.year,
            row.date_of_birth.month,
        )
    elif kind == "unknown_citizen":
        assert len(number) == 12 and number.isdigit() and number[:6] == row.citizen_id[:6]
        assert number != row.citizen_id
    elif kind == "inconsistent_number":
        assert number == "099" + row.citizen_id[3:] and "099" not in PROVINCES
    elif kind == "garbage_number":
        assert not (len(number) == 12 and number.isdigit())


@pytest.mark.parametrize("kind", ["clean", *DIRT_KINDS])
def test_each_kind_of_dirt_does_what_its_name_says(tiny: Population, codec: AvroCodec, kind: str) -> None:
    registry = RegistrySnapshot([TUYET, HOA])
    records = Simulator(tiny, 4, dirt=only(kind) if kind != "clean" else CLEAN, bundles=NO_BUNDLES).take(60)
    assert {s.dirt for s in records} == {kind}
    for simulated in records:
        assert decide(codec, simulated, registry).reason == simulated.expected == EXPECTED[kind]
        if kind == "garbage_row":
            continue
        row = HOA if kind == "deceased_citizen" else TUYET
        declared = simulated.record["citizen"]
        clean = declared_as(row)
        assert {k for k in clean if declared[k] != clean[k]} == CHANGED[kind]
        dirt_is_what_it_says(kind, declared, row)
        if kind == "deceased_citizen":
            assert row.deceased_on is not None
            assert simulated.record["occurred_at"].date() > row.deceased_on


def test_name_dirt_on_a_name_without_diacritics_is_clean(codec: AvroCodec) -> None:
    """A name like "Phan Minh Chi" has nothing to strip: such a record is clean and matches."""
    plain = RegistryCitizen("074322556998", None, "Phan Minh Chi", date(2022, 8, 23), "F", "722", "25759")
    population = Population.from_citizens(PROVINCE, [plain])
    registry = RegistrySnapshot([plain])
    for kind in ("stripped_diacritics", "nfd_unicode"):
        for simulated in Simulator(population, 1, dirt=only(kind), bundles=NO_BUNDLES).take(5):
            assert simulated.record["citizen"]["HoVaTen"] == "Phan Minh Chi"
            assert (simulated.dirt, simulated.expected) == ("clean", Reason.MATCHED)
            assert decide(codec, simulated, registry).reason == Reason.MATCHED


def test_dirt_that_needs_a_missing_pool_falls_back_to_clean() -> None:
    no_legacy = RegistryCitizen(
        "074301000042", None, "Trần Thị Bích Đào", date(2001, 7, 2), "F", "719", "25722"
    )
    population = Population.from_citizens(PROVINCE, [no_legacy])
    for kind in ("legacy_instead", "deceased_citizen"):
        records = Simulator(population, 1, dirt=only(kind)).take(20)
        assert {s.dirt for s in records} == {"clean"}


def test_impossible_profiles_are_refused(population: Population) -> None:
    with pytest.raises(InputError, match="more than 1"):
        Simulator(population, 1, dirt=DirtProfile().scaled(10))
    with pytest.raises(InputError, match="more than 1"):
        Simulator(population, 1, bundles=BundleProfile(birth=0.6, death=0.6))
    with pytest.raises(InputError, match="no department"):
        Simulator(population, 1, departments=[Department.LAND], shares={Department.LAND: 0.0})
    with pytest.raises(InputError, match="no living citizen"):
        Simulator(Population.from_citizens(PROVINCE, [HOA]), 1)


def test_an_unknown_number_is_not_another_citizens(codec: AvroCodec) -> None:
    twin = RegistryCitizen("074190623456", None, "Võ Thị Hồng", date(1990, 2, 1), "F", "724", "25772")
    population = Population.from_citizens(PROVINCE, [TUYET, twin])
    registry = RegistrySnapshot([TUYET, twin])
    for simulated in Simulator(population, 1, dirt=only("unknown_citizen"), bundles=NO_BUNDLES).take(20):
        assert decide(codec, simulated, registry).reason == simulated.expected


def test_an_event_moved_after_a_death_keeps_its_dossier_in_order() -> None:
    start = date(2026, 6, 1)
    recent = HOA._replace(deceased_on=start + timedelta(days=3))
    population = Population.from_citizens(PROVINCE, [TUYET, recent])
    dirt = only("deceased_citizen")
    for simulated in Simulator(population, 1, dirt=dirt, bundles=NO_BUNDLES, start=start).take(200):
        dossier = simulated.record["dossier"]
        assert dossier["NgayTiepNhan"] < dossier["NgayHenTra"]
        finished = dossier["NgayKetThucXuLy"]
        assert finished is None or dossier["NgayTiepNhan"] <= finished


# --- Đề án 06 bundles ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled(population: Population) -> list[SimulatedRecord]:
    return Simulator(population, 5, dirt=CLEAN, bundles=BundleProfile(birth=0.05, death=0.05)).take(6000)


def bundles_of(records: list[SimulatedRecord]) -> dict[str, list[SimulatedRecord]]:
    groups: dict[str, list[SimulatedRecord]] = defaultdict(list)
    for simulated in records:
        if simulated.raw is None and simulated.record["bundle_id"] is not None:
            groups[simulated.record["bundle_id"]].append(simulated)
    return groups


def kinds(members: list[SimulatedRecord]) -> list[tuple[Department, str]]:
    return [
        (s.department, s.record["event_type"] if "event_type" in s.record else s.record["entry_type"])
        for s in members
    ]


BIRTH = [
    (Department.CIVIL_STATUS, "BIRTH"),
    (Department.HEALTH, "CHECKUP"),
    (Department.SOCIAL_INSURANCE, "ENROLLMENT"),
]
DEATH = [(Department.CIVIL_STATUS, "DEATH"), (Department.SOCIAL_INSURANCE, "FUNERAL_ALLOWANCE")]


def test_bundle_members_come_together(bundled: list[SimulatedRecord]) -> None:
    groups = bundles_of(bundled)
    positions = {s.record_id: i for i, s in enumerate(bundled)}
    for bundle_id, members in groups.items():
        assert re.fullmatch(r"DA06-5-\d{9}", bundle_id)
        if members[-1] is bundled[-1]:
            continue  # the stream was cut in the middle of this bundle
        assert kinds(members) in (BIRTH, DEATH)
        first = positions[members[0].record_id]
        assert [positions[s.record_id] for s in members] == list(range(first, first + len(members)))
        assert len({s.record["citizen"]["SoDinhDanh"] for s in members}) == 1
        assert len({s.record_id.split("-", 1)[1] for s in members}) == 1  # one event number


def test_bundle_shares(bundled: list[SimulatedRecord]) -> None:
    groups = bundles_of(bundled)
    births = sum(kinds(m)[0][1] == "BIRTH" for m in groups.values())
    deaths = len(groups) - births
    events = len(groups) + sum(s.record["bundle_id"] is None for s in bundled)
    assert births / events == pytest.approx(0.05, abs=0.015)
    assert deaths / events == pytest.approx(0.05, abs=0.015)
    singles = [
        s for s in bundled if s.record["bundle_id"] is None and s.department is Department.CIVIL_STATUS
    ]
    assert {s.record["event_type"] for s in singles} == {"MARRIAGE"}


def test_a_birth_bundle_is_about_a_newborn(
    bundled: list[SimulatedRecord], registry: RegistrySnapshot
) -> None:
    births = [m for m in bundles_of(bundled).values() if kinds(m)[0][1] == "BIRTH"]
    assert len(births) > 100
    for members in births:
        row = registry.by_id(members[0].record["citizen"]["SoDinhDanh"])
        assert row is not None and row.deceased_on is None
        assert START - timedelta(days=60) <= row.date_of_birth <= START
        assert members[0].record["event_date"] == row.date_of_birth


def test_a_death_bundle_is_about_a_deceased_citizen(
    bundled: list[SimulatedRecord], registry: RegistrySnapshot
) -> None:
    deaths = [m for m in bundles_of(bundled).values() if kinds(m)[0][1] == "DEATH"]
    assert len(deaths) > 100
    for members in deaths:
        row = registry.by_id(members[0].record["citizen"]["SoDinhDanh"])
        assert row is not None and row.deceased_on is not None
        assert members[0].record["event_date"] == row.deceased_on
        if len(members) == 2:
            assert members[1].record["amount_vnd"] > 0


def test_a_department_sees_its_part_of_the_bundles(population: Population) -> None:
    health = list(generate_records(population, Department.HEALTH, 3000, seed=1, dirt=CLEAN))
    checkups = [s for s in health if s.record["bundle_id"] is not None]
    assert checkups and {s.record["entry_type"] for s in checkups} == {"CHECKUP"}
    land = list(generate_records(population, Department.LAND, 1000, seed=1, dirt=CLEAN))
    assert all(s.record["bundle_id"] is None for s in land)


def test_a_birth_bundle_is_never_about_a_child_born_later() -> None:
    start = date(2026, 6, 1)
    born = RegistryCitizen(
        "074226000001", None, "Trần Văn Bé", start - timedelta(days=10), "M", "718", "25708"
    )
    unborn = born._replace(citizen_id="074326000002", full_name="Trần Thị Bé", gender="F")
    unborn = unborn._replace(date_of_birth=start + timedelta(days=10))
    population = Population.from_citizens(PROVINCE, [TUYET, born, unborn])
    simulator = Simulator(population, 1, dirt=CLEAN, bundles=BundleProfile(birth=1.0, death=0.0), start=start)
    numbers = {s.record["citizen"]["SoDinhDanh"] for s in simulator.take(90)}
    assert numbers == {born.citizen_id}


# --- the ground truth ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dirty(population: Population) -> list[SimulatedRecord]:
    """About 12,000 records with four times the usual dirt and many bundles."""
    profile = DirtProfile().scaled(4)
    return Simulator(population, 7, dirt=profile, bundles=BundleProfile(birth=0.03, death=0.03)).take(12_000)


def test_reconciler_agrees_with_the_simulators_ground_truth(
    dirty: list[SimulatedRecord], registry: RegistrySnapshot, codec: AvroCodec
) -> None:
    """The most important check: for every simulated record, the reconcile stage reaches ``expected``."""
    disagreements = []
    for offset, simulated in enumerate(dirty):
        verdict = decide(codec, simulated, registry, offset)
        if verdict.reason != simulated.expected:
            disagreements.append((simulated.dirt, simulated.expected, verdict.reason, simulated.record))
        assert verdict.output.topic == (RECONCILED.name if simulated.matched else REJECTED.name)
    assert disagreements == []
    # Every kind of dirt and both kinds of bundle were exercised, so the agreement means something.
    assert set(Counter(s.dirt for s in dirty)) == set(EXPECTED)
    assert {s.expected for s in dirty} == set(EXPECTED.values())
    assert {kinds(m)[0][1] for m in bundles_of(dirty).values()} == {"BIRTH", "DEATH"}


def test_dirt_applies_to_a_whole_bundle(dirty: list[SimulatedRecord]) -> None:
    groups = bundles_of(dirty)
    assert any(m[0].dirt != "clean" for m in groups.values())
    for members in groups.values():
        assert len({s.dirt for s in members}) == 1
        assert all(s.record["citizen"] == members[0].record["citizen"] for s in members)


# --- sending -------------------------------------------------------------------------------


class ListPublisher:
    """Stands in for a DepartmentPublisher: remembers what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def publish(self, record: dict[str, Any]) -> None:
        self.sent.append(("record", record))

    def publish_raw(self, value: bytes, key: str) -> None:
        self.sent.append(("raw", (value, key)))


def test_send_publishes_records_and_garbage_rows(population: Population) -> None:
    record = Simulator(population, 1, dirt=CLEAN).take(1)[0]
    garbage = Simulator(population, 1, dirt=only("garbage_row")).take(1)[0]
    publisher = ListPublisher()
    record.send(publisher)  # type: ignore[arg-type]
    garbage.send(publisher)  # type: ignore[arg-type]
    assert publisher.sent == [("record", record.record), ("raw", (garbage.raw, garbage.record_id))]
