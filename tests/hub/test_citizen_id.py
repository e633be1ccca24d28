"""Unit tests for hub.citizen_id: repairing declared numbers, and what a 12-digit number encodes."""

from __future__ import annotations

from datetime import date

import pytest

from hub.citizen_id import id_consistent, repair_id
from hub.province import known_province_codes

PROVINCES = known_province_codes()


def test_repair_id_leaves_a_clean_number_alone() -> None:
    assert repair_id("074085001234") == ("074085001234", False)


def test_repair_id_ignores_surrounding_whitespace() -> None:
    assert repair_id("  074085001234\t") == ("074085001234", False)


@pytest.mark.parametrize(
    "raw",
    [
        "074 085 001234",
        "074-085-001234",
        "074.085.001234",
        "074/085/001234",
        "074_085_001234",
        "074 - 085 . 001234",
        "0740 8500 1234",
    ],
)
def test_repair_id_removes_separators(raw: str) -> None:
    assert repair_id(raw) == ("074085001234", True)


@pytest.mark.parametrize("raw", ["74085001234", "74 085 001234", " 74-085-001234 "])
def test_repair_id_restores_a_lost_leading_zero(raw: str) -> None:
    assert repair_id(raw) == ("074085001234", True)


def test_repair_id_keeps_a_nine_digit_legacy_number() -> None:
    assert repair_id("280123456") == ("280123456", False)
    assert repair_id("280 123 456") == ("280123456", True)


def test_repair_id_does_not_invent_digits() -> None:
    candidate, _ = repair_id("12AB5678")
    assert candidate == "12AB5678"
    assert repair_id("7408500123")[0] == "7408500123"  # 10 digits: no zero added


# --- id_consistent ---------------------------------------------------------------------------


def test_id_consistent_accepts_a_matching_number() -> None:
    assert id_consistent("074085001234", date(1985, 3, 14), "M", PROVINCES) is None


def test_id_consistent_rejects_an_unknown_province_code() -> None:
    assert "099" not in PROVINCES
    problem = id_consistent("099085001234", date(1985, 3, 14), "M", PROVINCES)
    assert problem is not None
    assert "province code 099" in problem


@pytest.mark.parametrize(
    ("citizen_id", "birth", "gender"),
    [
        ("074085001234", date(1985, 1, 1), "M"),  # 0: male, 20th century
        ("074185001234", date(1985, 1, 1), "F"),  # 1: female, 20th century
        ("074201001234", date(2001, 1, 1), "M"),  # 2: male, 21st century
        ("074301001234", date(2001, 1, 1), "F"),  # 3: female, 21st century
        ("074400001234", date(2100, 1, 1), "M"),  # 4: male, 22nd century
    ],
)
def test_id_consistent_reads_century_and_gender_digit(citizen_id: str, birth: date, gender: str) -> None:
    assert id_consistent(citizen_id, birth, gender, PROVINCES) is None


def test_id_consistent_rejects_gender_digit_against_declared_gender() -> None:
    problem = id_consistent("074085001234", date(1985, 3, 14), "F", PROVINCES)
    assert problem is not None
    assert "gender digit 0" in problem
    assert "record says F" in problem


def test_id_consistent_skips_gender_when_not_declared() -> None:
    assert id_consistent("074085001234", date(1985, 3, 14), None, PROVINCES) is None


@pytest.mark.parametrize(
    ("citizen_id", "encoded_year"),
    [("074086001234", 1986), ("074285001234", 2085)],  # wrong year; wrong century
)
def test_id_consistent_rejects_birth_year_against_declared_birth(citizen_id: str, encoded_year: int) -> None:
    problem = id_consistent(citizen_id, date(1985, 3, 14), None, PROVINCES)
    assert problem is not None
    assert f"birth year {encoded_year}" in problem
    assert "record says 1985" in problem


def test_id_consistent_skips_year_when_birth_unknown() -> None:
    assert id_consistent("074285001234", None, "M", PROVINCES) is None


# --- fold_name -------------------------------------------------------------------------------
