"""Unit tests for hub.exchange.validation: every reason code, the rules' order, the digest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from hub.exchange.validation import Rejection, digest, problem

Document = Callable[..., dict[str, Any]]

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
ABSENT = "<absent>"  # removes the field (conftest.py)


def test_a_good_document_passes(document: Document) -> None:
    assert problem(document(), NOW) is None


@pytest.mark.parametrize(
    "changes",
    [
        {"citizen__NgayThangNamSinh": None, "citizen__SoCMND": None, "citizen__MaHuyen": None},
        {"citizen__MaXa": ABSENT, "citizen__GioiTinh": ABSENT, "dossier__PhiLePhi": ABSENT},
        {"dossier__NgayTiepNhan": None, "dossier__NgayHenTra": "2020-01-01T00:00:00+07:00"},
        {"dossier__NgayKetThucXuLy": "2026-11-01T09:00:00+00:00", "dossier__PhiLePhi": 0.0},
        {"dossier__NgayTiepNhan": "2026-11-06T11:00:00+00:00"},  # less than a day ahead
        {"dossier__DuocThanhToanTrucTuyen": None, "occurred_at": "2026-11-03T08:30:00Z"},
    ],
)
def test_optional_fields_may_be_null_or_absent(changes: dict[str, Any], document: Document) -> None:
    assert problem(document(**changes), NOW) is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"record_id": ABSENT}, "record_id"),
        ({"agency": ""}, "agency"),
        ({"department": 5}, "department"),
        ({"citizen__SoDinhDanh": ABSENT}, "citizen.SoDinhDanh"),
        ({"citizen__SoDinhDanh": None}, "citizen.SoDinhDanh"),
        ({"citizen__HoVaTen": ""}, "citizen.HoVaTen"),
        ({"dossier__MaHoSo": None}, "dossier.MaHoSo"),
        ({"dossier__MaTTHC": 1.004227}, "dossier.MaTTHC"),
        ({"dossier__KenhThucHien": ABSENT}, "dossier.KenhThucHien"),
        ({"dossier__KenhThucHien": "2"}, "dossier.KenhThucHien"),
        ({"dossier__KenhThucHien": True}, "dossier.KenhThucHien"),
        ({"citizen": "074085001234"}, "citizen"),
        ({"dossier": ABSENT}, "dossier"),
    ],
)
def test_missing_field_names_the_field(changes: dict[str, Any], field: str, document: Document) -> None:
    found = problem(document(**changes), NOW)
    assert found is not None and found[0] == Rejection.MISSING_FIELD
    assert found[1].startswith(field + " ")


@pytest.mark.parametrize("value", [[1, 2], "STNMT-1", None])
def test_a_document_that_is_not_an_object_is_missing_fields(value: Any) -> None:
    assert problem(value, NOW) == (Rejection.MISSING_FIELD, "a document must be a JSON object")


@pytest.mark.parametrize(
    "number", ["07408500123", "0740850012345", "07408500123X", "０７４０８５００１２３４"]
)
def test_bad_citizen_id(number: str, document: Document) -> None:
    found = problem(document(citizen__SoDinhDanh=number), NOW)
    assert found is not None and found[0] == Rejection.BAD_CITIZEN_ID and repr(number) in found[1]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"occurred_at": "2026-13-01T00:00:00+00:00"}, "occurred_at"),
        ({"occurred_at": ABSENT}, "occurred_at"),
        ({"occurred_at": 1793000000}, "occurred_at"),
        ({"citizen__NgayThangNamSinh": "14/03/1985"}, "citizen.NgayThangNamSinh"),
        ({"citizen__NgayThangNamSinh": "1985-03-14T00:00:00"}, "citizen.NgayThangNamSinh"),
        ({"dossier__NgayTiepNhan": "yesterday"}, "dossier.NgayTiepNhan"),
        ({"dossier__NgayHenTra": 20261110}, "dossier.NgayHenTra"),
        ({"dossier__NgayKetThucXuLy": "2026-11-02 25:00"}, "dossier.NgayKetThucXuLy"),
    ],
)
def test_bad_date(changes: dict[str, Any], field: str, document: Document) -> None:
    found = problem(document(**changes), NOW)
    assert found is not None and found[0] == Rejection.BAD_DATE and found[1].startswith(field + " ")


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"dossier__NgayHenTra": "2026-10-31T09:00:00+00:00"}, "dossier.NgayHenTra is before"),
        ({"dossier__NgayKetThucXuLy": "2026-11-01T08:59:59+00:00"}, "dossier.NgayKetThucXuLy is before"),
        # Without an offset a time is Vietnam's: 09:00 there is 02:00 UTC, after 01:30 UTC.
        (
            {
                "dossier__NgayTiepNhan": "2026-11-01T09:00:00",
                "dossier__NgayKetThucXuLy": "2026-11-01T01:30:00Z",
            },
            "dossier.NgayKetThucXuLy is before",
        ),
        (
            {"dossier__NgayTiepNhan": "2026-11-06T12:00:01+00:00", "dossier__NgayHenTra": None},
            "in the future",
        ),
    ],
)
def test_date_order(changes: dict[str, Any], says: str, document: Document) -> None:
    found = problem(document(**changes), NOW)
    assert found is not None and found[0] == Rejection.DATE_ORDER and says in found[1]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"dossier__KenhThucHien": 4}, "dossier.KenhThucHien"),
        ({"dossier__KenhThucHien": 0}, "dossier.KenhThucHien"),
        ({"dossier__DuocThanhToanTrucTuyen": 3}, "dossier.DuocThanhToanTrucTuyen"),
        ({"dossier__DuocThanhToanTrucTuyen": "1"}, "dossier.DuocThanhToanTrucTuyen"),
        ({"dossier__DuocThanhToanTrucTuyen": True}, "dossier.DuocThanhToanTrucTuyen"),
        ({"dossier__PhiLePhi": -1}, "dossier.PhiLePhi"),
        ({"dossier__PhiLePhi": "free"}, "dossier.PhiLePhi"),
        ({"citizen__MaHuyen": "71"}, "citizen.MaHuyen"),
        ({"citizen__MaXa": "2570A"}, "citizen.MaXa"),
        ({"citizen__MaXa": 25700}, "citizen.MaXa"),
        ({"citizen__GioiTinh": "M"}, "citizen.GioiTinh"),
    ],
)
def test_bad_code(changes: dict[str, Any], field: str, document: Document) -> None:
    found = problem(document(**changes), NOW)
    assert found is not None and found[0] == Rejection.BAD_CODE and found[1].startswith(field + " ")


def test_the_first_failing_rule_wins(document: Document) -> None:
    every_fault = document(
        citizen__SoDinhDanh="123",
        occurred_at="soon",
        dossier__NgayHenTra="2020-01-01T00:00:00+00:00",
        dossier__KenhThucHien=9,
    )
    assert problem(every_fault, NOW)[0] == Rejection.BAD_CITIZEN_ID  # type: ignore[index]
    del every_fault["agency"]
    assert problem(every_fault, NOW)[0] == Rejection.MISSING_FIELD  # type: ignore[index]
    every_fault.update(agency="STNMT", citizen=document()["citizen"])
    assert problem(every_fault, NOW)[0] == Rejection.BAD_DATE  # type: ignore[index]
    every_fault["occurred_at"] = "2026-11-03T08:30:00+07:00"
    assert problem(every_fault, NOW)[0] == Rejection.DATE_ORDER  # type: ignore[index]


def test_digest_is_the_sha256_of_the_canonical_json(document: Document) -> None:
    good = document()
    canonical = json.dumps(good, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert digest(good) == hashlib.sha256(canonical.encode()).hexdigest()
    assert "Nguyễn Văn An" in canonical  # UTF-8, not \u escapes


def test_digest_ignores_key_order_but_not_values(document: Document) -> None:
    good = document()
    reordered = dict(reversed(good.items()))
    reordered["citizen"] = dict(reversed(good["citizen"].items()))
    assert digest(reordered) == digest(good)
    assert digest(document(citizen__HoVaTen="Nguyễn Văn Ân")) != digest(good)
    assert digest({"a": 1}) == hashlib.sha256(b'{"a":1}').hexdigest()
