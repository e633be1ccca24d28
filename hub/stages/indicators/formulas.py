"""The indicators the province is scored on (Quyết định 766/QĐ-TTg), as pure functions.

Each dossier is reduced once to its :class:`Facts`; the store counts dossiers per set of facts
(a :data:`Tally`) and only the rules here decide what is in a numerator or a denominator.
Every denominator holds only dossiers with a receipt date. An indicator's score is its points
times its rate over the rate that earns full points, capped at the points.

Where Quyết định 766 asks for something the hub's data does not hold (surveys, certified
copies, published procedures), it is listed in :data:`NOT_COMPUTABLE` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from hub.province import VIETNAM

__all__ = [
    "ALL",
    "GROUPS",
    "INDICATORS",
    "INDICATOR_NAMES",
    "NOT_COMPUTABLE",
    "REUSE_RATE",
    "REUSE_TARGET",
    "Facts",
    "Indicator",
    "NotComputable",
    "Ratio",
    "Tally",
    "evaluate",
    "evaluate_bits",
    "facts_bits",
    "facts_from_bits",
    "facts_of",
    "on_time",
    "received_on",
]

REUSE_RATE = "reuse_rate"
REUSE_TARGET = 0.80  # full points at or above this rate
ALL = "all"  # the value of a dimension (department, day…) meaning "every one"


TRANSPARENCY = "Transparency"
PROGRESS = "Processing progress"
ONLINE = "Online public services"
PAYMENT = "Online payment"
DIGITIZATION = "Digitization"
SATISFACTION = "Satisfaction"

# The six groups of Quyết định 766 and their points (100 in all).
GROUPS: tuple[tuple[str, float], ...] = (
    (TRANSPARENCY, 18),
    (PROGRESS, 20),
    (ONLINE, 12),
    (PAYMENT, 10),
    (DIGITIZATION, 22),
    (SATISFACTION, 18),
)


class Facts(NamedTuple):
    """One dossier's facts as the formulas read them (on_time: as of a given moment)."""

    received: bool  # has a receipt date (dossier.NgayTiepNhan); False → out of EVERY denominator
    online: bool  # dossier.KenhThucHien == 2
    has_fee: bool  # dossier.PhiLePhi > 0
    paid_online: bool  # dossier.DuocThanhToanTrucTuyen in (1, 2)
    finished: bool  # dossier.NgayKetThucXuLy is not None
    e_result: bool  # dossier.DuongDanTepTinKetQua is a non-empty string
    has_deadline: bool  # dossier.NgayHenTra is not None
    on_time: bool  # see on_time() below
    digitized: bool  # dossier.HoSoCoThanhPhanSoHoa
    from_data_store: bool  # dossier.DuocLayTuKhoDMQG
    vneid: bool  # dossier.TaiKhoanDuocXacThucVoiVNeID
    registry_matched: bool  # the citizen was reconciled against the population registry
    synced: bool  # the national exchange acknowledged the record (ACCEPTED or DUPLICATE)


Tally = Mapping[Facts, int]  # how many dossiers share each Facts


@lru_cache(maxsize=1 << 14)
def facts_bits(facts: Facts) -> int:
    """``facts`` as bits, the first field lowest (how the store and a batch's columns hold them)."""
    return sum(1 << i for i, fact in enumerate(facts) if fact)


@lru_cache(maxsize=1 << 14)
def facts_from_bits(bits: int) -> Facts:
    return Facts(*(bool(bits >> i & 1) for i in range(len(Facts._fields))))


Rule = Callable[[Facts], bool]


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


@dataclass(frozen=True, slots=True)
class Indicator:
    """A computable 766 indicator: what it counts, in words, and the points it carries."""

    name: str
    title: str
    group: str
    points: float
    full_at: float
    numerator: str
    denominator: str
    exclusions: str

    def ratio(self, tally: Tally) -> Ratio:
        """Dossiers in the numerator over dossiers in the denominator, among received ones."""
        counts, among = _RULES[self.name]
        numerator = denominator = 0
        for facts, n in tally.items():
            if facts.received and among(facts):
                denominator += n
                numerator += n if counts(facts) else 0
        return Ratio(numerator, denominator)

    def role(self, facts: Facts) -> tuple[bool, bool]:
        """Whether a dossier of ``facts`` is in this indicator's denominator, and its numerator."""
        counts, among = _RULES[self.name]
        denominator = facts.received and among(facts)
        return denominator, denominator and counts(facts)

    def score(self, ratio: Ratio) -> float | None:
        """The points earned at ``ratio``: pro rata up to ``full_at``; None without a denominator."""
        rate = ratio.rate
        return None if rate is None else self.points * min(1.0, rate / self.full_at)


@dataclass(frozen=True, slots=True)
class NotComputable:
    """A 766 indicator the hub's data cannot give, and why."""

    name: str
    title: str
    group: str
    points: float
    why: str


def _anyone(facts: Facts) -> bool:
    return True


# name → (in the numerator, in the denominator); received is required of both by Indicator.ratio.
_RULES: dict[str, tuple[Rule, Rule]] = {
    "sync_rate": (lambda f: f.synced, _anyone),
    "on_time_rate": (lambda f: f.on_time, lambda f: f.has_deadline),
    "online_rate": (lambda f: f.online, _anyone),
    "online_payment_rate": (lambda f: f.paid_online, lambda f: f.has_fee),
    "e_result_rate": (lambda f: f.e_result, lambda f: f.finished),
    "digitization_rate": (lambda f: f.digitized and (not f.finished or f.e_result), _anyone),
    REUSE_RATE: (lambda f: f.digitized, _anyone),
    "data_store_rate": (lambda f: f.from_data_store, _anyone),
    "vneid_rate": (lambda f: f.vneid, _anyone),
    "population_data_rate": (lambda f: f.registry_matched, _anyone),
}

_RECEIVED = "dossiers received (with a receipt date, NgayTiepNhan)"
_NO_RECEIPT = "Dossiers without a receipt date (NgayTiepNhan)."

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "sync_rate", "Dossiers synced to the national portal", TRANSPARENCY, 6, 1.0,
        "received dossiers the national exchange acknowledged (accepted, or already held)",
        _RECEIVED, _NO_RECEIPT,
    ),
    Indicator(
        "on_time_rate", "Dossiers processed on time", PROGRESS, 20, 1.0,
        "received dossiers with a deadline that finished no later than NgayHenTra, or are "
        "unfinished and not yet past it at the moment of computing",
        f"{_RECEIVED} that have a promised return date (NgayHenTra)",
        f"{_NO_RECEIPT} Dossiers without NgayHenTra. Time the citizen spends supplementing a "
        "dossier is not in the hub's data, so it is not deducted: a late return is late.",
    ),
    Indicator(
        "online_rate", "Dossiers submitted online", ONLINE, 12, 0.50,
        "received dossiers submitted online (KenhThucHien 2)", _RECEIVED,
        f"{_NO_RECEIPT} The hub does not know which procedures require an electronic result, so "
        "an online dossier counts whether or not it has one.",
    ),
    Indicator(
        "online_payment_rate", "Fees paid online", PAYMENT, 10, 1.0,
        "received dossiers with a fee paid online (DuocThanhToanTrucTuyen 1 national portal "
        "or 2 provincial gateway)",
        f"{_RECEIVED} whose fee (PhiLePhi) is above zero",
        f"{_NO_RECEIPT} Dossiers of procedures without a fee (PhiLePhi 0).",
    ),
    Indicator(
        "e_result_rate", "Electronic results", DIGITIZATION, 6, 1.0,
        "finished dossiers with a link to an electronic result file (DuongDanTepTinKetQua)",
        f"{_RECEIVED} that are finished (NgayKetThucXuLy set)",
        f"{_NO_RECEIPT} Unfinished dossiers. The hub has no list of which procedures return a "
        "result, so every finished dossier is taken to return one.",
    ),
    Indicator(
        "digitization_rate", "Dossiers digitized", DIGITIZATION, 4, 0.80,
        "received dossiers with digitized components (HoSoCoThanhPhanSoHoa) that, once "
        "finished, also have an electronic result",
        _RECEIVED,
        f"{_NO_RECEIPT} A finished dossier without an electronic result is in the denominator "
        "but not the numerator.",
    ),
    Indicator(
        REUSE_RATE, "Digitized data reused", DIGITIZATION, 2, REUSE_TARGET,
        "received dossiers with at least one component reusing already-digitized data "
        "(HoSoCoThanhPhanSoHoa)",
        _RECEIVED, _NO_RECEIPT,
    ),
    Indicator(
        "data_store_rate", "Personal data store used", DIGITIZATION, 4, 1.0,
        "received dossiers with a component taken from the citizen's national data store "
        "(DuocLayTuKhoDMQG)",
        _RECEIVED, _NO_RECEIPT,
    ),
    Indicator(
        "vneid_rate", "Population data use: VNeID", DIGITIZATION, 2, 1.0,
        "received dossiers whose applicant was authenticated with VNeID (TaiKhoanDuocXacThucVoiVNeID)",
        _RECEIVED, _NO_RECEIPT,
    ),
    Indicator(
        "population_data_rate", "Population data use: population database", DIGITIZATION, 2, 1.0,
        "received dossiers whose citizen the hub reconciled against the population registry",
        _RECEIVED, _NO_RECEIPT,
    ),
)  # fmt: skip

INDICATOR_NAMES: tuple[str, ...] = tuple(indicator.name for indicator in INDICATORS)

NOT_COMPUTABLE: tuple[NotComputable, ...] = (
    NotComputable(
        "publication", "Procedures published and kept current", TRANSPARENCY, 12,
        "scored on the portal's publication of procedures, which is not in the hub's data",
    ),
    NotComputable(
        "e_copies", "Certified electronic copies", DIGITIZATION, 2,
        "certified electronic copies are not in the dossier fields the hub receives",
    ),
    NotComputable(
        "satisfaction", "Citizen satisfaction", SATISFACTION, 18,
        "measured by surveys of citizens and businesses, not by dossiers",
    ),
)  # fmt: skip


def on_time(finished_at: datetime | None, due_at: datetime | None, as_of: datetime) -> bool:
    """Finished no later than due; or unfinished and not yet due at ``as_of``; no deadline → False
    (such dossiers are outside the on-time denominator anyway)."""
    if due_at is None:
        return False
    return (finished_at if finished_at is not None else as_of) <= due_at


def facts_of(dossier: Mapping[str, Any], *, registry_matched: bool, synced: bool, as_of: datetime) -> Facts:
    """The Facts of a decoded vn.lgsp.Dossier dict (timestamps are tz-aware datetimes or None;
    fields with Avro defaults may be missing from the dict → use the schema's default)."""
    finished_at = dossier.get("NgayKetThucXuLy")
    due_at = dossier.get("NgayHenTra")
    link = dossier.get("DuongDanTepTinKetQua")
    return Facts(
        received=dossier.get("NgayTiepNhan") is not None,
        online=dossier["KenhThucHien"] == 2,
        has_fee=dossier.get("PhiLePhi", 0) > 0,
        paid_online=dossier.get("DuocThanhToanTrucTuyen", 0) in (1, 2),
        finished=finished_at is not None,
        e_result=isinstance(link, str) and link.strip() != "",
        has_deadline=due_at is not None,
        on_time=on_time(finished_at, due_at, as_of),
        digitized=bool(dossier.get("HoSoCoThanhPhanSoHoa", False)),
        from_data_store=bool(dossier.get("DuocLayTuKhoDMQG", False)),
        vneid=bool(dossier.get("TaiKhoanDuocXacThucVoiVNeID", False)),
        registry_matched=registry_matched,
        synced=synced,
    )


def evaluate(tally: Tally) -> dict[str, Ratio]:
    """Every indicator's Ratio over ``tally`` (name → Ratio), in INDICATORS order."""
    return {indicator.name: indicator.ratio(tally) for indicator in INDICATORS}


def evaluate_bits(tally: Mapping[int, int]) -> dict[str, Ratio]:
    """:func:`evaluate` of a tally whose facts are held as bits (:func:`facts_bits`): one matrix
    product over every set of facts at once, instead of a rule call per set and indicator."""
    if not tally:
        return {indicator.name: Ratio(0, 0) for indicator in INDICATORS}
    bits = np.fromiter(tally.keys(), np.int64, len(tally))
    counts = np.fromiter(tally.values(), np.int64, len(tally))
    sums = (counts @ _membership()[bits]).tolist()
    return {indicator.name: Ratio(sums[2 * i], sums[2 * i + 1]) for i, indicator in enumerate(INDICATORS)}


@cache
def _membership() -> npt.NDArray[np.int64]:
    """For every set of facts (as bits): 1 where it is in each indicator's numerator, then its
    denominator, as :meth:`Indicator.ratio` decides."""
    table = np.zeros((1 << len(Facts._fields), 2 * len(INDICATORS)), np.int64)
    for bits in range(len(table)):
        one = {facts_from_bits(bits): 1}
        for i, indicator in enumerate(INDICATORS):
            ratio = indicator.ratio(one)
            table[bits, 2 * i : 2 * i + 2] = (ratio.numerator, ratio.denominator)
    return table


def received_on(moment: datetime | None) -> date | None:
    """The receipt DAY in Vietnam time (UTC+7) of a NgayTiepNhan timestamp; None stays None.

    A naive timestamp is taken as UTC, as Avro's timestamp-millis is.
    """
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VIETNAM).date()
