"""Reconciliation of a whole batch at once: the common case in array operations.

:func:`hub.stages.reconcile.rules.reconcile` decides one decoded record; at province scale decoding and
encoding every record would cost more than the whole budget. :class:`BatchReconciler` reads a
batch's wire bytes with :mod:`hub.avro.scan`, matches the declared numbers against the
registry's columns (:class:`~hub.registry.RegistrySnapshot`) and builds each matched record's
output by copying bytes: the input's record id, agency, time and dossier, the registry's
citizen, the original record.

It decides only what it can decide exactly as the per-record path would: a well-formed record
of a department schema with the hub's common head (record id, agency, time, citizen, dossier)
whose declared number (12 digits; 11, a lost leading zero; or one with separators, repaired as
:func:`~hub.stages.reconcile.rules.repair_id` does; or, with no number, a 9-digit legacy number) is in the
registry, with the same name (byte for byte, or after normalisation), the same birth date or
none, and a living citizen. Everything else (every rejection, deaths, citizens changed since
the snapshot, text that is not ASCII outside the name) it hands back for the per-record path.
The tests hold the two paths to the same output bytes.
"""

from __future__ import annotations

import io
import json
import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import Any

import fastavro
import numpy as np
import numpy.typing as npt
from fastavro.schema import to_parsing_canonical_form

from hub.avro.encoder import encode_timestamp_millis
from hub.avro.scan import BatchBuffer, BatchScan, ScanPlan, scan_plan
from hub.avro.varint import encode_long, encode_many
from hub.avro.wire import HEADER_SIZE, AvroCodec, frame
from hub.citizen_id import repair_id
from hub.errors import HubError
from hub.reasons import Reason
from hub.registry.snapshot import ALIVE, RegistrySnapshot
from hub.stages.reconcile.rules import fold_name

__all__ = ["BatchReconciler", "BatchResult"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_HEAD = ("record_id", "agency", "occurred_at", "citizen", "dossier")
_ID, _LEGACY, _NAME, _BORN = (f"citizen.{f}" for f in ("SoDinhDanh", "SoCMND", "HoVaTen", "NgayThangNamSinh"))
_CAPTURE = frozenset({_ID, _LEGACY, _NAME, _BORN})
# Outcomes decided here, in the order of their index.
_REASONS = (
    Reason.MATCHED,
    Reason.MATCHED_REPAIRED_ID,
    Reason.MATCHED_LEGACY_ID,
    Reason.MATCHED_NORMALIZED_NAME,
)
_EXACT, _REPAIRED, _LEGACY_FOUND, _NORMALIZED = range(4)
_SOURCE = '{"name":"vn.lgsp.SourcePosition","type":"record","fields":[{"name":"topic","type":"string"},{"name":"partition","type":"int"},{"name":"offset","type":"long"}]}'  # noqa: E501
_RECONCILED_FIELDS = (
    ("record_id", '"string"'),
    ("agency", '"string"'),
    ("occurred_at", '"long"'),
    ("citizen", None),
    ("dossier", None),
    ("department", '"string"'),
    ("reason", '"string"'),
    ("source", _SOURCE),
    ("reconciled_at", '"long"'),
    ("original_schema_id", '"int"'),
    ("original", '"bytes"'),
)


@dataclass
class BatchResult:
    """The inputs decided here (``rows``, indexes into the batch), their outputs and reasons."""

    rows: list[int] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (topic, reason) → records


@dataclass(frozen=True)
class _Head:
    """The scan of the records of known schemas (``rows``: their indexes in the batch)."""

    rows: IntArray  # batch indexes
    scan: BatchScan


def _canonical(schema: Any) -> str:
    return str(to_parsing_canonical_form(schema))


class BatchReconciler:
    """Decides the common case of a batch of department messages; see the module docstring.

    ``departments`` maps each department topic to its department name. A reconciled schema of
    another shape than the hub's (checked field by field) turns the batch path off.
    """

    def __init__(self, codec: AvroCodec, reconciled_schema_id: int, departments: dict[str, str]) -> None:
        self.codec = codec
        self.schema_id = reconciled_schema_id
        self.max_bytes = codec.max_bytes  # the per-record path refuses larger records as OVERSIZED
        self._plans: dict[int, ScanPlan | None] = {}  # per schema id: its fields after the head
        self._head: ScanPlan | None = None  # the head, the same in every schema with a plan
        self._parts = self._reconciled_parts(departments)
        self._frame = frame(reconciled_schema_id, b"")
        self._reasons = [_string(r.value) for r in _REASONS]
        self._codes, self._middle = self._middles()
        self._checked: object = None  # the registry view whose citizen bytes were last checked
        self.off: str | None = None  # why the batch path turned itself off, if it did

    def _reconciled_parts(self, departments: dict[str, str]) -> dict[str, tuple[bytes, bytes]] | None:
        """Per topic: the encoded department and source topic; None if the schema is not the hub's."""
        try:
            fields = self._expanded(self.schema_id)["fields"]
            shape = {f["name"]: _canonical(f["type"]) for f in fields}
            times = [fields[i]["type"].get("logicalType") for i in (2, 8)]
        except (HubError, KeyError, TypeError, AttributeError, IndexError):
            return None
        if (
            [f["name"] for f in fields] != [name for name, _ in _RECONCILED_FIELDS]
            or any(kind and shape[name] != kind for name, kind in _RECONCILED_FIELDS)
            or times != ["timestamp-millis", "timestamp-millis"]
        ):
            return None
        self._citizen, self._dossier = shape["citizen"], shape["dossier"]
        return {topic: (_string(department), _string(topic)) for topic, department in departments.items()}

    def _citizens_differ(self, registry: RegistrySnapshot) -> str | None:
        """Why the registry's pre-encoded citizens are not what the registered ``vn.lgsp.Citizen``
        schema writes for them (checked on a sample of rows), or None when they are.

        The batch path copies those bytes into every reconciled record: if their layout and the
        schema ever part, it must stop rather than write records a reader would misread.
        """
        try:
            citizen_schema = fastavro.parse_schema(self._expanded_field(self.schema_id, "citizen"))
        except (HubError, KeyError, TypeError, ValueError) as exc:
            return f"the reconciled schema's citizen field cannot be read: {exc}"
        for row in registry.sample_rows():
            out = io.BytesIO()
            fastavro.schemaless_writer(out, citizen_schema, registry.citizen(row).as_citizen_record())
            if out.getvalue() != registry.encoded(row):
                return (
                    f"the registry snapshot's bytes for citizen row {row} differ from the registered "
                    f"vn.lgsp.Citizen schema's encoding (schema id {self.schema_id})"
                )
        return None

    def _expanded_field(self, schema_id: int, name: str) -> Any:
        return next(f["type"] for f in self._expanded(schema_id)["fields"] if f["name"] == name)

    def _middles(self) -> tuple[dict[str, int], npt.NDArray[np.object_]]:
        """Topic → code, and per (code, outcome) the encoded department, reason and source topic."""
        parts = self._parts or {}
        codes = {topic: code for code, topic in enumerate(parts)}
        table = np.empty((len(parts), len(_REASONS)), object)
        for topic, code in codes.items():
            department, source = parts[topic]
            for k, reason in enumerate(self._reasons):
                table[code, k] = department + reason + source
        return codes, table

    def _expanded(self, schema_id: int) -> Any:
        self.codec.schema(schema_id)  # RecordDecodeError if unknown
        return fastavro.parse_schema(json.loads(self.codec.text(schema_id)), expand=True)

    def _plan(self, schema_id: int) -> ScanPlan | None:
        """How to read the rest of a record of ``schema_id`` after its head, or None for the
        per-record path."""
        if schema_id in self._plans:
            return self._plans[schema_id]
        plan = None
        try:
            expanded = self._expanded(schema_id)
            fields = expanded["fields"][: len(_HEAD)]
            if (
                [f["name"] for f in fields] == list(_HEAD)
                and [_canonical(f["type"]) for f in fields[:3]] == ['"string"', '"string"', '"long"']
                and fields[2]["type"].get("logicalType") == "timestamp-millis"
                and _canonical(fields[3]["type"]) == self._citizen
                and _canonical(fields[4]["type"]) == self._dossier
            ):
                head = scan_plan(expanded, _CAPTURE, 0, len(_HEAD))
                plan = scan_plan(expanded, frozenset(), len(_HEAD)) if head is not None else None
                self._head = self._head or head
        except (HubError, KeyError, TypeError, AttributeError, ValueError):
            plan = None
        self._plans[schema_id] = plan
        return plan

    def run(
        self,
        values: Sequence[bytes],
        topics: Sequence[str],
        partitions: IntArray,
        offsets: IntArray,
        registry: object,
        now: datetime,
    ) -> BatchResult:
        """Decide what can be decided here; the rest is not in ``result.rows``."""
        result = BatchResult()
        if self._parts is None or not isinstance(registry, RegistrySnapshot) or not values:
            return result
        if registry is not self._checked:
            self.off, self._checked = self._citizens_differ(registry), registry
        if self.off:
            return result
        buffer = BatchBuffer(values)
        codes = np.fromiter(map(self._codes.get, topics, repeat(-1, len(topics))), np.int64, len(topics))
        head = self._scan(buffer, codes >= 0)
        if head is None:
            return result
        rows, at, how, parts = self._match(buffer, head, registry)
        how = self._names(values, rows, at, how, parts, registry)
        keep = how >= 0
        rows, at, how, parts = rows[keep], at[keep], how[keep], parts[:, keep]
        if rows.size:
            self._build(
                values, buffer, rows, at, how, parts, codes[rows], partitions, offsets, registry, now, result
            )
        return result

    def _scan(self, buffer: BatchBuffer, wanted: BoolArray) -> _Head | None:
        """Scan the ``wanted``, well-framed records of known schemas: the head they share all at
        once, the rest a schema at a time."""
        starts = buffer.starts
        rows = buffer.framed(wanted, self.max_bytes)
        schema_ids = buffer.schema_ids(rows)
        tails = {}
        for schema_id in np.unique(schema_ids).tolist():
            plan = self._plan(int(schema_id))
            if plan is not None:
                tails[schema_id] = plan
        known = np.isin(schema_ids, list(tails))
        rows, schema_ids = rows[known], schema_ids[known]
        if self._head is None or not rows.size:
            return None
        scan = self._head.scan(buffer, rows, starts[rows] + HEADER_SIZE)
        for schema_id, plan in tails.items():
            subset = np.flatnonzero(schema_ids == schema_id)
            scan.then(subset, plan.scan(buffer, rows[subset], scan.end[subset]))
        scan.finish(buffer, rows)
        return _Head(rows, scan)

    def _match(
        self, buffer: BatchBuffer, head: _Head, registry: RegistrySnapshot
    ) -> tuple[IntArray, IntArray, IntArray, IntArray]:
        """The scanned records found in the registry, with the same birth date (or none) and
        alive: their rows, registry rows, how they were found, and where their parts are."""
        scan, rows = head.scan, head.rows
        found, how = _lookup(buffer, scan, registry)
        keep = scan.ok & (found >= 0)
        at = np.where(keep, found, 0)
        keep &= ~scan.present[_BORN] | (scan.values[_BORN] == registry.born[at])
        keep &= registry.died[at] == ALIVE
        chosen = np.flatnonzero(keep)
        spans, start = scan.spans, buffer.starts[rows[chosen]]
        parts = np.stack(
            [
                spans["citizen"][0][chosen] - start,
                spans["dossier"][0][chosen] - start,
                spans["dossier"][1][chosen] - start,
                scan.values[_NAME][chosen] - start,
                scan.lengths[_NAME][chosen],
                scan.text_high[chosen],
            ]
        )
        return rows[chosen], at[chosen], how[chosen], parts

    def _names(
        self,
        values: Sequence[bytes],
        rows: IntArray,
        at: IntArray,
        how: IntArray,
        parts: IntArray,
        registry: RegistrySnapshot,
    ) -> IntArray:
        """``how``, with -1 where the declared name is another's or cannot be checked here and
        ``_NORMALIZED`` where it is the registry's only after normalisation."""
        blob, name_at, name_len = registry.blob, registry.name_at[at], registry.name_len[at]
        start, length, text_high = parts[3], parts[4], parts[5]
        end = start + length
        starts: Any = blob.startswith  # blob.startswith(name, at): equal to the name there, no copy
        same: BoolArray = np.fromiter(
            map(
                starts,
                map(
                    operator.getitem,
                    [values[r] for r in rows.tolist()],
                    map(slice, start.tolist(), end.tolist()),
                ),
                name_at.tolist(),
            ),
            np.bool_,
            len(rows),
        )
        same &= (length == name_len) & (text_high == registry.name_high[at])
        how = how.copy()
        for i in np.flatnonzero(~same).tolist():
            declared = values[int(rows[i])][int(start[i]) : int(end[i])]
            registered = blob[int(name_at[i]) : int(name_at[i] + name_len[i])]
            how[i] = _renamed(declared, registered, int(text_high[i]), int(how[i]))
        return how

    def _build(
        self,
        values: Sequence[bytes],
        buffer: BatchBuffer,
        rows: IntArray,
        at: IntArray,
        how: IntArray,
        parts: IntArray,
        codes: IntArray,
        partitions: IntArray,
        offsets: IntArray,
        registry: RegistrySnapshot,
        now: datetime,
        result: BatchResult,
    ) -> None:
        """The reconciled record of each row, field by field in the schema's order: the input's
        head, the registry's citizen, the input's dossier, the department, outcome and source
        topic (one of a few constants), the numbers of the row, the original."""
        row_list = rows.tolist()
        numbers = _concat_varints(
            [partitions[rows], offsets[rows], None, buffer.schema_ids(rows), buffer.lengths[rows]],
            encode_timestamp_millis(now),
        )
        head, join, blob = self._frame, b"".join, registry.blob
        result.values += [
            join((head, value[HEADER_SIZE:c0], blob[cs:ce], value[d0:d1], middle, number, value))
            for value, c0, cs, ce, d0, d1, middle, number in zip(
                [values[r] for r in row_list],
                parts[0].tolist(),
                registry.citizen_at[at].tolist(),
                registry.citizen_at[at + 1].tolist(),
                parts[1].tolist(),
                parts[2].tolist(),
                self._middle[codes, how].tolist(),
                numbers,
                strict=True,
            )
        ]
        result.rows += row_list
        result.keys += _digits12(registry.ids[at])
        reasons = np.array([r.value for r in _REASONS], object)[how].tolist()
        result.reasons += reasons
        names = list(self._codes)
        for (code, k), count in Counter(zip(codes.tolist(), how.tolist(), strict=True)).items():
            result.counts[names[code], _REASONS[k].value] += count


def _renamed(declared: bytes, registered: bytes | bytearray, text_high: int, how: int) -> int:
    """The outcome for a name that is not the registry's byte for byte: normalised, or -1 to
    leave it to the per-record path (a different name, or a string that is not UTF-8)."""
    try:
        name = declared.decode()
    except UnicodeDecodeError:
        return -1
    if text_high != len(declared) - len(name.encode("ascii", "ignore")):
        return -1  # another string has non-ASCII bytes: the per-record path checks them
    if name == registered.decode():
        return how
    if fold_name(name) != fold_name(registered.decode()):
        return -1
    return _NORMALIZED if how == _EXACT else how


def _lookup(buffer: BatchBuffer, scan: BatchScan, registry: RegistrySnapshot) -> tuple[IntArray, IntArray]:
    """Registry row of each record (-1: not decided here) and how it was found."""
    n = len(scan.ok)
    found = np.full(n, -1, np.int64)
    how = np.full(n, _EXACT, np.int64)
    has_id, id_len = scan.present[_ID], scan.lengths[_ID]
    number, digits = _number(buffer, scan.values[_ID], np.where(has_id, id_len, 0))
    by_id = scan.ok & has_id & digits & ((id_len == 12) | (id_len == 11))
    rows = registry.id_index.find(np.where(by_id, number, -1))
    usable = (rows >= 0) & ~registry.replaced[np.maximum(rows, 0)]
    found[usable] = rows[usable]
    how[usable & (id_len == 11)] = _REPAIRED
    odd = np.flatnonzero(scan.ok & has_id & (id_len > 0) & ~by_id)
    for i, start, size in zip(
        odd.tolist(), scan.values[_ID][odd].tolist(), id_len[odd].tolist(), strict=True
    ):
        found[i], how[i] = _repaired(buffer.joined[start : start + size], registry)
    has_legacy, legacy_len = scan.present[_LEGACY], scan.lengths[_LEGACY]
    legacy, legacy_digits = _number(buffer, scan.values[_LEGACY], np.where(has_legacy, legacy_len, 0))
    no_id = ~has_id | (id_len == 0)
    by_legacy = scan.ok & no_id & has_legacy & legacy_digits & (legacy_len == 9)
    rows = registry.legacy_index.find(np.where(by_legacy, legacy, -1))
    at = np.maximum(rows, 0)
    usable = (rows >= 0) & ~registry.replaced[at] & ~registry.legacy_moved[at]
    found[usable] = rows[usable]
    how[usable] = _LEGACY_FOUND
    return found, how


def _repaired(declared: bytes, registry: RegistrySnapshot) -> tuple[int, int]:
    """Registry row and outcome for a declared number that is not plain digits (separators,
    spaces), repaired as :func:`hub.citizen_id.repair_id` does; -1 to leave it to the per-record path."""
    try:
        candidate, repaired = repair_id(declared.decode())
    except UnicodeDecodeError:
        return -1, _EXACT
    if len(candidate) != 12 or not candidate.isascii() or not candidate.isdigit():
        return -1, _EXACT
    row = registry.id_index.find_one(int(candidate))
    if row < 0 or registry.replaced[row]:
        return -1, _EXACT
    return row, _REPAIRED if repaired else _EXACT


def _number(buffer: BatchBuffer, start: IntArray, length: IntArray) -> tuple[IntArray, BoolArray]:
    """The decimal number in each string of up to twelve bytes, and whether it is all digits."""
    grid = (
        buffer.data[np.minimum(start, len(buffer.data) - 12)[:, None] + np.arange(12)].astype(np.int64) - 48
    )
    inside = np.arange(12) < length[:, None]
    digits = ((grid >= 0) & (grid <= 9)) | ~inside
    grid = np.where(inside, grid, 0)
    scale = 10 ** np.clip(length[:, None] - 1 - np.arange(12), 0, 11)
    number = (grid * np.where(inside, scale, 0)).sum(axis=1)
    return number, digits.all(axis=1) & (length > 0) & (length <= 12)


def _string(text: str) -> bytes:
    raw = text.encode()
    return encode_long(len(raw)) + raw


def _concat_varints(columns: list[IntArray | None], constant: bytes) -> list[bytes]:
    """Per row, the varints of each column's value, ``constant`` in place of each None."""
    n = len(next(c for c in columns if c is not None))
    grids = []
    for column in columns:
        if column is None:
            grid = np.broadcast_to(np.frombuffer(constant, np.uint8), (n, len(constant)))
            grids.append((grid, np.full(n, len(constant), np.int64)))
        else:
            grids.append(encode_many(column))
    width = sum(g.shape[1] for g, _ in grids) + 1  # the last column takes the unused cells
    out = np.zeros((n, width), np.uint8)
    rows, at = np.arange(n)[:, None], np.zeros(n, np.int64)
    for grid, size in grids:
        cols = np.arange(grid.shape[1])
        inside = cols < size[:, None]
        out[rows, np.where(inside, at[:, None] + cols, width - 1)] = np.where(inside, grid, 0)
        at = at + size
    joined: list[bytes] = out.view(f"S{width}").ravel().tolist()
    for i in np.flatnonzero(out[np.arange(n), at - 1] == 0).tolist():  # S-strings drop trailing NULs
        joined[i] += bytes(int(at[i]) - len(joined[i]))
    return joined


def _digits12(numbers: IntArray) -> list[bytes]:
    """Each number as twelve ASCII digits."""
    grid = (numbers[:, None] // (10 ** np.arange(11, -1, -1, dtype=np.int64))) % 10 + 48
    digits: list[bytes] = grid.astype(np.uint8).view("S12").ravel().tolist()
    return digits
