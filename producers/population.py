"""A simulated population registry for a province: consistent numbers, names, residence.

The population is held as numpy columns (a few dozen bytes per citizen), so the whole
province (~2.7 M citizens) is generated in seconds and fits in memory; citizens become
:class:`RegistryCitizen` tuples only when asked for.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from hub.errors import InputError
from hub.province import Province
from hub.registry.model import RegistryCitizen

__all__ = [
    "REGISTRY_COLUMNS",
    "Population",
    "citizen_number",
    "generate_population",
    "names",
    "read_registry_csv",
]

_DATA = Path(__file__).parent / "data"
_EPOCH = date(1970, 1, 1)
_CENTURY_DIGIT = {1900: 0, 2000: 2, 2100: 4}
REGISTRY_COLUMNS = (
    "citizen_id",
    "legacy_id",
    "full_name",
    "date_of_birth",
    "gender",
    "district_code",
    "commune_code",
    "deceased_on",
)
_NO_DATE = np.iinfo(np.int32).min
_OTHER_PROVINCES = ("079", "001", "075", "072", "070")

IntArray = npt.NDArray[np.int64]


@lru_cache(maxsize=1)
def names() -> dict[str, Any]:
    """Vietnamese name parts (surnames with weights, middle and given names by gender)."""
    return json.loads((_DATA / "vietnamese_names.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def citizen_number(province_prefix: str, birth: date, gender: str, serial: int) -> str:
    """``PPP G YY RRRRRR``: province, century-and-gender digit, birth year, six digits."""
    digit = _CENTURY_DIGIT[birth.year // 100 * 100] + (1 if gender == "F" else 0)
    return f"{province_prefix}{digit}{birth.year % 100:02d}{serial % 1_000_000:06d}"


@dataclass(frozen=True)
class _NameParts:
    surnames: tuple[str, ...]
    weights: npt.NDArray[np.float64]
    middle: tuple[tuple[str, ...], tuple[str, ...]]  # by female flag: (male, female)
    given: tuple[tuple[str, ...], tuple[str, ...]]


@lru_cache(maxsize=1)
def _name_parts() -> _NameParts:
    parts = names()
    weights = np.array([float(w) for _, w in parts["surnames"]])
    return _NameParts(
        tuple(s for s, _ in parts["surnames"]),
        weights / weights.sum(),
        (tuple(parts["middle_male"]), tuple(parts["middle_female"])),
        (tuple(parts["given_male"]), tuple(parts["given_female"])),
    )


class Population:
    """A province's citizens as columns; ``population[i]`` is citizen ``i`` as a registry row."""

    def __init__(
        self,
        province: Province,
        ids: IntArray,
        legacy: IntArray,
        female: npt.NDArray[np.bool_],
        birth_days: npt.NDArray[np.int32],
        deceased_days: npt.NDArray[np.int32],
        surname: npt.NDArray[np.int16],
        middle: npt.NDArray[np.int16],
        given: npt.NDArray[np.int16],
        commune: npt.NDArray[np.int16] | npt.NDArray[np.int32],
        communes: Sequence[tuple[str | None, str | None]] | None = None,
    ) -> None:
        self.province = province
        self.ids = ids  # the 12-digit number as an integer (leading zero dropped)
        self.legacy = legacy  # 9-digit legacy number, -1 when none
        self.female = female
        self.birth_days = birth_days  # days since 1970-01-01
        self.deceased_days = deceased_days  # days since 1970-01-01, _NO_DATE when alive
        self.surname, self.middle, self.given = surname, middle, given
        self.commune = commune  # index into ``self.communes``
        self.communes: tuple[tuple[str | None, str | None], ...] = tuple(
            communes
            if communes is not None
            else ((d.code, c) for d in province.districts for c in d.communes)
        )
        self.names: list[str] | None = None  # explicit full names, for populations not generated here

    @classmethod
    def from_citizens(cls, province: Province, citizens: Iterable[RegistryCitizen]) -> Population:
        """A population holding exactly ``citizens`` (for tests, or a registry read from a file)."""
        rows = list(citizens)
        residences: dict[tuple[str | None, str | None], int] = {
            (d.code, c): 0 for d in province.districts for c in d.communes
        }
        for c in rows:  # residences outside the province's reference data (or none) are kept too
            residences.setdefault((c.district_code, c.commune_code), 0)
        communes = {residence: i for i, residence in enumerate(residences)}
        days = [(c.date_of_birth - _EPOCH).days for c in rows]
        population = cls(
            province,
            np.array([int(c.citizen_id) for c in rows], dtype=np.int64),
            np.array([int(c.legacy_id) if c.legacy_id else -1 for c in rows], dtype=np.int64),
            np.array([c.gender == "F" for c in rows], dtype=bool),
            np.array(days, dtype=np.int32),
            np.array(
                [(c.deceased_on - _EPOCH).days if c.deceased_on else _NO_DATE for c in rows], dtype=np.int32
            ),
            np.zeros(len(rows), dtype=np.int16),
            np.zeros(len(rows), dtype=np.int16),
            np.zeros(len(rows), dtype=np.int16),
            np.array([communes[(c.district_code, c.commune_code)] for c in rows], dtype=np.int32),
            list(communes),
        )
        population.names = [c.full_name for c in rows]
        return population

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> RegistryCitizen:
        return self.citizen(i)

    def __iter__(self) -> Iterator[RegistryCitizen]:
        return self.citizens()

    @cached_property
    def _sorted_ids(self) -> IntArray:
        return np.sort(self.ids)

    def has_number(self, number: str) -> bool:
        """Whether a citizen of this population holds the 12-digit ``number``."""
        if not number.isdigit():
            return False
        value = int(number)
        at = int(np.searchsorted(self._sorted_ids, value))
        return at < len(self._sorted_ids) and int(self._sorted_ids[at]) == value

    def alive(self) -> npt.NDArray[np.bool_]:
        return self.deceased_days == _NO_DATE  # type: ignore[no-any-return]

    def full_name(self, i: int) -> str:
        return self.citizen(i).full_name

    def citizen(self, i: int) -> RegistryCitizen:
        """Citizen ``i`` as a registry row."""
        return next(self.citizens([i]))

    def citizens(
        self, indices: Sequence[int] | npt.NDArray[np.int64] | None = None
    ) -> Iterator[RegistryCitizen]:
        """Registry rows for ``indices`` (all citizens by default), in that order."""
        take = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=np.int64)
        for start in range(0, len(take), 65_536):
            yield from self._rows(take[start : start + 65_536])

    @cached_property
    def _name_table(self) -> tuple[list[str], int, int]:
        """Every full name a citizen can have, flat; with the middle and given name counts."""
        parts = _name_parts()
        n_middle = max(len(m) for m in parts.middle)
        n_given = max(len(g) for g in parts.given)
        table = [
            f"{surname} {middle[m] if m < len(middle) else ''} {given[g] if g < len(given) else ''}"
            for middle, given in zip(parts.middle, parts.given, strict=True)
            for surname in parts.surnames
            for m in range(n_middle)
            for g in range(n_given)
        ]
        return table, n_middle, n_given

    @cached_property
    def _day_table(self) -> tuple[list[date], int]:
        """Every day from the oldest birth to the latest date in the registry, as date objects."""
        first = int(self.birth_days.min())
        last = int(max(self.birth_days.max(), self.deceased_days.max()))
        return [_EPOCH + timedelta(days=d) for d in range(first, last + 1)], first

    def columns(self, idx: IntArray) -> tuple[list[str], list[str], list[date], list[date | None]]:
        """Numbers, full names, birth dates and death dates (None: alive) of citizens ``idx``."""
        if self.names is not None:
            full_names = [self.names[i] for i in idx.tolist()]
        else:
            names, n_middle, n_given = self._name_table
            n_surnames = len(_name_parts().surnames)
            code = (
                (self.female[idx] * n_surnames + self.surname[idx]) * n_middle + self.middle[idx]
            ) * n_given
            code = code.astype(np.int64) + self.given[idx]
            full_names = [names[c] for c in code.tolist()]
        days, first = self._day_table
        died = self.deceased_days[idx]
        return (
            [f"{cid:012d}" for cid in self.ids[idx].tolist()],
            full_names,
            [days[d - first] for d in self.birth_days[idx].tolist()],
            [None if d == _NO_DATE else days[d - first] for d in died.tolist()],
        )

    def _rows(self, idx: IntArray) -> Iterator[RegistryCitizen]:
        numbers, full_names, births, deaths = self.columns(idx)
        communes = self.communes
        columns = zip(
            numbers,
            self.legacy[idx].tolist(),
            full_names,
            births,
            self.female[idx].tolist(),
            self.commune[idx].tolist(),
            deaths,
            strict=True,
        )
        for cid, legacy, name, born, female, c, died in columns:
            district, commune = communes[c]
            yield RegistryCitizen(
                cid,
                f"{legacy:09d}" if legacy >= 0 else None,
                name,
                born,
                "F" if female else "M",
                district,
                commune,
                died,
            )

    def write_csv(self, target: Path | IO[str], progress: Callable[[int], None] | None = None) -> int:
        """Write the registry as CSV (``REGISTRY_COLUMNS``; ``.gz`` paths are gzipped); returns rows."""
        if isinstance(target, Path):
            opener = gzip.open if target.suffix == ".gz" else open
            with opener(target, "wt", encoding="utf-8", newline="") as stream:  # type: ignore[operator]
                return self.write_csv(stream, progress)
        target.write(",".join(REGISTRY_COLUMNS) + "\n")
        written = 0
        chunk = 100_000
        for start in range(0, len(self), chunk):
            quote = _field if self.names is not None else _plain  # generated names never need quotes
            lines = [
                f"{c.citizen_id},{c.legacy_id or ''},{quote(c.full_name)},{c.date_of_birth.isoformat()},"
                f"{c.gender},{quote(c.district_code)},{quote(c.commune_code)},"
                f"{c.deceased_on.isoformat() if c.deceased_on else ''}\n"
                for c in self._rows(np.arange(start, min(start + chunk, len(self)), dtype=np.int64))
            ]
            target.write("".join(lines))
            written += len(lines)
            if progress:
                progress(len(lines))
        return written


def _plain(value: str | None) -> str:
    return value or ""


def _field(value: str | None) -> str:
    """A CSV field: quoted only when it must be (generated names never need it)."""
    if value is None:
        return ""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def generate_population(
    province: Province,
    size: int,
    seed: int,
    other_provinces: Sequence[str] = _OTHER_PROVINCES,
    today: date = date(2026, 11, 1),
) -> Population:
    """``size`` citizens living in ``province``; deterministic for a seed.

    About 85 % were born (registered) in the province, the rest elsewhere; about a third of
    those born before 2000 still have a legacy 9-digit number; about 0.7 % are deceased.
    Numbers are unique and consistent with birth year and gender.
    """
    if size < 1:
        raise InputError(f"a population needs at least one citizen, not {size}")
    rng = np.random.default_rng(seed)
    today_days = (today - _EPOCH).days
    first = (date(1935, 1, 1) - _EPOCH).days
    female = rng.random(size) < 0.5
    birth_days = rng.integers(first, today_days + 1, size, dtype=np.int64)
    birth_years = _years(birth_days)
    prefixes = np.array([int(province.id_prefix), *(int(p) for p in other_provinces)], dtype=np.int64)
    local = rng.random(size) < 0.85
    prefix = np.where(local, prefixes[0], prefixes[rng.integers(1, len(prefixes), size)])
    digit = (birth_years // 100 - 19) * 2 + female
    head = prefix * 1_000_000_000 + digit * 100_000_000 + (birth_years % 100) * 1_000_000
    ids = _unique_serials(rng, head)

    legacy = np.full(size, -1, dtype=np.int64)
    has_legacy = (birth_years < 2000) & (rng.random(size) < 0.35)
    wanted = int(has_legacy.sum())
    slots = len(province.legacy_id_prefixes) * 1_000_000
    if wanted > slots:
        raise InputError(f"{size:,} citizens need more legacy numbers than the province's prefixes allow")
    picked = rng.choice(slots, size=wanted, replace=False)
    legacy_prefixes = np.array([int(p) for p in province.legacy_id_prefixes], dtype=np.int64)
    legacy[has_legacy] = legacy_prefixes[picked // 1_000_000] * 1_000_000 + picked % 1_000_000

    deceased = rng.random(size) < 0.007
    died = np.maximum(today_days - rng.integers(30, 3650, size), birth_days)
    deceased_days = np.where(deceased, died, _NO_DATE).astype(np.int32)

    parts = _name_parts()
    surname = rng.choice(len(parts.surnames), size=size, p=parts.weights).astype(np.int16)
    middle = np.where(
        female, rng.integers(0, len(parts.middle[1]), size), rng.integers(0, len(parts.middle[0]), size)
    ).astype(np.int16)
    given = np.where(
        female, rng.integers(0, len(parts.given[1]), size), rng.integers(0, len(parts.given[0]), size)
    ).astype(np.int16)
    communes = sum(len(d.communes) for d in province.districts)
    commune = rng.integers(0, communes, size).astype(np.int16)
    return Population(
        province,
        ids,
        legacy,
        female,
        birth_days.astype(np.int32),
        deceased_days,
        surname,
        middle,
        given,
        commune,
    )


def _years(days: IntArray) -> IntArray:
    """Calendar year of each day number (days since 1970-01-01)."""
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970  # type: ignore[no-any-return]


def _unique_serials(rng: np.random.Generator, head: IntArray) -> IntArray:
    """``head`` plus a random six-digit serial, redrawn until every number is unique."""
    ids = head + rng.integers(0, 1_000_000, len(head))
    while True:
        _, first, counts = np.unique(ids, return_index=True, return_counts=True)
        if (counts == 1).all():
            return ids
        keep = np.zeros(len(ids), dtype=bool)
        keep[first] = True  # the first holder of a number keeps it; the others draw again
        again = ~keep
        ids[again] = head[again] + rng.integers(0, 1_000_000, int(again.sum()))


def read_registry_csv(stream: IO[str]) -> Iterator[RegistryCitizen]:
    """Registry rows from a CSV written by :meth:`Population.write_csv` (or any with its columns)."""
    try:
        yield from _registry_rows(stream)
    except (UnicodeDecodeError, EOFError, gzip.BadGzipFile, OSError) as exc:
        raise InputError(f"registry file is not UTF-8 CSV (plain or gzip): {exc}") from exc


def _registry_rows(stream: IO[str]) -> Iterator[RegistryCitizen]:
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None or tuple(header) != REGISTRY_COLUMNS:
        raise InputError(f"registry file header must be {','.join(REGISTRY_COLUMNS)}; found {header}")
    for line, row in enumerate(reader, start=2):
        try:
            cid, legacy, name, born, gender, district, commune, died = row
            yield RegistryCitizen(
                cid,
                legacy or None,
                name,
                date.fromisoformat(born),
                gender,
                district or None,
                commune or None,
                date.fromisoformat(died) if died else None,
            )
        except ValueError as exc:
            raise InputError(f"registry file line {line}: {exc}") from exc


def open_registry(path: Path) -> IO[str]:
    """Open a registry CSV (plain or ``.gz``) for :func:`read_registry_csv`."""
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
        return path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"cannot read registry file {path}: {exc.strerror or exc}") from exc
