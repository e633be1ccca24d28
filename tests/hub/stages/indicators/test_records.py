"""Unit tests for hub.stages.indicators.records: a dossier's dimensions, facts and exclusions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub.province import load_province
from hub.stages.indicators.records import UNKNOWN, UNVERIFIED, Exclusion, dossier_of, too_late

PROVINCE = load_province("74")
RECEIVED = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 09:00 in Vietnam
PUBLISHED = RECEIVED + timedelta(hours=3)


def record(**dossier: Any) -> dict[str, Any]:
    base = {
        "MaHoSo": "HS-1",
        "MaTTHC": "1.004227",
        "NgayTiepNhan": RECEIVED,
        "NgayHenTra": RECEIVED + timedelta(days=5),
        "NgayKetThucXuLy": RECEIVED + timedelta(days=2),
        "KenhThucHien": 2,
        "PhiLePhi": 50_000,
        "DuocThanhToanTrucTuyen": 1,
        "MaKetQua": "KQ-1",
        "DuongDanTepTinKetQua": "https://kq/1.pdf",
        "HoSoCoThanhPhanSoHoa": True,
        "DuocLayTuKhoDMQG": False,
        "TaiKhoanDuocXacThucVoiVNeID": True,
    }
    citizen = {"MaHuyen": "718", "MaXa": "25708"}
    return {"record_id": "STNMT-1", "citizen": citizen, "dossier": {**base, **dossier}}


def read(data: dict[str, Any], matched: bool = True) -> Any:
    return dossier_of(data, "land", matched=matched, published_at=PUBLISHED, province=PROVINCE)


def test_a_reconciled_dossier_counts_under_the_registry_s_district_and_commune() -> None:
    dossier = read(record())
    assert (dossier.department, dossier.district, dossier.commune) == ("land", "718", "25708")
    assert (dossier.procedure, dossier.received_on, dossier.exclusions) == ("1.004227", date(2026, 11, 2), ())
    facts = dossier.facts
    assert facts.received and facts.online and facts.has_fee and facts.paid_online and facts.finished
    assert facts.on_time and facts.e_result and facts.digitized and facts.vneid and facts.registry_matched
    assert not facts.from_data_store and not facts.synced


def test_a_rejected_dossier_counts_with_its_residence_unverified() -> None:
    dossier = read(record(), matched=False)
    assert (dossier.district, dossier.commune) == (UNVERIFIED, UNVERIFIED)
    assert not dossier.facts.registry_matched and dossier.exclusions == ()


def test_receipt_day_is_the_day_in_vietnam() -> None:
    late_evening_utc = datetime(2026, 11, 1, 17, 30, tzinfo=UTC)  # 00:30 on 2 November in Vietnam
    dossier = read(record(NgayTiepNhan=late_evening_utc, NgayHenTra=None, NgayKetThucXuLy=None))
    assert dossier.received_on == date(2026, 11, 2)


def test_no_receipt_date_is_out_of_every_denominator() -> None:
    dossier = read(record(NgayTiepNhan=None))
    assert dossier.received_on is None and not dossier.facts.received
    assert dossier.exclusions == (Exclusion.NO_RECEIPT_DATE,)


def test_a_receipt_date_in_the_future_is_treated_as_none() -> None:
    dossier = read(record(NgayTiepNhan=PUBLISHED + timedelta(days=3)))
    assert dossier.received_on is None and not dossier.facts.received
    assert dossier.exclusions == (Exclusion.RECEIVED_IN_FUTURE,)


def test_finished_before_received_is_out_of_the_on_time_indicator_only() -> None:
    dossier = read(record(NgayKetThucXuLy=RECEIVED - timedelta(days=1)))
    assert dossier.exclusions == (Exclusion.FINISHED_BEFORE_RECEIVED,)
    assert not dossier.facts.has_deadline and not dossier.facts.on_time
    assert dossier.facts.received and dossier.facts.digitized and dossier.received_on == date(2026, 11, 2)


def test_unknown_district_commune_and_procedure_are_counted_under_unknown() -> None:
    data = record(MaTTHC="TTHC 12")
    data["citizen"] = {"MaHuyen": "999", "MaXa": "25708"}
    dossier = read(data)
    assert (dossier.district, dossier.commune, dossier.procedure) == (UNKNOWN, UNKNOWN, UNKNOWN)
    assert set(dossier.exclusions) == {Exclusion.UNKNOWN_DISTRICT, Exclusion.UNKNOWN_PROCEDURE}
    data["citizen"] = {"MaHuyen": "718", "MaXa": "99999"}  # a commune of another district
    assert read(data).commune == UNKNOWN and read(data).district == "718"


def test_too_late_is_judged_from_publication_against_the_allowed_lateness() -> None:
    allowed = timedelta(days=31)
    received = date(2026, 11, 2)
    assert not too_late(received, datetime(2026, 12, 3, 16, 0, tzinfo=UTC), allowed)  # 3 Dec 23:00 ICT
    assert too_late(received, datetime(2026, 12, 3, 17, 0, tzinfo=UTC), allowed)  # 4 Dec 00:00 ICT
    assert not too_late(None, datetime(2030, 1, 1, tzinfo=UTC), allowed)
