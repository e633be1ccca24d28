"""Unit tests for hub.registry.changes: what a birth, a death or a correction may write."""

from __future__ import annotations

import json
from datetime import date

import pytest

from hub.errors import InputError
from hub.registry import ChangeKind, RegistryChange, RegistryCitizen
from hub.registry.changes import change_detail, changed_row, check_citizen, load_detail

TODAY = date(2026, 11, 25)
AN = RegistryCitizen("074085001234", "280123456", "Nguyễn Văn An", date(1985, 3, 14), "M", "718", "25708")
BE = RegistryCitizen("074226000001", None, "Trần Thị Bé", date(2026, 11, 20), "F", "724", "25760")


def test_a_change_takes_its_kind_as_text_and_refuses_load_or_unknown() -> None:
    assert RegistryChange("BIRTH", BE).kind is ChangeKind.BIRTH  # type: ignore[arg-type]
    with pytest.raises(InputError, match="LOAD is written by a bulk load"):
        RegistryChange(ChangeKind.LOAD, BE)
    with pytest.raises(InputError, match="unknown change kind 'MARRIAGE'"):
        RegistryChange("MARRIAGE", BE)  # type: ignore[arg-type]


def test_birth_adds_a_new_number_only() -> None:
    assert changed_row(RegistryChange(ChangeKind.BIRTH, BE), None, TODAY) == BE
    with pytest.raises(InputError, match="074226000001 is already in the registry"):
        changed_row(RegistryChange(ChangeKind.BIRTH, BE), BE, TODAY)
    with pytest.raises(InputError, match="cannot carry a date of death"):
        changed_row(RegistryChange(ChangeKind.BIRTH, BE._replace(deceased_on=TODAY)), None, TODAY)


def test_death_sets_only_the_date_of_death() -> None:
    dead = AN._replace(deceased_on=date(2026, 11, 2))
    assert changed_row(RegistryChange(ChangeKind.DEATH, dead), AN, TODAY) == dead
    with pytest.raises(InputError, match="no citizen 074085001234"):
        changed_row(RegistryChange(ChangeKind.DEATH, dead), None, TODAY)
    with pytest.raises(InputError, match="needs the date of death"):
        changed_row(RegistryChange(ChangeKind.DEATH, AN), AN, TODAY)
    with pytest.raises(InputError, match="between the birth"):
        changed_row(RegistryChange(ChangeKind.DEATH, AN._replace(deceased_on=date(1980, 1, 1))), AN, TODAY)
    with pytest.raises(InputError, match="between the birth"):
        changed_row(RegistryChange(ChangeKind.DEATH, AN._replace(deceased_on=date(2027, 1, 1))), AN, TODAY)
    with pytest.raises(InputError, match="already recorded dead on 2026-11-02"):
        changed_row(RegistryChange(ChangeKind.DEATH, dead), dead, TODAY)
    with pytest.raises(InputError, match="not full_name"):
        changed_row(RegistryChange(ChangeKind.DEATH, dead._replace(full_name="Nguyễn Văn Ân")), AN, TODAY)


def test_correction_replaces_a_known_row() -> None:
    fixed = AN._replace(full_name="Nguyễn Văn Ân", legacy_id=None, deceased_on=None)
    assert changed_row(RegistryChange(ChangeKind.CORRECTION, fixed), AN, TODAY) == fixed
    with pytest.raises(InputError, match="no citizen 074085001234 in the registry"):
        changed_row(RegistryChange(ChangeKind.CORRECTION, fixed), None, TODAY)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("citizen_id", "74085001234", "12 digits"),
        ("legacy_id", "28012345X", "9 digits"),
        ("full_name", " ", "1 to 200 characters"),
        ("full_name", "Nguye\u0302\u0303n", "NFC"),
        ("gender", "X", "M or F"),
        ("district_code", "71A", "district_code must be up to 3 digits"),
        ("commune_code", "257080", "commune_code must be up to 5 digits"),
        ("date_of_birth", date(2026, 11, 26), "in the future"),
    ],
)
def test_check_citizen_names_the_field(field: str, value: object, message: str) -> None:
    check_citizen(AN, TODAY)
    with pytest.raises(InputError, match=message):
        check_citizen(AN._replace(**{field: value}), TODAY)


def test_details_are_json() -> None:
    detail = json.loads(change_detail(BE, "giấy khai sinh số 12"))
    assert detail["citizen_id"] == "074226000001" and detail["date_of_birth"] == "2026-11-20"
    assert detail["deceased_on"] is None and detail["note"] == "giấy khai sinh số 12"
    assert "note" not in json.loads(change_detail(BE))
    assert json.loads(load_detail(42, replace=False)) == {"rows": 42, "mode": "merge"}
