"""Province reference data (districts, communes, valid province codes), loaded from JSON files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta, timezone
from functools import lru_cache
from pathlib import Path

from hub.errors import ConfigError

__all__ = ["VIETNAM", "District", "Province", "known_province_codes", "load_province"]

VIETNAM = timezone(
    timedelta(hours=7), "ICT"
)  # the province's time, UTC+7 all year: a time without an offset is this

_REFERENCE = Path(__file__).parent / "reference"


@dataclass(frozen=True)
class District:
    code: str
    name: str
    communes: tuple[str, ...]


@dataclass(frozen=True)
class Province:
    """A province: its code (two digits; three in citizen numbers) and its districts."""

    code: str
    name: str
    population: int
    legacy_id_prefixes: tuple[str, ...]
    districts: tuple[District, ...]

    @property
    def id_prefix(self) -> str:
        """The three-digit code that opens citizen numbers registered here."""
        return self.code.zfill(3)


@lru_cache(maxsize=8)
def load_province(code: str) -> Province:
    """The province with ``code``, from ``hub/reference/province_<code>.json``."""
    path = _REFERENCE / f"province_{code.lstrip('0') or '0'}.json"
    if not path.is_file():
        available = sorted(p.stem.removeprefix("province_") for p in _REFERENCE.glob("province_*.json"))
        raise ConfigError(f"no reference data for province {code!r} (have: {', '.join(available)})")
    data = json.loads(path.read_text(encoding="utf-8"))
    next_code = int(data["first_commune_code"])
    districts = []
    for entry in data["districts"]:
        communes = tuple(f"{next_code + i:05d}" for i in range(entry["communes"]))
        next_code += entry["communes"]
        districts.append(District(entry["code"], entry["name"], communes))
    return Province(
        data["code"],
        data["name"],
        int(data["population"]),
        tuple(data["legacy_id_prefixes"]),
        tuple(districts),
    )


@lru_cache(maxsize=1)
def known_province_codes() -> frozenset[str]:
    """Three-digit province codes that may open a citizen number."""
    data = json.loads((_REFERENCE / "citizen_id_province_codes.json").read_text(encoding="utf-8"))
    return frozenset(data["codes"])
