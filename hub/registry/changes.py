"""Changes to the registry between bulk loads: births, deaths, corrections; pure rules, no I/O.

:meth:`RegistryStore.apply <hub.registry.store.RegistryStore.apply>` reads the current row,
asks :func:`changed_row` what to write (or why not), and writes it with a change row.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, NamedTuple

from hub.errors import InputError
from hub.registry.model import RegistryCitizen

__all__ = [
    "ChangeKind",
    "RegistryChange",
    "RegistryChanges",
    "change_detail",
    "changed_row",
    "check_citizen",
    "load_detail",
]

_CITIZEN_ID = re.compile(r"\d{12}")
_LEGACY_ID = re.compile(r"\d{9}")


class ChangeKind(StrEnum):
    """What a ``registry_changes`` row records. LOAD is written by bulk loads only."""

    BIRTH = "BIRTH"
    DEATH = "DEATH"
    CORRECTION = "CORRECTION"
    LOAD = "LOAD"


@dataclass(frozen=True)
class RegistryChange:
    """One citizen's change: ``citizen`` is the full row as it should read afterwards.

    A DEATH may differ from the current row only in ``deceased_on``; a CORRECTION replaces
    every field but the number; a BIRTH adds a citizen whose number is not yet registered.
    """

    kind: ChangeKind
    citizen: RegistryCitizen
    note: str | None = None

    def __post_init__(self) -> None:
        try:
            kind = ChangeKind(self.kind)
        except ValueError:
            raise InputError(f"unknown change kind {self.kind!r}; use BIRTH, DEATH or CORRECTION") from None
        if kind is ChangeKind.LOAD:
            raise InputError("LOAD is written by a bulk load, not applied as a change")
        object.__setattr__(self, "kind", kind)


class RegistryChanges(NamedTuple):
    """What changed after a change id (see ``RegistryStore.changes_since``).

    ``change_id`` is the newest change seen: pass it to the next call. ``citizens`` are the
    current rows of the citizens changed (each once). ``reload`` is True when a bulk LOAD
    happened: the whole registry may differ, ``citizens`` is empty, and the caller should
    take a fresh ``snapshot()`` and continue from its ``change_id``.
    """

    change_id: int
    citizens: list[RegistryCitizen]
    reload: bool = False


def check_citizen(citizen: RegistryCitizen, today: date) -> None:
    """:class:`InputError` naming the first field of ``citizen`` the registry cannot hold."""
    if not _CITIZEN_ID.fullmatch(citizen.citizen_id):
        raise InputError(f"citizen number must be 12 digits, not {citizen.citizen_id!r}")
    if citizen.legacy_id is not None and not _LEGACY_ID.fullmatch(citizen.legacy_id):
        raise InputError(f"legacy number must be 9 digits, not {citizen.legacy_id!r}")
    name = citizen.full_name
    if not name.strip() or len(name) > 200 or not unicodedata.is_normalized("NFC", name):
        raise InputError(f"full name must be 1 to 200 characters in NFC, not {name!r}")
    if citizen.gender not in ("M", "F"):
        raise InputError(f"gender must be M or F, not {citizen.gender!r}")
    for field, size in (("district_code", 3), ("commune_code", 5)):
        code = getattr(citizen, field)
        if code is not None and not (code.isdigit() and len(code) <= size):
            raise InputError(f"{field} must be up to {size} digits, not {code!r}")
    if citizen.date_of_birth > today:
        raise InputError(f"date of birth {citizen.date_of_birth} is in the future")
    died = citizen.deceased_on
    if died is not None and (died < citizen.date_of_birth or died > today):
        raise InputError(
            f"date of death {died} must be between the birth ({citizen.date_of_birth}) and today"
        )


def changed_row(change: RegistryChange, current: RegistryCitizen | None, today: date) -> RegistryCitizen:
    """The row ``change`` writes over ``current`` (None: number not registered), or :class:`InputError`."""
    new, number = change.citizen, change.citizen.citizen_id
    if change.kind is ChangeKind.BIRTH:
        if current is not None:
            raise InputError(f"citizen {number} is already in the registry; a birth needs a new number")
        if new.deceased_on is not None:
            raise InputError(f"a birth cannot carry a date of death; record citizen {number}'s death after")
    elif current is None:
        raise InputError(f"no citizen {number} in the registry")
    elif change.kind is ChangeKind.DEATH:
        if new.deceased_on is None:
            raise InputError(f"a death needs the date of death of citizen {number}")
        if current.deceased_on is not None:
            raise InputError(
                f"citizen {number} is already recorded dead on {current.deceased_on}; use a correction"
            )
        other = [f for f in RegistryCitizen._fields[:-1] if getattr(new, f) != getattr(current, f)]
        if other:
            raise InputError(f"a death changes only the date of death, not {', '.join(other)}")
    check_citizen(new, today)
    return new


def _jsonable(citizen: RegistryCitizen) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in citizen._asdict().items()}


def change_detail(citizen: RegistryCitizen, note: str | None = None) -> str:
    """The ``detail`` of a change row: the citizen's new values (and the note) as JSON."""
    detail = _jsonable(citizen)
    if note:
        detail["note"] = note
    return json.dumps(detail, ensure_ascii=False)


def load_detail(rows: int, replace: bool) -> str:
    """The ``detail`` of a LOAD change row."""
    return json.dumps({"rows": rows, "mode": "replace" if replace else "merge"})
