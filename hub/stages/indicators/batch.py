"""The indicators' common case a whole batch at a time: reconciled records read a field at a time.

:func:`hub.stages.indicators.records.dossier_of` reads one decoded record; at the stage's rate,
decoding every record would cost more than the whole budget. :class:`BatchReader` reads the
reconciled records of a batch straight from their wire bytes with :mod:`hub.avro.scan`, and
computes their facts, exclusions and lateness as array operations; only the record id and
the few distinct codes of a batch (departments, procedures, districts, communes) become Python
strings.

It decides only what it can decide exactly as the per-record path would: a well-formed
record of a reconciled schema with the fields the indicators read (of the types they expect),
published with a timestamp, whose decoded text is ASCII, or is not but only in the citizen's
name and is UTF-8 there. Everything else it hands back for the per-record path. The tests
hold the two paths to the same dossiers, exclusions and late records.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import fastavro
import numpy as np
import numpy.typing as npt

from hub.avro.scan import BatchBuffer, BatchScan, ScanPlan, scan_plan
from hub.avro.wire import HEADER_SIZE, AvroCodec
from hub.errors import HubError
from hub.province import Province
from hub.stages.indicators.formulas import Facts
from hub.stages.indicators.records import UNKNOWN, Dossiers, Exclusion

__all__ = ["BatchRead", "BatchReader"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_DAY_MS = 86_400_000
_VIETNAM_MS = 7 * 3_600_000  # Vietnam is UTC+7, all year
_EPOCH = date(1970, 1, 1)
_WIDTH = 32  # codes longer than this (bytes) go to the per-record path
_MIX = np.uint64(0x9E3779B97F4A7C15)
_PROCEDURE = re.compile(r"^\d{1,3}(\.\d{1,9})+$")  # as records.py reads MaTTHC
_ASCII_SPACE = np.zeros(256, bool)
_ASCII_SPACE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20]] = True  # what str.strip() strips

# What is read of a reconciled record, and the shape each field must have.
_STRINGS = ("record_id", "department", "citizen.HoVaTen", "dossier.MaTTHC")
_OPTIONAL_STRINGS = ("citizen.MaHuyen", "citizen.MaXa", "dossier.DuongDanTepTinKetQua")
_TIMES = ("dossier.NgayTiepNhan", "dossier.NgayHenTra", "dossier.NgayKetThucXuLy")
_NUMBERS = {
    "dossier.KenhThucHien": "int",
    "dossier.PhiLePhi": "long",
    "dossier.DuocThanhToanTrucTuyen": "int",
}
_FLAGS = ("dossier.HoSoCoThanhPhanSoHoa", "dossier.DuocLayTuKhoDMQG", "dossier.TaiKhoanDuocXacThucVoiVNeID")
_SHAPES = {
    "agency": "string",
    **dict.fromkeys(_STRINGS, "string"),
    **dict.fromkeys(_OPTIONAL_STRINGS, "?string"),
    **dict.fromkeys(_TIMES, "?timestamp-millis"),
    **_NUMBERS,
    **dict.fromkeys(_FLAGS, "boolean"),
}
# The reconciled record's fields: the head, up to the department, holds all the per-record path
# decodes (it reads past the agency, the time and the rest).
_FIELDS = (
    "record_id",
    "agency",
    "occurred_at",
    "citizen",
    "dossier",
    "department",
    "reason",
    "source",
    "reconciled_at",
    "original_schema_id",
    "original",
)
_HEAD = _FIELDS.index("department") + 1


@dataclass
class BatchRead:
    """What the batch path decided: ``rows`` (indexes into the batch) are done, as ``counted``
    (their dossiers), ``late`` (published after the allowed lateness) and ``excluded``."""

    rows: list[int] = field(default_factory=list)
    counted: Dossiers = field(default_factory=Dossiers)
    late: list[int] = field(default_factory=list)
    excluded: Counter[tuple[str, str]] = field(default_factory=Counter)  # (reason, department)


class BatchReader:
    """Reads the common case of a batch of reconciled records; see the module docstring."""

    def __init__(self, codec: AvroCodec, province: Province, allowed_lateness: timedelta) -> None:
        self.codec = codec
        self.max_bytes = codec.max_bytes
        self.allowed_ms = allowed_lateness.total_seconds() * 1000
        self._plans: dict[int, tuple[ScanPlan, ScanPlan] | None] = {}
        self._communes = {d.code: frozenset(d.communes) for d in province.districts}
        self._days: dict[int, date] = {}

    def plan(self, schema_id: int) -> tuple[ScanPlan, ScanPlan] | None:
        """How to scan records of ``schema_id``, or None for the per-record path."""
        if schema_id not in self._plans:
            self._plans[schema_id] = self._make_plan(schema_id)
        return self._plans[schema_id]

    def _make_plan(self, schema_id: int) -> tuple[ScanPlan, ScanPlan] | None:
        try:
            self.codec.schema(schema_id)  # RecordDecodeError if unknown
            expanded: Any = fastavro.parse_schema(json.loads(self.codec.text(schema_id)), expand=True)
            shapes = {path: _shape(_field(expanded, path)) for path in _SHAPES}
            names = tuple(f["name"] for f in expanded["fields"])
        except (HubError, KeyError, TypeError, AttributeError, ValueError, StopIteration):
            return None
        if shapes != _SHAPES or names != _FIELDS:
            return None
        head = scan_plan(expanded, frozenset(_SHAPES), 0, _HEAD)
        tail = scan_plan(expanded, frozenset(), _HEAD, text=False)  # its text is never decoded
        return None if head is None or tail is None else (head, tail)

    def read(self, values: Sequence[bytes], published_ms: IntArray) -> BatchRead:
        """Decide the records of ``values`` (reconciled records' wire bytes) that can be decided
        here; ``published_ms``: each one's Kafka timestamp in ms, negative when it has none."""
        result = BatchRead()
        if not len(values):
            return result
        buffer = BatchBuffer(values)
        scanned = self._scan(buffer, np.asarray(published_ms) >= 0)
        if scanned is None:
            return result
        rows, whole = scanned
        scan = whole.scan
        keep = scan.ok & self._text_ok(buffer, whole)

        def strings(path: str, present: bool = False) -> tuple[_Codes, BoolArray]:
            there = scan.present[path][keep] if present else None
            return _codes(buffer, scan.values[path][keep], scan.lengths[path][keep], there)

        departments, ok = strings("department")
        procedures, ok_procedure = strings("dossier.MaTTHC")
        districts, ok_district = strings("citizen.MaHuyen", present=True)
        communes, ok_commune = strings("citizen.MaXa", present=True)
        link, ok_link = _links(
            buffer,
            scan.values["dossier.DuongDanTepTinKetQua"][keep],
            scan.lengths["dossier.DuongDanTepTinKetQua"][keep],
            scan.present["dossier.DuongDanTepTinKetQua"][keep],
        )
        ok &= ok_procedure & ok_district & ok_commune & ok_link
        chosen = np.flatnonzero(keep)[ok]  # indexes into the scan
        rows = rows[chosen]
        published = np.asarray(published_ms)[rows]
        link = link[ok]
        department, procedure = departments.code[ok], procedures.code[ok]
        district, commune = districts.code[ok], communes.code[ok]

        def value(path: str) -> IntArray:
            return scan.values[path][chosen]

        def there(path: str) -> BoolArray:
            return scan.present[path][chosen]

        received_at, due_at, finished_at = (value(path) for path in _TIMES)
        has_received, has_due, has_finished = (there(path) for path in _TIMES)
        no_receipt = ~has_received
        future = has_received & (received_at > published + _DAY_MS)
        has_received &= ~future  # a receipt date after publication is taken as none
        backwards = has_received & has_finished & (finished_at < received_at)
        on_time = has_due & (np.where(has_finished, finished_at, published) <= due_at)
        facts = {
            "received": has_received,
            "online": value("dossier.KenhThucHien") == 2,
            "has_fee": value("dossier.PhiLePhi") > 0,
            "paid_online": np.isin(value("dossier.DuocThanhToanTrucTuyen"), (1, 2)),
            "finished": has_finished,
            "e_result": link,
            "has_deadline": has_due & ~backwards,  # out of the on-time denominator
            "on_time": on_time & ~backwards,
            "digitized": value("dossier.HoSoCoThanhPhanSoHoa") == 1,
            "from_data_store": value("dossier.DuocLayTuKhoDMQG") == 1,
            "vneid": value("dossier.TaiKhoanDuocXacThucVoiVNeID") == 1,
            "registry_matched": np.ones(len(rows), bool),  # a reconciled record: matched
            "synced": np.zeros(len(rows), bool),
        }
        bits = np.zeros(len(rows), np.int64)
        for i, name in enumerate(Facts._fields):
            bits |= facts[name].astype(np.int64) << i
        day = np.where(has_received, (received_at + _VIETNAM_MS) // _DAY_MS, 0)
        published_day = (published + _VIETNAM_MS) // _DAY_MS
        late = has_received & ((published_day - day) * _DAY_MS > self.allowed_ms)

        district_names, commune_names = districts.distinct, communes.distinct
        known = np.array([name in self._communes for name in district_names], bool)
        district_known = there("citizen.MaHuyen") & known[np.maximum(district, 0)]
        pairs = np.zeros((len(district_names), len(commune_names) + 1), bool)  # column -1: none
        for d, name in enumerate(district_names):
            inside = self._communes.get(name, frozenset())
            pairs[d, : len(commune_names)] = [c in inside for c in commune_names]
        commune_known = district_known & pairs[np.maximum(district, 0), commune]
        procedure_known = np.array([bool(_PROCEDURE.match(p)) for p in procedures.distinct], bool)
        procedure_ok = procedure_known[procedure]

        counted = ~late
        exclusions = {
            Exclusion.NO_RECEIPT_DATE: no_receipt & counted,
            Exclusion.RECEIVED_IN_FUTURE: future & counted,
            Exclusion.FINISHED_BEFORE_RECEIVED: backwards & counted,
            Exclusion.UNKNOWN_DISTRICT: ~district_known & counted,
            Exclusion.UNKNOWN_PROCEDURE: ~procedure_ok & counted,
            Exclusion.TOO_LATE: late,
        }
        names = departments.distinct
        for reason, where in exclusions.items():
            for code, n in enumerate(np.bincount(department[where], minlength=len(names)).tolist()):
                if n:
                    result.excluded[reason.value, names[code]] += n
        result.rows, result.late = rows.tolist(), rows[late].tolist()

        take = np.flatnonzero(counted)
        at, size = (scan.values["record_id"][chosen][take], scan.lengths["record_id"][chosen][take])
        days = [
            self._day(d) if has else None
            for d, has in zip(day[take].tolist(), has_received[take].tolist(), strict=True)
        ]
        district_name = np.array([*district_names, UNKNOWN], object)
        commune_name = np.array([*commune_names, UNKNOWN], object)
        result.counted = Dossiers(
            rows[take].tolist(),
            _texts(buffer, at, size),
            np.array(names, object)[department[take]].tolist(),
            np.array([*procedures.distinct, UNKNOWN], object)[
                np.where(procedure_ok, procedure, -1)[take]
            ].tolist(),
            district_name[np.where(district_known, district, -1)[take]].tolist(),
            commune_name[np.where(commune_known, commune, -1)[take]].tolist(),
            days,
            bits[take].tolist(),
        )
        return result

    def _scan(self, buffer: BatchBuffer, wanted: BoolArray) -> tuple[IntArray, _Scan] | None:
        """The well-framed records of the one reconciled schema with a plan, and their scan."""
        rows = buffer.framed(wanted, self.max_bytes)
        ids = buffer.schema_ids(rows)
        plans = {i: self.plan(i) for i in np.unique(ids).tolist()}
        usable = [i for i, plan in plans.items() if plan is not None]
        if len(usable) != 1:  # none, or several reconciled schemas at once: the per-record path
            return None
        plan = plans[usable[0]]
        assert plan is not None
        head, tail = plan
        rows = rows[ids == usable[0]]
        scan = head.scan(buffer, rows, buffer.starts[rows] + HEADER_SIZE)
        head_end, head_known = scan.end.copy(), scan.known_high.copy()
        scan.then(np.arange(len(rows)), tail.scan(buffer, rows, head_end))
        scan.ok &= scan.end == buffer.ends[rows]  # to the last byte (text: see _text_ok)
        return rows, _Scan(scan, head_end, head_known)

    def _text_ok(self, buffer: BatchBuffer, scanned: _Scan) -> BoolArray:
        """Whether the text the per-record path decodes (all but the agency's, in the head) is
        ASCII, or is not only in the name, which is UTF-8 there."""
        scan = scanned.scan
        agency_at, agency_len = scan.values["agency"], scan.lengths["agency"]
        head_text = buffer.high_in(scan.spans["record_id"][0], scanned.head_end) - scanned.head_known
        text_high = head_text - buffer.high_in(agency_at, agency_at + agency_len)
        ok = text_high == 0
        name_at, name_len = scan.values["citizen.HoVaTen"], scan.lengths["citizen.HoVaTen"]
        check = np.flatnonzero(~ok & scan.ok & (buffer.high_in(name_at, name_at + name_len) == text_high))
        joined = buffer.joined
        names = [
            joined[a : a + n] for a, n in zip(name_at[check].tolist(), name_len[check].tolist(), strict=True)
        ]
        try:  # all at once: an ASCII byte between them is never part of a character
            b"\n".join(names).decode()
            ok[check] = True
        except UnicodeDecodeError:
            for i, name in zip(check.tolist(), names, strict=True):
                try:
                    name.decode()
                except UnicodeDecodeError:
                    continue
                ok[i] = True
        return ok  # type: ignore[no-any-return]

    def _day(self, days: int) -> date:
        value = self._days.get(days)
        if value is None:
            value = self._days[days] = _EPOCH + timedelta(days=days)
        return value


@dataclass(frozen=True)
class _Scan:
    """A scan of reconciled records, with where each one's head (the fields up to the
    department) ends and the high bytes accounted for in it."""

    scan: BatchScan
    head_end: IntArray
    head_known: IntArray


def _links(
    buffer: BatchBuffer, at: IntArray, size: IntArray, present: BoolArray
) -> tuple[BoolArray, BoolArray]:
    """Whether each result link is a non-empty string after ``str.strip()``; and whether that
    could be told here (a link that starts with a space or non-ASCII: the per-record path)."""
    has = present & (size > 0)
    first = buffer.data[np.minimum(at, len(buffer.data) - 1)]
    plain = (first < 0x80) & ~_ASCII_SPACE[first]
    return has & plain, ~has | plain


@dataclass
class _Codes:
    """A string field of few distinct values: each record's index into ``distinct``."""

    code: IntArray
    distinct: list[str]

    def names(self, ok: BoolArray) -> list[str]:
        return [self.distinct[c] for c in self.code[ok].tolist()]


def _codes(
    buffer: BatchBuffer, at: IntArray, size: IntArray, present: BoolArray | None = None
) -> tuple[_Codes, BoolArray]:
    """The distinct values of a short string field (absent ones: code -1, name ''); and whether
    each one could be read here (not longer than ``_WIDTH`` bytes, ASCII).

    Each value's bytes are packed into 64-bit words and hashed to one number to find the
    distinct ones; every value is then compared word by word with the first of its hash, so a
    collision only sends its records to the per-record path."""
    n = len(at)
    there = np.ones(n, bool) if present is None else present
    size = np.where(there, size, 0)
    fits = size <= _WIDTH
    used = np.where(fits, size, 0)
    words = max(1, -(-int(used.max(initial=0)) // 8))
    offsets = np.arange(words * 8)
    index = np.minimum(at[:, None] + offsets, len(buffer.data) - 1)
    grid = np.where(offsets < used[:, None], buffer.data[index], 0).astype(np.uint8)
    packed = grid.view(np.uint64)
    key = used.astype(np.uint64)
    for w in range(words):
        key = key * _MIX + packed[:, w]  # wraps around: a hash
    _, first, code = np.unique(key, return_index=True, return_inverse=True)
    code = code.reshape(-1).astype(np.int64)
    same = (packed == packed[first][code]).all(axis=1) & (used == used[first][code])
    names: list[str] = []
    ascii_ok = np.ones(len(first), bool)
    for k, row in enumerate(first.tolist()):
        text = grid[row, : used[row]].tobytes()
        ascii_ok[k] = text.isascii()
        names.append(text.decode("ascii", "replace"))
    ok = fits & same & ascii_ok[code]
    return _Codes(np.where(there, code, -1), names), ok


def _texts(buffer: BatchBuffer, at: IntArray, size: IntArray) -> list[str]:
    joined = buffer.joined
    return [joined[a : a + n].decode() for a, n in zip(at.tolist(), size.tolist(), strict=True)]


def _field(expanded: Any, path: str) -> Any:
    """The type of the field at ``path`` (``"dossier.MaTTHC"``) of an expanded record schema."""
    schema = expanded
    for name in path.split("."):
        if isinstance(schema, dict) and isinstance(schema.get("type"), dict):
            schema = schema["type"]
        schema = next(f["type"] for f in schema["fields"] if f["name"] == name)
    return schema


def _shape(schema: Any) -> str:
    """``string``, ``?string`` (a union with null), ``int``, ``timestamp-millis``…"""
    if isinstance(schema, list):
        others = [b for b in schema if b != "null"]
        return "?" + _shape(others[0]) if len(schema) == 2 and len(others) == 1 else "other"
    if isinstance(schema, dict):
        if isinstance(schema["type"], dict | list):
            return _shape(schema["type"])
        return str(schema.get("logicalType") or schema["type"])
    return str(schema)
