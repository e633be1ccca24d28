"""The indicators the province is scored on (Quyết định 766/QĐ-TTg), as pure functions.

These are the formulas that run: the stage and ``hub demo`` count dossiers (in SQL, grouped by
the facts below) and hand the counts to these functions, which alone decide what is in a
numerator or a denominator.

Reuse rate (tỷ lệ khai thác, sử dụng lại thông tin, dữ liệu số hóa): dossiers received in the
period with at least one component that reuses already-digitized data, divided by dossiers
received in the period; dossiers without a receipt date are excluded. Full points at ≥ 80 %.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

__all__ = [
    "ALL_DEPARTMENTS",
    "REUSE_RATE",
    "REUSE_TARGET",
    "DossierFacts",
    "Ratio",
    "Tally",
    "dossier_facts",
    "reuse_rate",
    "reuse_rate_of",
    "tally",
    "totals",
]

REUSE_RATE = "reuse_rate"
REUSE_TARGET = 0.80  # full points at or above this rate
ALL_DEPARTMENTS = "all"

# How many dossiers share the same facts: (department, received on, reuses digitized data) → count.
Tally = Mapping[tuple[str, date | None, bool], int]


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

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.numerator + other.numerator, self.denominator + other.denominator)


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


def tally(facts: Iterable[DossierFacts]) -> Tally:
    """Count dossiers by the facts the formulas read."""
    return Counter((f.department, f.received_on, f.reuses_digitized) for f in facts)


def reuse_rate_of(counts: Tally) -> dict[tuple[str, date], Ratio]:
    """Reuse rate per (department, day received), plus ``all`` departments per day.

    A dossier without a receipt date is in neither the numerator nor the denominator.
    """
    rates: dict[tuple[str, date], Ratio] = {}
    for (department, received_on, reuses), n in counts.items():
        if received_on is None or n <= 0:
            continue
        part = Ratio(n if reuses else 0, n)
        for key in ((department, received_on), (ALL_DEPARTMENTS, received_on)):
            rates[key] = rates.get(key, Ratio(0, 0)) + part
    return rates


def reuse_rate(facts: Iterable[DossierFacts]) -> dict[tuple[str, date], Ratio]:
    """Reuse rate per (department, day received) of individual dossiers."""
    return reuse_rate_of(tally(facts))


def totals(rates: Mapping[tuple[str, date], Ratio]) -> dict[str, Ratio]:
    """Per department (and ``all``), the rate over every day in ``rates``."""
    result: dict[str, Ratio] = {}
    for (department, _), ratio in rates.items():
        result[department] = result.get(department, Ratio(0, 0)) + ratio
    return result
