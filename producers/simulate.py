"""Simulated department records, with the dirt real department exports have.

Every record comes with the outcome reconciliation should reach for it (the ground truth),
kept apart from the record itself. Records are drawn in fixed-size batches of numpy
columns, so the stream for a seed is the same however it is consumed, and a province's
backlog is produced at publishing speed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache, partial
from itertools import islice
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from hub.avro.wire import DecodeReason
from hub.errors import InputError
from hub.reasons import Reason
from hub.topics import Department
from producers.population import Population
from producers.publisher import DepartmentPublisher

__all__ = [
    "DEPARTMENT_SHARES",
    "EXPECTED",
    "BundleProfile",
    "DirtProfile",
    "SimulatedRecord",
    "Simulator",
    "generate_records",
]

_BATCH = 4096  # records are drawn this many events at a time; fixed so a seed's stream never changes


@dataclass(frozen=True)
class DirtProfile:
    """Share of records affected by each kind of dirt (the rest are clean)."""

    lost_leading_zero: float = 0.02
    separators: float = 0.02
    legacy_instead: float = 0.02
    stripped_diacritics: float = 0.015
    nfd_unicode: float = 0.01
    case_and_spacing: float = 0.015
    mistyped_birth_date: float = 0.005
    unknown_citizen: float = 0.005
    deceased_citizen: float = 0.002
    inconsistent_number: float = 0.002
    garbage_number: float = 0.002
    garbage_row: float = 0.001

    def kinds(self) -> list[tuple[str, float]]:
        return [(f.name, float(getattr(self, f.name))) for f in fields(self)]

    @classmethod
    def clean(cls) -> DirtProfile:
        return cls(**{f.name: 0.0 for f in fields(cls)})

    def scaled(self, factor: float) -> DirtProfile:
        """The same mix with every share multiplied by ``factor`` (0 gives clean data)."""
        return DirtProfile(**{name: share * factor for name, share in self.kinds()})


@dataclass(frozen=True)
class BundleProfile:
    """Share of events that are Đề án 06 bundles (one life event, records in several departments)."""

    birth: float = 0.01  # birth registration + newborn health book + child health-insurance enrolment
    death: float = 0.004  # death registration + funeral allowance


EXPECTED: dict[str, str] = {
    "clean": Reason.MATCHED,
    "lost_leading_zero": Reason.MATCHED_REPAIRED_ID,
    "separators": Reason.MATCHED_REPAIRED_ID,
    "legacy_instead": Reason.MATCHED_LEGACY_ID,
    "stripped_diacritics": Reason.MATCHED_NORMALIZED_NAME,
    "nfd_unicode": Reason.MATCHED_NORMALIZED_NAME,
    "case_and_spacing": Reason.MATCHED_NORMALIZED_NAME,
    "mistyped_birth_date": Reason.DOB_MISMATCH,
    "unknown_citizen": Reason.UNKNOWN_CITIZEN,
    "deceased_citizen": Reason.EVENT_AFTER_DEATH,
    "inconsistent_number": Reason.ID_INCONSISTENT,
    "garbage_number": Reason.MALFORMED_ID,
    "garbage_row": DecodeReason.BAD_MAGIC,
}

# Share of single (non-bundle) events per department.
DEPARTMENT_SHARES: dict[Department, float] = {
    Department.CIVIL_STATUS: 0.20,
    Department.LAND: 0.15,
    Department.HEALTH: 0.40,
    Department.SOCIAL_INSURANCE: 0.25,
}

_POOLS = ("alive", "adult", "legacy", "deceased", "newborn")
_NEEDS_POOL = {"legacy_instead": "legacy", "deceased_citizen": "deceased"}
_NAME_DIRT = frozenset({"stripped_diacritics", "nfd_unicode", "case_and_spacing"})
_GARBAGE_NUMBERS = ("N/A", "chưa có", "12AB5678", "0", "#REF!", "x")
_GARBAGE_ROWS = (
    b"SoDinhDanh,HoVaTen\r\n",
    b'{"error": "export failed"}',
    b"\xef\xbb\xbf;;;;;;",
    b"#N/A",
)


class SimulatedRecord(NamedTuple):
    """A department record, the dirt applied to it, and the outcome expected for it.

    ``raw`` is set for garbage rows: the bytes a broken export would send instead of a record.
    """

    department: Department
    record: dict[str, Any]
    dirt: str
    expected: str = Reason.MATCHED
    raw: bytes | None = None

    @property
    def record_id(self) -> str:
        return str(self.record["record_id"])

    @property
    def matched(self) -> bool:
        """Whether reconciliation should match this record's citizen."""
        return self.expected.startswith("MATCHED")

    def send(self, publisher: DepartmentPublisher) -> None:
        """Publish through ``publisher``: validated and encoded, or as raw bytes for garbage rows."""
        if self.raw is None:
            publisher.publish(self.record)
        else:
            publisher.publish_raw(self.raw, self.record_id)


_SLOTS_PER_DAY = 600
_PROCEDURES = 40  # per department
_MAX_DUE_DAYS = 30


_new_record = partial(tuple.__new__, SimulatedRecord)  # NamedTuple's own __new__ is Python-level: slow


class _Procedure(NamedTuple):
    code: str
    fee: int
    due_days: int
    returns_result: bool
    due: timedelta


@lru_cache(maxsize=8)
def _procedures(department: Department) -> tuple[_Procedure, ...]:
    """A department's procedures (TTHC): code, fee, promised days, whether a result is returned."""
    rng = np.random.default_rng(list(Department).index(department))
    fees = (0, 0, 0, 0, 20_000, 50_000, 100_000, 500_000)
    procedures = []
    for code in rng.choice(np.arange(1000, 13000), size=_PROCEDURES, replace=False).tolist():
        fee = fees[int(rng.integers(len(fees)))]
        days = int(rng.choice([1, 3, 5, 7, 10, 15, _MAX_DUE_DAYS]))
        procedures.append(
            _Procedure(f"1.{code:06d}", fee, days, bool(rng.random() < 0.85), timedelta(days=days))
        )
    return tuple(procedures)


def _strip_diacritics(text: str) -> str:
    bare = unicodedata.normalize("NFD", text).replace("đ", "d").replace("Đ", "D")
    return "".join(ch for ch in bare if not unicodedata.combining(ch))


def _dirty(
    kind: str, declared: dict[str, Any], legacy: str | None, roll: int, taken: Callable[[str], bool]
) -> None:
    """Apply one kind of dirt to the declared citizen ``declared`` in place."""
    number = declared["SoDinhDanh"]
    name = declared["HoVaTen"]
    if kind == "lost_leading_zero":
        declared["SoDinhDanh"] = number[1:]  # every province code starts with 0
    elif kind == "separators":
        sep = " -."[roll % 3]
        declared["SoDinhDanh"] = f"{number[:3]}{sep}{number[3:6]}{sep}{number[6:]}"
    elif kind == "legacy_instead":
        declared["SoDinhDanh"], declared["SoCMND"] = None, legacy
    elif kind == "stripped_diacritics":
        declared["HoVaTen"] = _strip_diacritics(name)
    elif kind == "nfd_unicode":
        declared["HoVaTen"] = unicodedata.normalize("NFD", name)
    elif kind == "case_and_spacing":
        declared["HoVaTen"] = "  " + name.upper().replace(" ", "   ") + " "
    elif kind == "mistyped_birth_date":
        dob = declared["NgayThangNamSinh"]
        declared["NgayThangNamSinh"] = dob.replace(day=dob.day % 28 + 1)
    elif kind == "unknown_citizen":  # a well-formed number nobody in the registry holds
        serial = int(number[6:])
        for step in range(500_000, 1_500_000):
            candidate = number[:6] + f"{(serial + step) % 1_000_000:06d}"
            if not taken(candidate):
                declared["SoDinhDanh"] = candidate
                break
    elif kind == "inconsistent_number":
        declared["SoDinhDanh"] = "099" + number[3:]
    elif kind == "garbage_number":
        declared["SoDinhDanh"] = _GARBAGE_NUMBERS[roll % len(_GARBAGE_NUMBERS)]


class Simulator:
    """An endless, deterministic stream of department records about a population's citizens.

    Single events are spread over departments by ``shares``; Đề án 06 bundles add records in
    several departments for one birth or death. ``departments`` keeps only some departments.
    """

    def __init__(
        self,
        population: Population,
        seed: int,
        dirt: DirtProfile | None = None,
        bundles: BundleProfile | None = None,
        start: date = date(2026, 11, 1),
        days: int = 7,
        departments: Iterable[Department] | None = None,
        shares: Mapping[Department, float] = DEPARTMENT_SHARES,
    ) -> None:
        self.population = population
        self.seed = seed
        self.start = start
        self.days = days
        self.keep = frozenset(departments or Department)
        kinds = (dirt or DirtProfile()).kinds()
        self._kinds = ["clean", *(k for k, _ in kinds)]
        dirty_share = sum(s for _, s in kinds)
        if dirty_share > 1:
            raise InputError(f"dirt shares add up to {dirty_share:.3f}, more than 1 (lower --dirt)")
        self._kind_p = np.array([1 - dirty_share, *(s for _, s in kinds)])
        bundles = bundles or BundleProfile()
        if bundles.birth + bundles.death > 1:
            raise InputError("bundle shares add up to more than 1")
        depts = [d for d in Department if d in self.keep]
        weights = np.array([shares.get(d, 0.0) for d in depts])
        if not depts or weights.sum() <= 0:
            raise InputError("no department to simulate")
        self._depts = depts
        self._dept_p = weights / weights.sum()
        self._bundle_p = np.array([1 - bundles.birth - bundles.death, bundles.birth, bundles.death])
        self._pools = self._make_pools()
        self._has = {name: len(pool) > 0 for name, pool in self._pools.items()}
        self._dept_pool = np.array([_POOLS.index(_SINGLE_POOL[d]) for d in depts])
        self.bundled = 0  # records yielded so far that belong to a Đề án 06 bundle
        all_departments = list(Department)
        self._procs = [proc for d in all_departments for proc in _procedures(d)]
        self._proc_due_days = np.array([proc.due_days for proc in self._procs])
        self._proc_fee = np.array([proc.fee for proc in self._procs])
        self._proc_returns = np.array([proc.returns_result for proc in self._procs])
        self._keep_dept = np.array([d in self.keep for d in all_departments])
        members = [*(_SINGLE[d] for d in depts), _BIRTH_BUNDLE, _DEATH_BUNDLE]
        self._record_kinds = sorted({(d, d.agency, e) for m in members for d, e in m}, key=str)
        kind_index = {k: i for i, k in enumerate(self._record_kinds)}
        widest = max(len(m) for m in members)
        self._member_counts = np.array([len(m) for m in members])
        self._member_table = np.array(
            [[kind_index[(d, d.agency, e)] for d, e in m] + [0] * (widest - len(m)) for m in members]
        )
        self._kind_dept = np.array([all_departments.index(d) for d, _, _ in self._record_kinds])
        # Office hours 07:30-17:30 local (UTC+7) = 00:30-10:30 UTC, minute by minute, from the
        # first day to the last promised or late finish; records are received in the first ``days``.
        self._slots = [
            datetime.combine(start + timedelta(days=d), time(0, 30), UTC) + timedelta(minutes=m)
            for d in range(days + _MAX_DUE_DAYS + 6)
            for m in range(_SLOTS_PER_DAY)
        ]
        self._received = days * _SLOTS_PER_DAY
        self._day_codes = [f"{at:%y%m%d}" for at in self._slots]

    def _make_pools(self) -> dict[str, npt.NDArray[np.int64]]:
        """Citizens by role: living, adults, legacy-number holders, deceased, newborns."""
        pop = self.population
        start_days = (self.start - date(1970, 1, 1)).days
        alive = pop.alive()
        adult = alive & (pop.birth_days <= start_days - 18 * 366)
        pools = {
            "alive": np.flatnonzero(alive),
            "adult": np.flatnonzero(adult),
            "legacy": np.flatnonzero(alive & (pop.legacy >= 0)),
            "deceased": np.flatnonzero(~alive),
            "newborn": np.flatnonzero(
                alive & (pop.birth_days >= start_days - 60) & (pop.birth_days < start_days)
            ),
        }
        if not len(pools["alive"]):
            raise InputError("the population has no living citizen")
        if not len(pools["newborn"]):  # a small sample: the youngest hundredth stand in for newborns
            born = np.flatnonzero(pop.birth_days < start_days)
            young = born[np.argsort(-pop.birth_days[born])][: max(1, len(pop) // 100)]
            pools["newborn"] = young[alive[young]] if len(young) and alive[young].any() else pools["alive"]
        if not len(pools["adult"]):
            pools["adult"] = pools["alive"]
        return pools

    def records(self) -> Iterator[SimulatedRecord]:
        """The stream: events in order; a bundle's records come one after the other."""
        # Each choice of departments has its own stream: one department alone is not a copy of another.
        rng = np.random.default_rng([self.seed, 6, *sorted(list(Department).index(d) for d in self.keep)])
        first = 0
        while True:
            yield from self._batch(rng, first)
            first += _BATCH

    def take(self, count: int) -> list[SimulatedRecord]:
        return list(islice(self.records(), count))

    def _batch(self, rng: np.random.Generator, first: int) -> Iterator[SimulatedRecord]:
        """One batch of events: every random draw is made here, as columns, then records are built."""
        n = _BATCH
        pools = self._pools
        kind_of = rng.choice(len(self._kinds), size=n, p=self._kind_p)
        dept_of = rng.choice(len(self._depts), size=n, p=self._dept_p)
        bundle_of = rng.choice(3, size=n, p=self._bundle_p)
        has = self._has
        stand_in = [pools[name] if has[name] else pools["alive"] for name in _POOLS]
        picks = np.stack([pool[rng.integers(0, len(pool), n)] for pool in stand_in])
        slot = rng.integers(0, self._received, n)
        rolls = rng.integers(0, 1 << 30, (n, 8))
        uniform = rng.random((n, 8))
        # Which pool each event's citizen comes from, and the dirt that can really apply to it.
        single = bundle_of == 0
        pool = self._dept_pool[dept_of]
        for dirt, needed in _NEEDS_POOL.items():
            wants = kind_of == self._kinds.index(dirt)
            if has[needed]:
                pool = np.where(wants & single, _POOLS.index(needed), pool)
            kind_of = np.where(wants & ((~single) | (not has[needed])), 0, kind_of)  # 0 is "clean"
        pool = np.where(bundle_of == 1, _POOLS.index("newborn"), pool)
        pool = np.where(bundle_of == 2, _POOLS.index("deceased" if has["deceased"] else "alive"), pool)
        citizens = _citizen_columns(self.population, picks[pool, np.arange(n)])

        # Events become records: a bundle is several records sharing the event's draws.
        member_of = np.where(single, dept_of, len(self._depts) + bundle_of - 1)
        counts = self._member_counts[member_of]
        event = np.repeat(np.arange(n), counts)
        ranks = np.arange(len(event)) - np.repeat(np.cumsum(counts) - counts, counts)
        table = self._member_table[member_of[event], ranks]  # index into self._record_kinds
        dept = self._kind_dept[table]
        keep = self._keep_dept[dept]
        event, table, dept = event[keep], table[keep], dept[keep]

        # Dossier columns, one value per record.
        roll, u = rolls[event], uniform[event]
        proc = dept * _PROCEDURES + roll[:, 2] % _PROCEDURES
        at = slot[event]
        due_at = at + self._proc_due_days[proc] * _SLOTS_PER_DAY
        on_time = at + roll[:, 3] % (due_at - at + 1)
        late = due_at + (1 + roll[:, 3] % 5) * _SLOTS_PER_DAY
        finished_at = np.where(u[:, 1] < 0.9, np.where(u[:, 2] < 0.9801, on_time, late), -1)
        online = u[:, 0] < 0.62
        channel = np.where(online, 2, np.array(_OFFLINE)[roll[:, 4] % 4])
        e_result = self._proc_returns[proc] & (u[:, 3] < 0.6)
        fee = self._proc_fee[proc]
        paid = np.where((fee > 0) & (u[:, 4] < 0.3832), np.where(u[:, 4] < 0.5, 1, 2), 0)
        columns = zip(
            event.tolist(),
            table.tolist(),
            at.tolist(),
            due_at.tolist(),
            finished_at.tolist(),
            proc.tolist(),
            channel.tolist(),
            paid.tolist(),
            e_result.tolist(),
            (u[:, 5] < 0.0715).tolist(),
            (u[:, 6] < 0.05).tolist(),
            (online & (u[:, 7] < 0.7)).tolist(),
            roll.tolist(),
            strict=True,
        )
        kinds = [self._kinds[k] for k in kind_of.tolist()]
        bundles = bundle_of.tolist()
        record_kinds = self._record_kinds
        procs = self._procs
        slots = self._slots
        day_codes = self._day_codes
        seed = self.seed
        taken = self.population.has_number
        for i, t, at_i, due_i, fin_i, p, chan, paid_i, e_res, digitized, from_store, vneid, r in columns:
            number = first + i
            department, agency, event_type = record_kinds[t]
            kind = kinds[i]
            citizen, legacy, died = citizens[i]
            bundle_id = f"DA06-{seed}-{number:09d}" if bundles[i] else None
            if bundle_id:
                self.bundled += 1
            record_id = f"{agency}-{seed}-{number:09d}"
            if kind == "garbage_row":
                raw = _GARBAGE_ROWS[r[0] % len(_GARBAGE_ROWS)]
                yield _new_record((department, {"record_id": record_id}, kind, EXPECTED[kind], raw))
                continue
            declared = citizen  # as the department declares them: no legacy number; shared, never changed
            if kind != "clean":
                declared = dict(citizen)
                _dirty(kind, declared, legacy, r[1], taken)
                if kind in _NAME_DIRT and declared["HoVaTen"] == citizen["HoVaTen"]:
                    kind = "clean"  # nothing to change: the name has no diacritics (e.g. "Phan Minh Chi")
            received, due = slots[at_i], slots[due_i]
            finished = slots[fin_i] if fin_i >= 0 else None  # None: still being processed
            day_code = day_codes[at_i]
            if kind == "deceased_citizen" and died is not None and received.date() <= died:
                received, due, finished, day_code = _after_death(received, due, finished, died)
            result_code = f"KQ-{number:09d}" if e_res else None
            procedure = procs[p]
            record = {
                "record_id": record_id,
                "agency": agency,
                "occurred_at": received,
                "citizen": declared,
                "dossier": {
                    "MaHoSo": f"{agency}-{day_code}-{number:09d}",
                    "MaTTHC": procedure.code,
                    "NgayTiepNhan": received,
                    "NgayHenTra": due,
                    "NgayKetThucXuLy": finished,
                    "KenhThucHien": chan,
                    "PhiLePhi": procedure.fee,
                    "DuocThanhToanTrucTuyen": paid_i,
                    "MaKetQua": result_code,
                    "DuongDanTepTinKetQua": f"{_RESULT_URL}{result_code}.pdf" if e_res else None,
                    "HoSoCoThanhPhanSoHoa": digitized,
                    "DuocLayTuKhoDMQG": from_store,
                    "TaiKhoanDuocXacThucVoiVNeID": vneid,
                },
                "bundle_id": bundle_id,
            }
            if department is Department.CIVIL_STATUS:
                if event_type == "DEATH" and died is not None:
                    event_day = died
                elif event_type == "BIRTH":
                    event_day = citizen["NgayThangNamSinh"]
                else:
                    event_day = received.date()
                record["event_type"] = event_type or "MARRIAGE"
                record["registration_number"] = f"{number % 1_000_000:06d}/{event_day.year}"
                record["event_date"] = event_day
            else:
                _add_own_fields(record, department, event_type, number, r)
            yield _new_record((department, record, kind, EXPECTED[kind], None))


def _after_death(
    received: datetime, due: datetime, finished: datetime | None, died: date
) -> tuple[datetime, datetime, datetime | None, str]:
    """Move a dossier about a dead citizen to the day after the death, keeping its durations."""
    moved = datetime.combine(died + timedelta(days=1), received.timetz())
    shift = moved - received
    return moved, due + shift, None if finished is None else finished + shift, f"{moved:%y%m%d}"


_OFFLINE = (1, 1, 1, 3)  # in person, mostly; sometimes by post
_RESULT_URL = "https://dichvucong.example/kq/"
_BIRTH_BUNDLE = (
    (Department.CIVIL_STATUS, "BIRTH"),
    (Department.HEALTH, "CHECKUP"),
    (Department.SOCIAL_INSURANCE, "ENROLLMENT"),
)
_DEATH_BUNDLE = (
    (Department.CIVIL_STATUS, "DEATH"),
    (Department.SOCIAL_INSURANCE, "FUNERAL_ALLOWANCE"),
)
_SINGLE = {d: ((d, None),) for d in Department}
_SINGLE_POOL = {
    Department.CIVIL_STATUS: "adult",  # marriages; births and deaths come in bundles
    Department.LAND: "adult",
    Department.HEALTH: "alive",
    Department.SOCIAL_INSURANCE: "adult",
}
_HEALTH = ("CHECKUP", "VACCINATION", "TREATMENT")
_SOCIAL = ("ENROLLMENT", "CONTRIBUTION", "CONTRIBUTION", "BENEFIT_PAYMENT")
_LAND = ("REGISTRATION", "TRANSFER", "MORTGAGE")


def _add_own_fields(
    record: dict[str, Any], department: Department, event: str | None, n: int, roll: list[int]
) -> None:
    """The department's own fields (civil status is handled by the caller)."""
    if department is Department.LAND:
        record["transaction_type"] = _LAND[roll[5] % 3]
        record["map_sheet_number"] = 1 + roll[6] % 120
        record["parcel_number"] = 1 + roll[7] % 2500
        record["area_m2"] = (400 + roll[5] % 49_600) / 10
    elif department is Department.HEALTH:
        record["entry_type"] = event or _HEALTH[roll[5] % 3]
        record["facility_code"] = _FACILITIES[roll[6] % 400]
        record["health_book_id"] = f"SSK{n:010d}"
    else:
        kind = event or _SOCIAL[roll[5] % 4]
        record["event_type"] = kind
        record["bhxh_code"] = f"74{roll[6] % 10**8:08d}"
        record["amount_vnd"] = (100 + roll[7] % 4900) * 1000 if kind != "FUNERAL_ALLOWANCE" else 18_000_000
        record["cashless"] = roll[7] % 10 < 8


_FACILITIES = tuple(f"74{k:03d}" for k in range(1, 401))


def _citizen_columns(
    pop: Population, idx: npt.NDArray[np.int64]
) -> list[tuple[dict[str, Any], str | None, date | None]]:
    """For each index: the citizen as declared (a ``vn.lgsp.Citizen`` record without the legacy
    number), their legacy number, their death date."""
    numbers, names, births, deaths = pop.columns(idx)
    communes = pop.communes
    rows = zip(
        numbers,
        names,
        births,
        deaths,
        pop.legacy[idx].tolist(),
        pop.female[idx].tolist(),
        pop.commune[idx].tolist(),
        strict=True,
    )
    return [
        (
            {
                "SoDinhDanh": number,
                "SoCMND": None,
                "HoVaTen": name,
                "NgayThangNamSinh": born,
                "GioiTinh": "FEMALE" if female else "MALE",
                "MaHuyen": communes[c][0],
                "MaXa": communes[c][1],
            },
            f"{legacy:09d}" if legacy >= 0 else None,
            died,
        )
        for number, name, born, died, legacy, female, c in rows
    ]


def generate_records(
    population: Population,
    department: Department,
    count: int,
    seed: int,
    dirt: DirtProfile | None = None,
    start: date = date(2026, 11, 1),
    days: int = 7,
) -> Iterator[SimulatedRecord]:
    """``count`` records of one department (its share of bundles included); deterministic."""
    simulator = Simulator(population, seed, dirt, start=start, days=days, departments=[department])
    return islice(simulator.records(), count)
