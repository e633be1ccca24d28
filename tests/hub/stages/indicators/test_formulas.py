"""Unit tests for hub.stages.indicators.formulas: dossier facts and the reuse rate."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from hub.stages.indicators.formulas import ALL_DEPARTMENTS, DossierFacts, Ratio, dossier_facts, reuse_rate

NOV_2 = date(2026, 11, 2)
NOV_3 = date(2026, 11, 3)


def record(record_id: str, received: datetime | None, reuses: bool | None) -> dict[str, Any]:
    dossier: dict[str, Any] = {"MaHoSo": f"HS-{record_id}", "NgayTiepNhan": received}
    if reuses is not None:
        dossier["HoSoCoThanhPhanSoHoa"] = reuses
    return {"record_id": record_id, "agency": "STNMT", "dossier": dossier}


def fact(department: str, received_on: date | None, reuses: bool, n: int = 0) -> DossierFacts:
    return DossierFacts(f"{department}-{n}", department, received_on, reuses)


def test_dossier_facts_of_a_received_dossier() -> None:
    facts = dossier_facts("land", record("r1", datetime(2026, 11, 2, 9, 30, tzinfo=UTC), True))
    assert facts == DossierFacts("r1", "land", NOV_2, True)


def test_dossier_facts_without_receipt_date_or_reuse_flag() -> None:
    facts = dossier_facts("health", record("r2", None, None))
    assert facts.received_on is None
    assert facts.reuses_digitized is False
    assert facts.department == "health"
    assert facts.record_id == "r2"


def test_ratio_rate() -> None:
    assert Ratio(3, 4).rate == pytest.approx(0.75)
    assert Ratio(0, 0).rate is None


def test_reuse_rate_per_department_and_all() -> None:
    facts = [
        fact("land", NOV_2, True, 1),
        fact("land", NOV_2, False, 2),
        fact("land", NOV_2, True, 3),
        fact("health", NOV_2, False, 4),
    ]
    assert reuse_rate(facts) == {
        ("land", NOV_2): Ratio(2, 3),
        ("health", NOV_2): Ratio(0, 1),
        (ALL_DEPARTMENTS, NOV_2): Ratio(2, 4),
    }


def test_reuse_rate_excludes_dossiers_without_receipt_date() -> None:
    facts = [
        fact("land", NOV_2, True, 1),
        fact("land", None, False, 2),  # not received: neither numerator nor denominator
        fact("land", None, True, 3),
        fact("civil_status", None, True, 4),  # only unreceived dossiers: no entry at all
    ]
    rates = reuse_rate(facts)
    assert rates == {("land", NOV_2): Ratio(1, 1), (ALL_DEPARTMENTS, NOV_2): Ratio(1, 1)}
    assert all(department != "civil_status" for department, _ in rates)


def test_reuse_rate_per_day() -> None:
    facts = [
        fact("land", NOV_2, True, 1),
        fact("land", NOV_3, False, 2),
        fact("land", NOV_3, False, 3),
        fact("social_insurance", NOV_3, True, 4),
    ]
    rates = reuse_rate(facts)
    assert rates[("land", NOV_2)] == Ratio(1, 1)
    assert rates[("land", NOV_3)] == Ratio(0, 2)
    assert rates[("social_insurance", NOV_3)] == Ratio(1, 1)
    assert rates[(ALL_DEPARTMENTS, NOV_2)] == Ratio(1, 1)
    assert rates[(ALL_DEPARTMENTS, NOV_3)] == Ratio(1, 3)
    assert rates[(ALL_DEPARTMENTS, NOV_3)].rate == pytest.approx(1 / 3)


def test_reuse_rate_of_nothing_is_empty() -> None:
    assert reuse_rate([]) == {}


def test_reuse_rate_from_records() -> None:
    at = datetime(2026, 11, 2, 23, 59, tzinfo=UTC)
    records = [record("a", at, True), record("b", at, False), record("c", None, True)]
    rates = reuse_rate(dossier_facts("land", r) for r in records)
    assert rates[("land", NOV_2)] == Ratio(1, 2)
    assert rates[(ALL_DEPARTMENTS, NOV_2)].rate == pytest.approx(0.5)
