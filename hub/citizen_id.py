"""Citizen numbers as they arrive: the 12-digit personal identification number and its repairs.

``PPP G YY RRRRRR``: the province where the birth was registered, a century-and-gender digit,
the last two digits of the birth year, a serial. Publishers key records by it; reconciliation
repairs it and checks it against what the record declares.
"""

from __future__ import annotations

import re
from datetime import date

__all__ = ["id_consistent", "repair_id"]

_SEPARATORS = re.compile(r"[\s\-._/]+")
# Century and gender digit (G in PPP G YY RRRRRR): 20th century male 0 / female 1, 21st 2/3 ...
_CENTURY_BASE = {0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100, 6: 2200, 7: 2200, 8: 2300, 9: 2300}


def repair_id(raw: str) -> tuple[str, bool]:
    """Digits of a declared number with separators removed and a lost leading zero restored.

    Returns the candidate and whether anything had to be repaired.
    """
    if len(raw) == 12 and raw.isdigit():
        return raw, False  # the common case, without the regular expression
    stripped = raw.strip()
    digits = _SEPARATORS.sub("", stripped)
    if len(digits) == 11 and digits.isdigit():
        return "0" + digits, True
    return digits, digits != stripped


def id_consistent(
    citizen_id: str, birth: date | None, gender: str | None, provinces: frozenset[str]
) -> str | None:
    """Why a 12-digit number cannot belong to the declared citizen, or None if it can."""
    if citizen_id[:3] not in provinces:
        return f"province code {citizen_id[:3]} is not a known province"
    digit = int(citizen_id[3])
    id_gender = "M" if digit % 2 == 0 else "F"
    if gender in ("M", "F") and gender != id_gender:
        return f"gender digit {digit} says {id_gender}, record says {gender}"
    if birth is not None:
        year = _CENTURY_BASE[digit] + int(citizen_id[4:6])
        if year != birth.year:
            return f"number encodes birth year {year}, record says {birth.year}"
    return None
