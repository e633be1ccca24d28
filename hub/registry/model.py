"""A citizen as the population registry knows them."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

__all__ = ["RegistryCitizen"]


class RegistryCitizen(NamedTuple):
    """One row of the registry; a tuple so that millions fit in memory."""

    citizen_id: str  # 12-digit personal identification number
    legacy_id: str | None  # 9-digit CMND, if the citizen had one
    full_name: str  # NFC, as registered
    date_of_birth: date
    gender: str  # "M" or "F"
    district_code: str | None
    commune_code: str | None
    deceased_on: date | None = None
