"""The indicators the province is scored on (Quyết định 766/QĐ-TTg), as pure functions.

Reuse rate (tỷ lệ khai thác, sử dụng lại thông tin, dữ liệu số hóa): dossiers received in the
period with at least one component that reuses already-digitized data, divided by dossiers
received in the period; dossiers without a receipt date are excluded. Full points at ≥ 80 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

__all__ = ["ALL_DEPARTMENTS", "REUSE_RATE", "DossierFacts", "Ratio", "dossier_facts", "reuse_rate"]

REUSE_RATE = "reuse_rate"
ALL_DEPARTMENTS = "all"


@dataclass(frozen=True, slots=True)
class DossierFacts:
    """What the indicator formulas need from one department record."""

    record_id: str
    department: str
    received_on: date | None
    reuses_digitized: bool


@dataclass(frozen=True, slots=True)
class Ratio:
    """An indicator's value: numerator over denominator."""

    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


def dossier_facts(department: str, record: Mapping[str, Any]) -> DossierFacts:
    """The indicator-relevant facts of a decoded department record."""
    dossier = record["dossier"]
    received = dossier.get("NgayTiepNhan")
    return DossierFacts(
        record_id=record["record_id"],
        department=department,
        received_on=received.date() if isinstance(received, datetime) else None,
        reuses_digitized=bool(dossier.get("HoSoCoThanhPhanSoHoa")),
    )


def reuse_rate(facts: Iterable[DossierFacts]) -> dict[tuple[str, date], Ratio]:
    """Reuse rate per (department, day received), plus ``all`` departments per day."""
    counts: dict[tuple[str, date], list[int]] = {}
    for fact in facts:
        if fact.received_on is None:
            continue
        for key in ((fact.department, fact.received_on), (ALL_DEPARTMENTS, fact.received_on)):
            pair = counts.setdefault(key, [0, 0])
            pair[0] += fact.reuses_digitized
            pair[1] += 1
    return {key: Ratio(num, den) for key, (num, den) in counts.items()}
