"""A citizen as the population registry knows them."""

from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

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

    def as_citizen_record(self) -> dict[str, Any]:
        """This citizen as a ``vn.lgsp.Citizen`` record (the registry-verified fields)."""
        return {
            "SoDinhDanh": self.citizen_id,
            "SoCMND": self.legacy_id,
            "HoVaTen": self.full_name,
            "NgayThangNamSinh": self.date_of_birth,
            "GioiTinh": "MALE" if self.gender == "M" else "FEMALE",
            "MaHuyen": self.district_code,
            "MaXa": self.commune_code,
        }
