"""Reconciliation: decide, for one declared citizen, whether the population registry knows them.

Pure functions only: no I/O. The stream processor in :mod:`hub.stages.reconcile.stage` feeds
them decoded records and a :class:`~hub.registry.RegistrySnapshot`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Protocol

from hub.citizen_id import id_consistent, repair_id
from hub.reasons import Reason
from hub.registry.model import RegistryCitizen

__all__ = ["Decision", "RegistryView", "fold_name", "reconcile"]


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one record; ``citizen`` is the registry's row when matched."""

    reason: Reason
    detail: str
    citizen: RegistryCitizen | None = None

    @property
    def matched(self) -> bool:
        return self.reason.matched


class RegistryView(Protocol):
    """What reconciliation needs from the registry."""

    def by_id(self, citizen_id: str) -> RegistryCitizen | None: ...

    def by_legacy(self, legacy_id: str) -> RegistryCitizen | None: ...


@lru_cache(maxsize=65536)
def fold_name(name: str) -> str:
    """A name without case, diacritics, extra spaces or word order: for tolerant comparison."""
    decomposed = unicodedata.normalize("NFD", name.casefold()).replace("đ", "d")
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(sorted(bare.split()))


def _compare_name(declared: str, registered: str) -> bool | None:
    """True: same name; False: same after normalisation; None: different people's names."""
    if declared == registered:
        return True
    return False if fold_name(declared) == fold_name(registered) else None


_GENDERS = {"MALE": "M", "FEMALE": "F"}


def reconcile(
    citizen: Mapping[str, Any],
    event_day: date | None,
    registry: RegistryView,
    provinces: frozenset[str],
) -> Decision:
    """Match the declared ``citizen`` (a decoded ``vn.lgsp.Citizen``) against ``registry``."""
    raw_id, raw_legacy = citizen.get("SoDinhDanh"), citizen.get("SoCMND")
    if not (raw_id and raw_id.strip()) and not (raw_legacy and raw_legacy.strip()):
        return Decision(Reason.MISSING_ID, "record carries no citizen number")
    birth = citizen.get("NgayThangNamSinh")
    gender = _GENDERS.get(citizen.get("GioiTinh") or "")
    found, how, why_not = _lookup(raw_id, raw_legacy, birth, gender, registry, provinces)
    if found is None:
        return why_not
    same_name = _compare_name(citizen.get("HoVaTen") or "", found.full_name)
    if same_name is None:
        return Decision(Reason.NAME_MISMATCH, "declared name differs from the registry's", found)
    if birth is not None and birth != found.date_of_birth:
        return Decision(
            Reason.DOB_MISMATCH, f"declared birth date {birth} differs from the registry's", found
        )
    if found.deceased_on and event_day and event_day > found.deceased_on:
        return Decision(
            Reason.EVENT_AFTER_DEATH, f"event on {event_day}, citizen died {found.deceased_on}", found
        )
    if how is None and same_name is False:
        how = Reason.MATCHED_NORMALIZED_NAME
    return Decision(how or Reason.MATCHED, "", found)


_UNKNOWN = Decision(Reason.UNKNOWN_CITIZEN, "no citizen with this number in the registry")


def _lookup(
    raw_id: str | None,
    raw_legacy: str | None,
    birth: date | None,
    gender: str | None,
    registry: RegistryView,
    provinces: frozenset[str],
) -> tuple[RegistryCitizen | None, Reason | None, Decision]:
    """The registry row for the declared numbers, how it was found, or why it was not."""
    failure = _UNKNOWN
    if raw_id and raw_id.strip():
        candidate, repaired = repair_id(raw_id)
        if len(candidate) == 9 and candidate.isdigit():
            raw_legacy = raw_legacy or candidate  # a legacy number in the new number's field
        elif len(candidate) != 12 or not candidate.isdigit():
            failure = Decision(Reason.MALFORMED_ID, f"{raw_id!r} is not a 12-digit number")
        else:
            found = registry.by_id(candidate)
            if found is not None:
                return found, Reason.MATCHED_REPAIRED_ID if repaired else None, failure
            problem = id_consistent(candidate, birth, gender, provinces)
            if problem:
                failure = Decision(Reason.ID_INCONSISTENT, problem)
    if raw_legacy and raw_legacy.strip():
        legacy, _ = repair_id(raw_legacy)
        found = registry.by_legacy(legacy)
        if found is not None:
            return found, Reason.MATCHED_LEGACY_ID, failure
    return None, None, failure
