"""An in-memory view of the registry, laid out for reconciliation's hot path.

The reconciler holds the whole province (~2.7 M citizens). The view keeps them as columns:
numbers and dates as numpy arrays, indexed by :class:`~hub.registry.index.KeyIndex`, and each
citizen's registry-verified fields as the very bytes a reconciled record carries (the
``vn.lgsp.Citizen`` Avro encoding), end to end in one ``bytearray``. A batch of records is
matched with a few array operations, and a matched record's citizen is copied, not encoded.

Changes made after the snapshot (births, deaths, corrections) sit in small dicts in front of
the columns; the rows they replace are marked, so the batch path leaves them to the per-record
lookups (:meth:`RegistrySnapshot.by_id`, :meth:`RegistrySnapshot.by_legacy`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from hub.avro.varint import encode_long, read_long
from hub.registry.index import KeyIndex
from hub.registry.model import RegistryCitizen

__all__ = ["ALIVE", "RegistrySnapshot"]

IntArray = npt.NDArray[np.int64]
ALIVE = np.iinfo(np.int32).max  # ``died`` of a living citizen
_EPOCH = date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_GENDER = {"M": b"\x00", "F": b"\x02"}  # vn.lgsp.Gender: MALE is symbol 0, FEMALE symbol 1
_NULL = b"\x00"  # union branch 0: null


def _present(text: str | None) -> bytes:
    """A ``["null", "string"]`` value."""
    if text is None:
        return _NULL
    raw = text.encode()
    return b"\x02" + encode_long(len(raw)) + raw


class _Columns:
    """The snapshot's citizens as arrays, built a chunk of rows at a time, frozen by :meth:`done`.

    Per row only cheap lookups run in Python: the fixed-width parts (numbers, union branches,
    name lengths) are laid out with numpy, the rest comes from small caches (dates, residence
    codes), and the blob grows by one join of every part a chunk.
    """

    def __init__(self) -> None:
        self.arrays: dict[str, list[npt.NDArray[Any]]] = {k: [] for k in _ARRAYS}
        self.blob = bytearray()  # grown in place: a final join would hold every part and the whole
        self.size = 0
        self._days: dict[Any, int] = {None: ALIVE}
        self._dob: dict[Any, bytes] = {}
        self._codes: dict[str | None, bytes] = {None: _NULL}

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows whose numbers are 12 and 9 ASCII digits and whose gender is M or F."""
        cids, legacies, names, borns, genders, districts, communes, deaths = zip(*rows, strict=True)
        n = len(rows)
        days, dob, codes = self._days, self._dob, self._codes
        for value in set(borns).union(deaths).difference(days):
            day = (date.fromisoformat(value) if isinstance(value, str) else value).toordinal()
            days[value] = day - _EPOCH_ORDINAL
            dob[value] = b"\x02" + encode_long(day - _EPOCH_ORDINAL)
        for code in set(districts).union(communes).difference(codes):
            codes[code] = _present(code)
        has_legacy = np.array([legacy is not None for legacy in legacies], bool)
        raw_names = _utf8(names)
        name_len = np.fromiter(map(len, raw_names), np.int64, n)
        grid = np.empty((n, 6), object)  # the parts of each row's encoding, in order
        grid[:, 0], head_len = _heads(cids, [x for x in legacies if x is not None], has_legacy, name_len)
        grid[:, 1] = raw_names
        grid[:, 2] = list(map(dob.__getitem__, borns))
        grid[:, 3] = list(map(_GENDER.__getitem__, genders))
        grid[:, 4] = list(map(codes.__getitem__, districts))
        grid[:, 5] = list(map(codes.__getitem__, communes))
        size = head_len + name_len + 1
        for column in (2, 4, 5):
            size += np.fromiter(map(len, grid[:, column]), np.int64, n)
        at = self.size + np.cumsum(size) - size
        self.blob += b"".join(grid.ravel().tolist())
        self.size += int(size.sum())
        arrays = self.arrays
        arrays["ids"].append(_digits(cids, 12))
        legacy = np.full(n, -1, np.int64)
        legacy[has_legacy] = _digits([x for x in legacies if x is not None], 9)
        arrays["legacy"].append(legacy)
        arrays["born"].append(np.fromiter(map(days.__getitem__, borns), np.int32, n))
        arrays["died"].append(np.fromiter(map(days.__getitem__, deaths), np.int32, n))
        arrays["citizen_at"].append(at)
        arrays["name_at"].append(at + head_len)
        arrays["name_len"].append(name_len)
        arrays["name_high"].append(_high_bytes(raw_names, name_len))

    def done(self) -> dict[str, Any]:
        built: dict[str, Any] = {
            k: np.concatenate(v) if v else np.zeros(0, _ARRAYS[k]) for k, v in self.arrays.items()
        }
        built["blob"], self.blob = self.blob, bytearray()
        built["citizen_at"] = np.append(built["citizen_at"], len(built["blob"]))
        return built


_ARRAYS = {
    "ids": np.int64,
    "legacy": np.int64,
    "born": np.int32,
    "died": np.int32,
    "citizen_at": np.int64,
    "name_at": np.int64,
    "name_len": np.int64,
    "name_high": np.int64,
}
_CHUNK = 50_000


def _utf8(texts: Sequence[str]) -> list[bytes]:
    """Each text in UTF-8, encoded as one string and split again (texts without NUL)."""
    joined = "\x00".join(texts).encode()
    parts = joined.split(b"\x00")
    return parts if len(parts) == len(texts) else [t.encode() for t in texts]


def _high_bytes(texts: list[bytes], lengths: IntArray) -> IntArray:
    """How many bytes of 0x80 and above each of ``texts`` holds."""
    high = np.zeros(len(texts), np.int64)
    filled = np.flatnonzero(lengths)
    if filled.size:
        joined = np.frombuffer(b"".join(texts), np.uint8) >= 0x80
        high[filled] = np.add.reduceat(joined, (np.cumsum(lengths) - lengths)[filled], dtype=np.int64)
    return high


def _digits(numbers: Sequence[str], width: int) -> IntArray:
    """Strings of ``width`` ASCII digits as int64."""
    if not numbers:
        return np.zeros(0, np.int64)
    grid = np.frombuffer("".join(numbers).encode("ascii"), np.uint8).reshape(-1, width) - 48
    return grid.astype(np.int64) @ (10 ** np.arange(width - 1, -1, -1, dtype=np.int64))


def _heads(
    cids: Sequence[str], legacies: list[str], has_legacy: npt.NDArray[np.bool_], name_len: IntArray
) -> tuple[list[bytes], IntArray]:
    """Each citizen's encoding up to its name: number, legacy number, name length."""
    n = len(cids)
    grid = np.zeros((n, 28), np.uint8)
    grid[:, 0], grid[:, 1] = 0x02, 0x18  # union branch 1, 12 characters
    grid[:, 2:14] = np.frombuffer("".join(cids).encode("ascii"), np.uint8).reshape(n, 12)
    with_legacy = np.flatnonzero(has_legacy)
    grid[with_legacy, 14], grid[with_legacy, 15] = 0x02, 0x12  # union branch 1, 9 characters
    if legacies:
        grid[with_legacy, 16:25] = np.frombuffer("".join(legacies).encode("ascii"), np.uint8).reshape(-1, 9)
    at = np.where(has_legacy, 25, 15)  # a row without a legacy number has its null (0x00) at 14
    zigzag = name_len * 2
    rows = np.arange(n)
    grid[rows, at] = np.where(zigzag >= 0x80, (zigzag & 0x7F) | 0x80, zigzag)
    two = zigzag >= 0x80
    grid[rows[two], at[two] + 1] = zigzag[two] >> 7  # names shorter than 8,192 bytes
    length = at + 1 + two
    heads: list[bytes] = grid.view("S28").ravel().tolist()
    for row in np.flatnonzero(zigzag == 0).tolist():  # an empty name ends in 0x00, which S28 strips
        heads[row] += b"\x00"
    return heads, length


def _indexable(row: Sequence[Any]) -> bool:
    """Whether the columns can hold a row: 12- and 9-digit numbers, gender M or F."""
    cid, legacy, gender = row[0], row[1], row[4]
    return (
        _numbers((cid,), 12)
        and (legacy is None or _numbers((legacy,), 9))
        and gender in _GENDER
        and len(row[2]) < 2048
    )


def _all_indexable(rows: Sequence[Sequence[Any]]) -> bool:
    """:func:`_indexable` for every row, checked column-wise."""
    cids, legacies, names, _, genders = list(zip(*rows, strict=True))[:5]
    present = [x for x in legacies if x is not None]
    return (
        _numbers(cids, 12)
        and (not present or _numbers(present, 9))
        and set(genders) <= _GENDER.keys()
        and max(map(len, names)) < 2048  # a name length's varint is then at most two bytes
    )


def _numbers(values: Sequence[Any], width: int) -> bool:
    try:
        joined = "".join(values)
    except TypeError:  # not all strings
        return False
    return set(map(len, values)) == {width} and joined.isascii() and joined.isdigit()


class RegistrySnapshot:
    """Citizens by 12-digit number and by legacy 9-digit number.

    ``change_id`` is the last registry change the view includes; poll
    ``RegistryStore.changes_since(snapshot.change_id)`` and :meth:`update` to keep it current.

    The columns (``ids``, ``legacy``, ``born`` and ``died`` in days since 1970, ``died`` being
    :data:`ALIVE` for the living, ``name_at``/``name_len``/``name_high`` locating each name in
    ``blob`` and counting its non-ASCII bytes, ``citizen_at`` the start of each citizen's
    encoding in ``blob``; ``replaced`` and ``legacy_moved`` the rows whose citizen or legacy
    number a later change holds) are for the batch path.
    """

    def __init__(self, citizens: Iterable[RegistryCitizen] = (), change_id: int = 0) -> None:
        self._build([tuple(c) for c in citizens], change_id)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]], change_id: int = 0) -> RegistrySnapshot:
        """A view of database rows: columns in :class:`RegistryCitizen` order, dates as ``date``
        or ISO text, numbers and legacy numbers distinct (as the registry's table holds them).

        The cyclic garbage collector is paused meanwhile: the rows hold no cycles, and scanning
        millions of them while they stream by would double the time.
        """
        snapshot = cls.__new__(cls)
        snapshot._build(rows, change_id)
        return snapshot

    def _build(self, rows: Iterable[Sequence[Any]], change_id: int) -> None:
        self.change_id = change_id
        self._by_id: dict[str, RegistryCitizen] = {}  # later changes, and rows the columns cannot hold
        self._by_legacy: dict[str, RegistryCitizen | None] = {}  # None: no longer this number's owner
        columns = _Columns()
        collecting = gc.isenabled()
        gc.disable()
        try:
            chunk: list[Sequence[Any]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == _CHUNK:
                    self._add(columns, chunk)
                    chunk = []
            self._add(columns, chunk)
        finally:
            if collecting:
                gc.enable()
        built = columns.done()
        self.ids: IntArray = built["ids"]
        self.legacy: IntArray = built["legacy"]
        self.born: npt.NDArray[np.int32] = built["born"]
        self.died: npt.NDArray[np.int32] = built["died"]
        self.name_at: IntArray = built["name_at"]
        self.name_len: IntArray = built["name_len"]
        self.name_high: IntArray = built["name_high"]
        self.blob: bytearray = built["blob"]
        self.citizen_at: IntArray = built["citizen_at"]
        self.replaced = np.zeros(len(self.ids), bool)  # a later change holds this row's citizen
        self.legacy_moved = np.zeros(len(self.ids), bool)  # a later change holds this row's legacy number
        self.id_index = KeyIndex(self.ids)
        self.legacy_index = KeyIndex(self.legacy)

    def _add(self, columns: _Columns, rows: list[Sequence[Any]]) -> None:
        """Rows into the columns; the odd row the columns cannot hold goes into the dicts."""
        fit = rows if rows and _all_indexable(rows) else [row for row in rows if _indexable(row)]
        if fit:
            columns.add(fit)
        if len(fit) < len(rows):
            for row in rows:
                if not _indexable(row):
                    cid, legacy, name, born, gender, district, commune, died = row
                    self._set(
                        RegistryCitizen(
                            cid, legacy, name, _date(born) or date.min, gender, district, commune, _date(died)
                        )
                    )

    def _set(self, citizen: RegistryCitizen) -> None:
        self._by_id[citizen.citizen_id] = citizen
        if citizen.legacy_id:
            self._by_legacy[citizen.legacy_id] = citizen

    def update(self, citizens: Iterable[RegistryCitizen]) -> None:
        """Add or replace citizens (a birth, a death, a correction)."""
        for citizen in citizens:
            old = self.by_id(citizen.citizen_id)
            stale = None if old is None else old.legacy_id
            # Drop the old legacy number, unless another citizen has taken it over meanwhile.
            if stale and stale != citizen.legacy_id and self.by_legacy(stale) == old:
                self._by_legacy[stale] = None
                _mark(self.legacy_moved, self._legacy_row(stale))
            _mark(self.replaced, self._id_row(citizen.citizen_id))
            if citizen.legacy_id:
                _mark(self.legacy_moved, self._legacy_row(citizen.legacy_id))
            self._set(citizen)

    def _id_row(self, citizen_id: str) -> int:
        if len(citizen_id) != 12 or not citizen_id.isdigit() or not citizen_id.isascii():
            return -1
        return self.id_index.find_one(int(citizen_id))

    def _legacy_row(self, legacy_id: str) -> int:
        if len(legacy_id) != 9 or not legacy_id.isdigit() or not legacy_id.isascii():
            return -1
        return self.legacy_index.find_one(int(legacy_id))

    def by_id(self, citizen_id: str) -> RegistryCitizen | None:
        found = self._by_id.get(citizen_id)
        if found is not None:
            return found
        row = self._id_row(citizen_id)
        return None if row < 0 or self.replaced[row] else self.citizen(row)

    def by_legacy(self, legacy_id: str) -> RegistryCitizen | None:
        if legacy_id in self._by_legacy:
            return self._by_legacy[legacy_id]
        row = self._legacy_row(legacy_id)
        return None if row < 0 or self.replaced[row] or self.legacy_moved[row] else self.citizen(row)

    def encoded(self, row: int) -> bytes:
        """The ``vn.lgsp.Citizen`` bytes the columns hold for a row (what the batch path copies)."""
        start = int(self.citizen_at[row])
        end = int(self.citizen_at[row + 1]) if row + 1 < len(self.citizen_at) else len(self.blob)
        return bytes(self.blob[start:end])

    def sample_rows(self, n: int = 64) -> list[int]:
        """A few column rows spread over the view, with and without a legacy number."""
        total = len(self.ids)
        if not total:
            return []
        rows = set(np.linspace(0, total - 1, min(n, total)).astype(np.int64).tolist())
        for wanted in (self.legacy < 0, self.legacy >= 0):
            found = np.flatnonzero(wanted)
            rows.update(found[:4].tolist())
        return sorted(rows)

    def citizen(self, row: int) -> RegistryCitizen:
        """The citizen of a column row, as the registry holds them."""
        return _decode(self.blob, int(self.citizen_at[row]), int(self.died[row]))

    def __len__(self) -> int:
        return int(np.count_nonzero(~self.replaced)) + len(self._by_id)

    def __iter__(self) -> Iterator[RegistryCitizen]:
        """Every citizen in the view, in no particular order."""
        for row in np.flatnonzero(~self.replaced).tolist():
            yield self.citizen(row)
        yield from self._by_id.values()


def _mark(flags: npt.NDArray[np.bool_], row: int) -> None:
    if row >= 0:
        flags[row] = True


def _date(value: Any) -> date | None:
    if value is None:
        return None
    return date.fromisoformat(value) if isinstance(value, str) else value


def _read_text(blob: bytes | bytearray, pos: int) -> tuple[str | None, int]:
    """A ``["null", "string"]`` value at ``pos``."""
    branch, pos = read_long(blob, pos)
    if branch == 0:
        return None, pos
    size, pos = read_long(blob, pos)
    return blob[pos : pos + size].decode(), pos + size


def _decode(blob: bytes | bytearray, pos: int, died: int) -> RegistryCitizen:
    """The citizen whose encoding (as :class:`_Columns` writes it) starts at ``pos``."""
    cid, pos = _read_text(blob, pos)
    legacy, pos = _read_text(blob, pos)
    size, pos = read_long(blob, pos)
    name = blob[pos : pos + size].decode()
    _, pos = read_long(blob, pos + size)  # the date's union branch
    born, pos = read_long(blob, pos)
    gender, pos = read_long(blob, pos)
    district, pos = _read_text(blob, pos)
    commune, _ = _read_text(blob, pos)
    return RegistryCitizen(
        str(cid),
        legacy,
        name,
        _EPOCH + timedelta(days=born),
        "M" if gender == 0 else "F",
        district,
        commune,
        None if died == ALIVE else _EPOCH + timedelta(days=died),
    )
