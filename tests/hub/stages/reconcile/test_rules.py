"""Unit tests for hub.stages.reconcile.rules: number repair, consistency, name folding, every Reason."""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import pytest

from hub.citizen_id import id_consistent
from hub.province import known_province_codes
from hub.reasons import Reason
from hub.registry import RegistryCitizen, RegistrySnapshot
from hub.stages.reconcile.rules import fold_name, reconcile

PROVINCES = known_province_codes()

AN = RegistryCitizen("074085001234", "280123456", "Nguyễn Văn An", date(1985, 3, 14), "M", "718", "25700")
DAO = RegistryCitizen("074301000042", None, "Trần Thị Bích Đào", date(2001, 7, 2), "F", "719", "25715")
HOA = RegistryCitizen(
    "079150000007",
    "281000777",
    "Lê Thị Hoa",
    date(1950, 1, 20),
    "F",
    "720",
    "25730",
    deceased_on=date(2024, 5, 10),
)
REGISTRY = RegistrySnapshot([AN, DAO, HOA])
EVENT_DAY = date(2026, 11, 2)


def declared(citizen: RegistryCitizen = AN, **overrides: Any) -> dict[str, Any]:
    """The citizen as a department would declare it (a decoded vn.lgsp.Citizen), cleanly."""
    fields: dict[str, Any] = {
        "SoDinhDanh": citizen.citizen_id,
        "SoCMND": None,
        "HoVaTen": citizen.full_name,
        "NgayThangNamSinh": citizen.date_of_birth,
        "GioiTinh": "MALE" if citizen.gender == "M" else "FEMALE",
        "MaHuyen": citizen.district_code,
        "MaXa": citizen.commune_code,
    }
    fields.update(overrides)
    return fields


def check(citizen: dict[str, Any], event_day: date | None = EVENT_DAY) -> Reason:
    return reconcile(citizen, event_day, REGISTRY, PROVINCES).reason


def test_registry_fixture_is_consistent() -> None:
    for row in (AN, DAO, HOA):
        assert id_consistent(row.citizen_id, row.date_of_birth, row.gender, PROVINCES) is None


# --- fold_name -------------------------------------------------------------------------------


def test_fold_name_output() -> None:
    assert fold_name("Nguyễn Văn An") == "an nguyen van"


@pytest.mark.parametrize(
    "variant",
    [
        "Nguyen Van An",  # stripped diacritics
        unicodedata.normalize("NFD", "Nguyễn Văn An"),  # decomposed Unicode
        "NGUYỄN VĂN AN",  # upper case
        "  Nguyễn   Văn  An ",  # extra spaces
        "An Nguyễn Văn",  # word order
        "nguyen\tvan\nan",  # other whitespace
    ],
)
def test_fold_name_tolerates(variant: str) -> None:
    assert fold_name(variant) == fold_name("Nguyễn Văn An")


def test_fold_name_folds_d_with_stroke() -> None:
    assert fold_name("Đặng Đình Đức") == "dang dinh duc"
    assert fold_name("ĐÀO") == fold_name("dao")
    assert fold_name(unicodedata.normalize("NFD", "Trần Thị Bích Đào")) == "bich dao thi tran"


def test_fold_name_keeps_different_names_apart() -> None:
    assert fold_name("Nguyễn Văn An") != fold_name("Nguyễn Văn Anh")
    assert fold_name("Lê Thị Hoa") != fold_name("Lê Thị Hòa Bình")


# --- reconcile: every Reason -----------------------------------------------------------------


def test_reason_matched_property() -> None:
    matched = {r for r in Reason if r.matched}
    assert matched == {
        Reason.MATCHED,
        Reason.MATCHED_LEGACY_ID,
        Reason.MATCHED_REPAIRED_ID,
        Reason.MATCHED_NORMALIZED_NAME,
    }


def test_matched() -> None:
    decision = reconcile(declared(), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.MATCHED
    assert decision.matched
    assert decision.citizen == AN
    assert decision.detail == ""


def test_matched_with_unknown_gender_and_no_birth_date() -> None:
    citizen = declared(GioiTinh="UNKNOWN", NgayThangNamSinh=None)
    assert check(citizen) is Reason.MATCHED


def test_matched_legacy_id_from_socmnd_only() -> None:
    decision = reconcile(declared(SoDinhDanh=None, SoCMND="280123456"), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.MATCHED_LEGACY_ID
    assert decision.citizen == AN


def test_matched_legacy_id_with_separators() -> None:
    assert check(declared(SoDinhDanh="", SoCMND="280 123 456")) is Reason.MATCHED_LEGACY_ID


def test_matched_legacy_id_from_nine_digits_in_sodinhdanh() -> None:
    decision = reconcile(declared(SoDinhDanh="280123456"), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.MATCHED_LEGACY_ID
    assert decision.citizen == AN


def test_legacy_id_rescues_an_inconsistent_new_number() -> None:
    citizen = declared(SoDinhDanh="099085001234", SoCMND="280123456")
    assert check(citizen) is Reason.MATCHED_LEGACY_ID


@pytest.mark.parametrize("raw", ["74085001234", "074 085 001234", "074-085-001234", "074.085.001234"])
def test_matched_repaired_id(raw: str) -> None:
    decision = reconcile(declared(SoDinhDanh=raw), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.MATCHED_REPAIRED_ID
    assert decision.citizen == AN


def test_repaired_id_takes_precedence_over_normalized_name() -> None:
    assert check(declared(SoDinhDanh="74085001234", HoVaTen="NGUYEN VAN AN")) is Reason.MATCHED_REPAIRED_ID


@pytest.mark.parametrize(
    ("citizen", "name"),
    [
        (AN, unicodedata.normalize("NFD", "Nguyễn Văn An")),
        (AN, "Nguyen Van An"),
        (AN, "NGUYỄN VĂN AN"),
        (AN, "  NGUYỄN   VĂN   AN "),
        (DAO, "Tran Thi Bich Dao"),
        (DAO, unicodedata.normalize("NFD", "Trần Thị Bích Đào")),
    ],
)
def test_matched_normalized_name(citizen: RegistryCitizen, name: str) -> None:
    assert name != citizen.full_name
    decision = reconcile(declared(citizen, HoVaTen=name), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.MATCHED_NORMALIZED_NAME
    assert decision.citizen == citizen


def test_name_mismatch() -> None:
    decision = reconcile(declared(HoVaTen="Nguyễn Văn Bình"), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.NAME_MISMATCH
    assert not decision.matched
    assert decision.citizen == AN  # found by number, but not this person


def test_dob_mismatch() -> None:
    decision = reconcile(declared(NgayThangNamSinh=date(1985, 3, 15)), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.DOB_MISMATCH
    assert not decision.matched
    assert "1985-03-15" in decision.detail


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("099085001234", "province code 099"),  # unknown province
        ("074185001234", "gender digit 1"),  # female digit, declared MALE
        ("074090001234", "birth year 1990"),  # year 1990, declared 1985
    ],
)
def test_id_inconsistent(raw: str, fragment: str) -> None:
    decision = reconcile(declared(SoDinhDanh=raw), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.ID_INCONSISTENT
    assert fragment in decision.detail
    assert decision.citizen is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"SoDinhDanh": "074085999999"},  # consistent with the declared citizen, not registered
        {"SoDinhDanh": None, "SoCMND": "280999999"},  # unknown legacy number
        {"SoDinhDanh": "280999999"},  # unknown legacy number in the new number's field
    ],
)
def test_unknown_citizen(overrides: dict[str, Any]) -> None:
    decision = reconcile(declared(**overrides), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.UNKNOWN_CITIZEN
    assert decision.citizen is None
    assert not decision.matched


def test_event_after_death() -> None:
    decision = reconcile(declared(HOA), date(2024, 5, 11), REGISTRY, PROVINCES)
    assert decision.reason is Reason.EVENT_AFTER_DEATH
    assert decision.citizen == HOA
    assert "2024-05-10" in decision.detail


@pytest.mark.parametrize("event_day", [date(2024, 5, 10), date(2024, 5, 9), None])
def test_event_on_or_before_death_day_is_not_rejected(event_day: date | None) -> None:
    assert check(declared(HOA), event_day) is Reason.MATCHED


@pytest.mark.parametrize(
    ("number", "legacy"), [(None, None), ("", None), ("   ", None), (None, ""), ("  ", " ")]
)
def test_missing_id(number: str | None, legacy: str | None) -> None:
    decision = reconcile(declared(SoDinhDanh=number, SoCMND=legacy), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.MISSING_ID
    assert decision.citizen is None


@pytest.mark.parametrize("raw", ["N/A", "chưa có", "12AB5678", "0", "#REF!", "0740850012345"])
def test_malformed_id(raw: str) -> None:
    decision = reconcile(declared(SoDinhDanh=raw), EVENT_DAY, REGISTRY, PROVINCES)
    assert decision.reason is Reason.MALFORMED_ID
    assert repr(raw) in decision.detail


def test_every_reason_is_covered() -> None:
    cases = [
        declared(),
        declared(SoDinhDanh=None, SoCMND="280123456"),
        declared(SoDinhDanh="74085001234"),
        declared(HoVaTen="Nguyen Van An"),
        declared(HoVaTen="Nguyễn Văn Bình"),
        declared(NgayThangNamSinh=date(1985, 3, 15)),
        declared(SoDinhDanh="099085001234"),
        declared(SoDinhDanh="074085999999"),
        declared(HOA),
        declared(SoDinhDanh=None),
        declared(SoDinhDanh="N/A"),
    ]
    assert {check(c) for c in cases} == set(Reason)


def test_snapshot_update_replaces_legacy_index() -> None:
    snapshot = RegistrySnapshot([AN])
    snapshot.update([AN._replace(legacy_id="280654321")])
    assert snapshot.by_legacy("280123456") is None
    assert snapshot.by_legacy("280654321") == AN._replace(legacy_id="280654321")
    assert len(snapshot) == 1
