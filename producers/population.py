"""A simulated population registry for a province: consistent numbers, names, residence."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from hub.province import Province
from hub.registry.model import RegistryCitizen

__all__ = ["citizen_number", "generate_population", "names"]

_DATA = Path(__file__).parent / "data"
_CENTURY_DIGIT = {1900: 0, 2000: 2, 2100: 4}


@lru_cache(maxsize=1)
def names() -> dict[str, Any]:
    """Vietnamese name parts (surnames with weights, middle and given names by gender)."""
    return json.loads((_DATA / "vietnamese_names.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def citizen_number(province_prefix: str, birth: date, gender: str, serial: int) -> str:
    """``PPP G YY RRRRRR``: province, century-and-gender digit, birth year, six digits."""
    digit = _CENTURY_DIGIT[birth.year // 100 * 100] + (1 if gender == "F" else 0)
    return f"{province_prefix}{digit}{birth.year % 100:02d}{serial % 1_000_000:06d}"


def _name(rng: random.Random, gender: str, surnames: list[str], weights: list[float]) -> str:
    parts = names()
    middle = parts["middle_male" if gender == "M" else "middle_female"]
    given = parts["given_male" if gender == "M" else "given_female"]
    return f"{rng.choices(surnames, weights)[0]} {rng.choice(middle)} {rng.choice(given)}"


def generate_population(
    province: Province,
    size: int,
    seed: int,
    other_provinces: list[str] | None = None,
    today: date = date(2026, 11, 1),
) -> Iterator[RegistryCitizen]:
    """``size`` citizens living in ``province``; deterministic for a seed.

    About 85 % were born (registered) in the province, the rest elsewhere; about a third of
    those born before 2000 still have a legacy 9-digit number; about 0.7 % are deceased.
    """
    rng = random.Random(seed)
    surnames = [s for s, _ in names()["surnames"]]
    weights = [float(w) for _, w in names()["surnames"]]
    others = other_provinces or ["079", "001", "075", "072", "070"]
    communes = [(d.code, c) for d in province.districts for c in d.communes]
    used: dict[tuple[str, int, str], int] = {}  # per (province, century/gender, year) bucket
    legacy_count = 0
    for _ in range(size):
        gender = "M" if rng.random() < 0.5 else "F"
        birth = date(1935, 1, 1) + timedelta(days=rng.randrange(int(365.25 * 90)))
        birth = min(birth, today)
        prefix = province.id_prefix if rng.random() < 0.85 else rng.choice(others)
        bucket = (prefix, birth.year, gender)
        count = used[bucket] = used.get(bucket, -1) + 1
        serial = (count * 7919 + seed * 104729) % 1_000_000  # distinct for count < 1,000,000
        legacy = None
        if birth.year < 2000 and rng.random() < 0.35:
            prefixes = province.legacy_id_prefixes
            block, which = divmod(legacy_count, len(prefixes))
            legacy = f"{prefixes[which]}{(block * 7919 + seed) % 1_000_000:06d}"
            legacy_count += 1
        district, commune = rng.choice(communes)
        deceased = None
        if rng.random() < 0.007:
            deceased = today - timedelta(days=rng.randrange(30, 3650))
            deceased = max(deceased, birth)
        yield RegistryCitizen(
            citizen_number(prefix, birth, gender, serial),
            legacy,
            _name(rng, gender, surnames, weights),
            birth,
            gender,
            district,
            commune,
            deceased,
        )
