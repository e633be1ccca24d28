"""What the indicators stage reads from one dossier (pure): its dimensions, its facts, and what
in it is impossible.

A dossier comes either reconciled (``lgsp.reconciled``: the citizen's residence verified by
the population registry) or rejected by reconciliation (``lgsp.rejected``: the department's
record as sent; its residence is not verified, so its district and commune are ``unverified``).
Event time is the dossier's receipt date (``NgayTiepNhan``) in Vietnam; on-time is judged as of
the moment the agency published the record (its Kafka timestamp), so the same input always
gives the same facts, whatever the order it is read in.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any

from hub.province import Province
from hub.stages.indicators.formulas import Facts, facts_bits, facts_from_bits, facts_of, received_on

__all__ = [
    "UNKNOWN",
    "UNVERIFIED",
    "Change",
    "Dossier",
    "Dossiers",
    "Exclusion",
    "dossier_of",
    "synced_change",
    "too_late",
]

UNVERIFIED = "unverified"  # the residence of a dossier whose citizen reconciliation did not match
UNKNOWN = "unknown"  # a code that is not in the province's reference data
_PROCEDURE = re.compile(r"^\d{1,3}(\.\d{1,9})+$")  # e.g. 1.001234, as the national portal numbers them
_FUTURE = timedelta(days=1)  # how far past its publication a dossier may say it was received


class Exclusion(StrEnum):
    """Why part of a dossier is left out of an indicator (``hub_indicator_exclusions_total``)."""

    NO_RECEIPT_DATE = "NO_RECEIPT_DATE"  # out of every denominator, as the formulas say
    RECEIVED_IN_FUTURE = "RECEIVED_IN_FUTURE"  # receipt date after publication: treated as none
    FINISHED_BEFORE_RECEIVED = "FINISHED_BEFORE_RECEIVED"  # out of the on-time indicator only
    UNKNOWN_DISTRICT = "UNKNOWN_DISTRICT"  # counted, under district/commune "unknown"
    UNKNOWN_PROCEDURE = "UNKNOWN_PROCEDURE"  # counted, under procedure "unknown"
    TOO_LATE = "TOO_LATE"  # published after the allowed lateness: kept on lgsp.indicators.late
    UNREADABLE = "UNREADABLE"  # not a department record: reconciliation dead-lettered it already


@dataclass(frozen=True, slots=True)
class Dossier:
    """One dossier as the indicators count it."""

    record_id: str
    department: str
    procedure: str
    district: str
    commune: str
    received_on: date | None
    facts: Facts
    exclusions: tuple[Exclusion, ...] = ()


# What a batch changes in the counts: dossiers (+n, or -n) per day received, department,
# district and facts (as bits).
Change = Counter[tuple[date, str, str, int]]


@dataclass
class Dossiers:
    """A batch of dossiers as columns, in batch order (``row``: each one's index in the batch);
    facts as bits (:func:`~hub.stages.indicators.formulas.facts_bits`). Iterating gives
    :class:`Dossier` objects."""

    row: list[int] = field(default_factory=list)
    record_id: list[str] = field(default_factory=list)
    department: list[str] = field(default_factory=list)
    procedure: list[str] = field(default_factory=list)
    district: list[str] = field(default_factory=list)
    commune: list[str] = field(default_factory=list)
    received_on: list[date | None] = field(default_factory=list)
    facts: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, dossiers: Iterable[Dossier]) -> Dossiers:
        out = cls()
        for i, dossier in enumerate(dossiers):
            out.append(i, dossier)
        return out

    def append(self, row: int, dossier: Dossier) -> None:
        self.row.append(row)
        self.record_id.append(dossier.record_id)
        self.department.append(dossier.department)
        self.procedure.append(dossier.procedure)
        self.district.append(dossier.district)
        self.commune.append(dossier.commune)
        self.received_on.append(dossier.received_on)
        self.facts.append(facts_bits(dossier.facts))

    def columns(self) -> tuple[list[Any], ...]:
        return (
            self.row,
            self.record_id,
            self.department,
            self.procedure,
            self.district,
            self.commune,
            self.received_on,
            self.facts,
        )

    def take(self, indexes: Iterable[int]) -> Dossiers:
        """The dossiers at ``indexes`` (positions in these columns), in that order."""
        at = list(indexes)
        return Dossiers(*([column[i] for i in at] for column in self.columns()))

    def merged(self, other: Dossiers) -> Dossiers:
        """These and ``other`` together, in batch order."""
        if not other.row:
            return self
        if not self.row:
            return other
        both = [a + b for a, b in zip(self.columns(), other.columns(), strict=True)]
        order = sorted(range(len(both[0])), key=both[0].__getitem__)
        return Dossiers(*([column[i] for i in order] for column in both))

    def change(self) -> Change:
        """What counting these dossiers changes; those without a receipt date are in no count."""
        grouped = Counter(zip(self.received_on, self.department, self.district, self.facts, strict=True))
        return Counter({(d, a, b, f): n for (d, a, b, f), n in grouped.items() if d is not None})

    def __len__(self) -> int:
        return len(self.row)

    def __iter__(self) -> Iterator[Dossier]:
        for _, record_id, department, procedure, district, commune, day, bits in zip(
            *self.columns(), strict=True
        ):
            yield Dossier(record_id, department, procedure, district, commune, day, facts_from_bits(bits))


def synced_change(dossiers: Iterable[Dossier]) -> Change:
    """What the exchange's acknowledgement of ``dossiers`` (their facts now synced) changes:
    each moves from its unsynced facts to its synced ones."""
    change: Change = Counter()
    for d in dossiers:
        if d.received_on is not None:
            bits = facts_bits(d.facts)
            change[d.received_on, d.department, d.district, facts_bits(d.facts._replace(synced=False))] -= 1
            change[d.received_on, d.department, d.district, bits] += 1
    return change


def dossier_of(
    record: Mapping[str, Any],
    department: str,
    *,
    matched: bool,
    published_at: datetime,
    province: Province,
) -> Dossier:
    """The dossier of a decoded reconciled record (``matched``) or rejected department record."""
    dossier = dict(record["dossier"])
    exclusions: list[Exclusion] = []
    received = dossier.get("NgayTiepNhan")
    if received is None:
        exclusions.append(Exclusion.NO_RECEIPT_DATE)
    elif received > published_at + _FUTURE:
        exclusions.append(Exclusion.RECEIVED_IN_FUTURE)
        dossier["NgayTiepNhan"] = received = None
    finished = dossier.get("NgayKetThucXuLy")
    facts = facts_of(dossier, registry_matched=matched, synced=False, as_of=published_at)
    if received is not None and finished is not None and finished < received:
        exclusions.append(Exclusion.FINISHED_BEFORE_RECEIVED)
        facts = facts._replace(has_deadline=False, on_time=False)  # out of the on-time denominator
    district, commune = _residence(record.get("citizen") or {}, matched, province, exclusions)
    procedure = str(dossier.get("MaTTHC") or "")
    if not _PROCEDURE.match(procedure):
        exclusions.append(Exclusion.UNKNOWN_PROCEDURE)
        procedure = UNKNOWN
    return Dossier(
        str(record["record_id"]),
        department,
        procedure,
        district,
        commune,
        received_on(received),
        facts,
        tuple(exclusions),
    )


def _residence(
    citizen: Mapping[str, Any], matched: bool, province: Province, exclusions: list[Exclusion]
) -> tuple[str, str]:
    """District and commune: the registry's, when reconciliation matched the citizen."""
    if not matched:
        return UNVERIFIED, UNVERIFIED
    district, commune = citizen.get("MaHuyen"), citizen.get("MaXa")
    communes = _communes(province).get(district)
    if communes is None:
        exclusions.append(Exclusion.UNKNOWN_DISTRICT)
        return UNKNOWN, UNKNOWN
    return str(district), commune if commune in communes else UNKNOWN


@lru_cache(maxsize=8)
def _communes(province: Province) -> dict[str | None, frozenset[str]]:
    """Each district code of ``province`` → its commune codes."""
    return {d.code: frozenset(d.communes) for d in province.districts}


def too_late(received: date | None, published_at: datetime, allowed: timedelta) -> bool:
    """Whether a dossier received on ``received`` was published after the allowed lateness."""
    published_on = received_on(published_at)
    return received is not None and published_on is not None and published_on - received > allowed
