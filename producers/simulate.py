"""Simulated department records, with the dirt real department exports have.

Every record comes with the outcome reconciliation should reach for it (the ground truth),
kept apart from the record itself.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hub.reconcile import Reason
from hub.registry.model import RegistryCitizen
from hub.topics import Department

__all__ = ["DirtProfile", "SimulatedRecord", "generate_records"]


@dataclass(frozen=True)
class DirtProfile:
    """Share of records affected by each kind of dirt (the rest are clean)."""

    lost_leading_zero: float = 0.02
    separators: float = 0.02
    legacy_instead: float = 0.02
    stripped_diacritics: float = 0.015
    nfd_unicode: float = 0.01
    case_and_spacing: float = 0.015
    mistyped_birth_date: float = 0.005
    unknown_citizen: float = 0.005
    deceased_citizen: float = 0.002
    inconsistent_number: float = 0.002
    garbage_number: float = 0.002

    def kinds(self) -> list[tuple[str, float]]:
        return list(vars(self).items())


EXPECTED = {
    "clean": Reason.MATCHED,
    "lost_leading_zero": Reason.MATCHED_REPAIRED_ID,
    "separators": Reason.MATCHED_REPAIRED_ID,
    "legacy_instead": Reason.MATCHED_LEGACY_ID,
    "stripped_diacritics": Reason.MATCHED_NORMALIZED_NAME,
    "nfd_unicode": Reason.MATCHED_NORMALIZED_NAME,
    "case_and_spacing": Reason.MATCHED_NORMALIZED_NAME,
    "mistyped_birth_date": Reason.DOB_MISMATCH,
    "unknown_citizen": Reason.UNKNOWN_CITIZEN,
    "deceased_citizen": Reason.EVENT_AFTER_DEATH,
    "inconsistent_number": Reason.ID_INCONSISTENT,
    "garbage_number": Reason.MALFORMED_ID,
}


_NAME_DIRT = frozenset({"stripped_diacritics", "nfd_unicode", "case_and_spacing"})


@dataclass(frozen=True)
class SimulatedRecord:
    """A department record, the dirt applied to it, and the outcome expected for it."""

    department: Department
    record: dict[str, Any]
    dirt: str
    expected: Reason = field(default=Reason.MATCHED)


def _strip_diacritics(text: str) -> str:
    bare = unicodedata.normalize("NFD", text).replace("đ", "d").replace("Đ", "D")
    return "".join(ch for ch in bare if not unicodedata.combining(ch))


def _declared(citizen: RegistryCitizen) -> dict[str, Any]:
    """The citizen as a department declares them: registry fields, without the legacy number."""
    return {**citizen.as_citizen_record(), "SoCMND": None}


def _dirty(rng: random.Random, kind: str, declared: dict[str, Any], citizen: RegistryCitizen) -> None:
    """Apply one kind of dirt to ``declared`` in place."""
    number = citizen.citizen_id
    if kind == "lost_leading_zero":
        declared["SoDinhDanh"] = number[1:]  # every province code starts with 0
    elif kind == "separators":
        sep = rng.choice([" ", "-", "."])
        declared["SoDinhDanh"] = f"{number[:3]}{sep}{number[3:6]}{sep}{number[6:]}"
    elif kind == "legacy_instead":
        declared["SoDinhDanh"], declared["SoCMND"] = None, citizen.legacy_id
    elif kind == "stripped_diacritics":
        declared["HoVaTen"] = _strip_diacritics(citizen.full_name)
    elif kind == "nfd_unicode":
        declared["HoVaTen"] = unicodedata.normalize("NFD", citizen.full_name)
    elif kind == "case_and_spacing":
        declared["HoVaTen"] = "  " + citizen.full_name.upper().replace(" ", "   ") + " "
    elif kind == "mistyped_birth_date":
        dob = citizen.date_of_birth
        declared["NgayThangNamSinh"] = dob.replace(day=dob.day % 28 + 1)
    elif kind == "unknown_citizen":
        declared["SoDinhDanh"] = number[:6] + f"{(int(number[6:]) + 500_000) % 1_000_000:06d}"
    elif kind == "inconsistent_number":
        declared["SoDinhDanh"] = "099" + number[3:]
    elif kind == "garbage_number":
        declared["SoDinhDanh"] = rng.choice(["N/A", "chưa có", "12AB5678", "0", "#REF!"])


def _dossier(rng: random.Random, department: Department, n: int, received: datetime) -> dict[str, Any]:
    """Dossier fields calibrated on Bình Dương's published figures."""
    online = rng.random() < 0.62
    fee = rng.choice([0, 0, 0, 20_000, 50_000, 100_000])
    due = received + timedelta(days=rng.choice([1, 3, 5, 7, 15]))
    finished = due - timedelta(hours=rng.randrange(1, 48)) if rng.random() < 0.98 else due + timedelta(days=2)
    e_result = rng.random() < 0.6
    return {
        "MaHoSo": f"{department.agency}-{received:%y%m%d}-{n:08d}",
        "MaTTHC": f"1.{rng.randrange(1000, 9999)}",
        "NgayTiepNhan": received,
        "NgayHenTra": due,
        "NgayKetThucXuLy": finished if rng.random() < 0.9 else None,
        "KenhThucHien": 2 if online else rng.choice([1, 1, 1, 3]),
        "PhiLePhi": fee,
        "DuocThanhToanTrucTuyen": (1 if rng.random() < 0.5 else 2) if fee and rng.random() < 0.38 else 0,
        "MaKetQua": f"KQ-{n:08d}" if e_result else None,
        "DuongDanTepTinKetQua": f"https://dichvucong.example/kq/{n:08d}.pdf" if e_result else None,
        "HoSoCoThanhPhanSoHoa": rng.random() < 0.0715,
        "DuocLayTuKhoDMQG": rng.random() < 0.05,
        "TaiKhoanDuocXacThucVoiVNeID": online and rng.random() < 0.7,
    }


def _own_fields(rng: random.Random, department: Department, event_day: date, n: int) -> dict[str, Any]:
    if department is Department.CIVIL_STATUS:
        return {
            "event_type": rng.choice(["BIRTH", "MARRIAGE", "DEATH"]),
            "registration_number": f"{n:06d}/{event_day.year}",
            "event_date": event_day,
        }
    if department is Department.LAND:
        return {
            "transaction_type": rng.choice(["REGISTRATION", "TRANSFER", "MORTGAGE"]),
            "map_sheet_number": rng.randrange(1, 120),
            "parcel_number": rng.randrange(1, 2500),
            "area_m2": round(rng.uniform(40, 5000), 1),
        }
    if department is Department.HEALTH:
        return {
            "entry_type": rng.choice(["CHECKUP", "VACCINATION", "TREATMENT"]),
            "facility_code": f"74{rng.randrange(1, 400):03d}",
            "health_book_id": f"SSK{n:010d}",
        }
    return {
        "event_type": rng.choice(["ENROLLMENT", "CONTRIBUTION", "BENEFIT_PAYMENT"]),
        "bhxh_code": f"74{rng.randrange(10**8):08d}",
        "amount_vnd": rng.randrange(100, 5000) * 1000,
        "cashless": rng.random() < 0.8,
    }


def generate_records(
    population: Sequence[RegistryCitizen],
    department: Department,
    count: int,
    seed: int,
    dirt: DirtProfile | None = None,
    start: date = date(2026, 11, 1),
    days: int = 7,
) -> Iterator[SimulatedRecord]:
    """``count`` records of ``department`` about citizens of ``population``; deterministic."""
    rng = random.Random(f"{seed}/{department.value}")
    kinds = (dirt or DirtProfile()).kinds()
    living = [c for c in population if c.deceased_on is None]
    deceased = [c for c in population if c.deceased_on is not None]
    with_legacy = [c for c in living if c.legacy_id]
    for n in range(count):
        kind = _pick(rng, kinds)
        pool = {"legacy_instead": with_legacy, "deceased_citizen": deceased}.get(kind, living)
        if not pool:
            kind, pool = "clean", living
        citizen = rng.choice(pool)
        day = start + timedelta(days=rng.randrange(days))
        if kind == "deceased_citizen":
            assert citizen.deceased_on is not None
            day = max(day, citizen.deceased_on + timedelta(days=1))
        received = datetime.combine(day, time(7, 30), UTC) + timedelta(minutes=rng.randrange(600))
        declared = _declared(citizen)
        _dirty(rng, kind, declared, citizen)
        if kind in _NAME_DIRT and declared["HoVaTen"] == citizen.full_name:
            kind = "clean"  # nothing to change: the name has no diacritics (e.g. "Phan Minh Chi")
        record = {
            "record_id": f"{department.agency}-{seed}-{n:09d}",
            "agency": department.agency,
            "occurred_at": received,
            "citizen": declared,
            "dossier": _dossier(rng, department, n, received),
            **_own_fields(rng, department, day, n),
        }
        yield SimulatedRecord(department, record, kind, EXPECTED[kind])


def _pick(rng: random.Random, kinds: list[tuple[str, float]]) -> str:
    roll = rng.random()
    for kind, share in kinds:
        if roll < share:
            return kind
        roll -= share
    return "clean"
