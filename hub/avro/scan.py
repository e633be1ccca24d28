"""Avro records read a whole batch at a time: one numpy step per field, not per record.

Reconciliation needs a handful of values from each department record (the declared numbers,
name and birth date) and the byte spans of the parts it copies into its output; everything
else it only has to *check*. Reading field by field across the batch, with the records'
positions as one array, costs a few numpy operations per field for thousands of records.

A :class:`BatchScan` is the outcome: for every record, whether it is well formed exactly as
the record decoders (:mod:`hub.avro.decoder`, fastavro) would find it, the spans of the
top-level fields and the values captured on the way. What the scan cannot check field by
field, that text is UTF-8, it checks with one count: the bytes of 0x80 and above in a record
must all be accounted for by multi-byte varints and the raw bytes of doubles, floats and bytes,
except for those inside strings, reported per record as ``text_high`` for the caller to
account for (reconciliation compares the one string it expects to be non-ASCII, the name,
byte for byte with the registry's).

Only the shapes the hub's schemas use are scanned: records, enums, unions of ``null`` with
one other type, strings, ints, longs (with their logical types), booleans, doubles, floats,
nulls and bytes. :func:`scan_plan` returns None for anything else (fixed, arrays, maps),
and the caller decodes those records one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from hub.avro.varint import read_many
from hub.avro.wire import HEADER_SIZE, MAGIC_BYTE

__all__ = ["BatchBuffer", "BatchScan", "ScanPlan", "scan_plan"]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_PAD = 16  # zero bytes after the last record, so a read of up to ten varint bytes stays in range
_SCANNED = frozenset(
    {"string", "bytes", "int", "long", "boolean", "double", "float", "null", "enum", "record"}
)


class BatchBuffer:
    """A batch of byte strings laid end to end in one numpy array."""

    def __init__(self, values: Sequence[bytes]) -> None:
        lengths = np.fromiter(map(len, values), np.int64, len(values))
        self.ends = np.cumsum(lengths)
        self.starts = self.ends - lengths
        self.lengths = lengths
        self.joined = b"".join([*values, bytes(_PAD)])
        self.data = np.frombuffer(self.joined, np.uint8)
        self._high: IntArray | None = None
        self._high_at: IntArray | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    def framed(self, wanted: BoolArray, max_bytes: int) -> IntArray:
        """The ``wanted`` values that start as the Confluent wire format does (``0x00``, a 4-byte
        schema id) and are no longer than ``max_bytes``: their indexes."""
        framed = wanted & (self.lengths > HEADER_SIZE) & (self.lengths <= max_bytes)
        framed[framed] = self.data[self.starts[framed]] == MAGIC_BYTE
        return np.flatnonzero(framed)

    def schema_ids(self, rows: IntArray) -> IntArray:
        """The schema id in the wire-format header of each value of ``rows``."""
        id_bytes = self.data[self.starts[rows, None] + np.arange(1, HEADER_SIZE)].astype(np.int64)
        return id_bytes @ np.array([1 << 24, 1 << 16, 1 << 8, 1], np.int64)  # type: ignore[no-any-return]

    def high_bytes(self) -> IntArray:
        """How many bytes of 0x80 and above each value holds."""
        if self._high is None:
            self._high = self.high_in(self.starts, self.ends)
        return self._high

    def high_in(self, starts: IntArray, ends: IntArray) -> IntArray:
        """How many bytes of 0x80 and above each span ``starts[i]:ends[i]`` of the buffer holds
        (found by bisecting the positions of all of them: few, next to the bytes of a batch)."""
        if self._high_at is None:
            self._high_at = np.flatnonzero(self.data >= 0x80)
        ends = np.maximum(starts, ends)
        return np.searchsorted(self._high_at, ends) - np.searchsorted(self._high_at, starts)


@dataclass
class BatchScan:
    """What a scan found, one entry per record of the batch (or of the subset scanned).

    ``ok``: well formed so far (after :meth:`finish`: to the last byte, no more and no less).
    ``end``: the position after the fields scanned. ``spans``: field name → (start, end)
    positions in the buffer. ``values``: captured path → values (for a string, its start; its
    length is in ``lengths``); ``present``: captured path inside a union → whether the value is
    there. ``text_high`` (after :meth:`finish`): bytes of 0x80 and above inside strings.
    """

    ok: BoolArray
    end: IntArray
    known_high: IntArray  # high bytes accounted for outside strings
    spans: dict[str, tuple[IntArray, IntArray]] = field(default_factory=dict)
    values: dict[str, IntArray] = field(default_factory=dict)
    lengths: dict[str, IntArray] = field(default_factory=dict)
    present: dict[str, BoolArray] = field(default_factory=dict)
    text_high: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def then(self, subset: IntArray, rest: BatchScan) -> None:
        """Continue the records ``subset`` (indexes into this scan) with the scan of their
        remaining fields."""
        self.ok[subset] &= rest.ok
        self.end[subset] = rest.end
        self.known_high[subset] += rest.known_high

    def finish(self, buffer: BatchBuffer, rows: IntArray) -> None:
        """Require each record to end where its value ends; count the high bytes in strings."""
        self.ok &= self.end == buffer.ends[rows]
        self.text_high = buffer.high_bytes()[rows] - self.known_high


class _Cursor:
    """Positions of the records being scanned, one per record, and what was checked so far.

    Positions only move forward; a record read past its end fails :meth:`BatchScan.finish`, and
    every read is clipped to the buffer, so a malformed record never reads out of bounds.
    """

    def __init__(self, buffer: BatchBuffer, rows: IntArray, start: IntArray) -> None:
        self.buffer = buffer
        self.p = start.copy()
        self.end = buffer.ends[rows]
        self.ok = np.ones(len(rows), bool)
        self.known_high = np.zeros(len(rows), np.int64)
        self._last = len(buffer.data) - 1

    def u8(self, at: IntArray) -> IntArray:
        """The byte at each position (clipped to the buffer), as int64."""
        return self.buffer.data[np.minimum(at, self._last)].astype(np.int64)

    def fail(self, bad: BoolArray, active: BoolArray | None) -> None:
        """Mark ``bad`` rows (among the active ones) as malformed."""
        self.ok &= ~bad if active is None else ~(bad & active)

    def advance(self, by: IntArray | int, active: BoolArray | None) -> None:
        self.p = self.p + (by if active is None else np.where(active, by, 0))

    def varint(self, active: BoolArray | None) -> IntArray:
        """The zig-zag varint at each active position; moves past it.

        Varints a decoder would read but an encoder never writes (longer than nine bytes, or
        ending in a zero byte) mark their record as not well formed: left to a decoder.
        """
        p = self.p
        byte = self.u8(p)
        more = byte >= 0x80
        if active is not None:
            more &= active
        if not more.any():  # one byte each, the common case
            self.p = p + 1 if active is None else p + active
            return (byte >> 1) ^ -(byte & 1)
        values, size, odd = read_many(self.u8, p, byte, more)
        self.fail(odd, None)
        self.known_high += size - 1  # inactive rows have size 1
        self.advance(size, active)
        return values


# Values a decoder turns into a date or a datetime (years 1 to 9999), a day inside each end.
_RANGES = {
    "date": (-719_162 + 1, 2_932_896 - 1),
    "timestamp-millis": (-62_135_596_800_000 + 86_400_000, 253_402_300_799_999 - 86_400_000),
    "timestamp-micros": (-62_135_596_800_000_000 + 86_400_000_000, 253_402_300_799_999_999 - 86_400_000_000),
}


class ScanPlan:
    """How to scan some fields of one record schema, and which values to capture on the way.

    ``capture`` names paths of fields (``"citizen.SoDinhDanh"``): a string's start and length,
    a number's, a boolean's (0 or 1) or an enum's value, and for a union whether it is there.
    """

    def __init__(self, fields: list[dict[str, Any]], capture: frozenset[str], text: bool = True) -> None:
        self.fields = fields
        self.capture = capture
        self.text = text

    def scan(self, buffer: BatchBuffer, rows: IntArray, start: IntArray) -> BatchScan:
        """Scan the fields of the records ``rows`` of ``buffer``, each from its ``start``."""
        cursor = _Cursor(buffer, rows, start)
        out = BatchScan(cursor.ok, cursor.p, cursor.known_high)
        for f in self.fields:
            begin = cursor.p
            self._value(f["type"], f["name"], cursor, None, out)
            out.spans[f["name"]] = (begin, cursor.p)
        out.ok, out.end, out.known_high = cursor.ok, cursor.p.copy(), cursor.known_high
        return out

    def _value(
        self, schema: Any, path: str, cursor: _Cursor, active: BoolArray | None, out: BatchScan
    ) -> None:
        if isinstance(schema, list):
            self._union(schema, path, cursor, active, out)
            return
        kind = schema if isinstance(schema, str) else schema["type"]
        if isinstance(kind, dict | list):
            self._value(kind, path, cursor, active, out)
        elif kind == "string":
            size = cursor.varint(active)
            cursor.fail(size < 0, active)
            size = np.clip(size, 0, cursor.end - cursor.p + 1)  # past the end is past enough
            if path in self.capture:
                out.values[path], out.lengths[path] = cursor.p, size
            cursor.advance(size, active)
        elif kind == "bytes":  # taken as they are: their high bytes are not text
            size = cursor.varint(active)
            cursor.fail(size < 0, active)
            size = np.clip(size, 0, cursor.end - cursor.p + 1)
            if self.text:
                high = cursor.buffer.high_in(cursor.p, cursor.p + size)
                cursor.known_high += high if active is None else np.where(active, high, 0)
            cursor.advance(size, active)
        elif kind in ("int", "long"):
            value = cursor.varint(active)
            bounds = _RANGES.get(schema.get("logicalType", "") if isinstance(schema, dict) else "")
            if bounds is not None:
                cursor.fail((value < bounds[0]) | (value > bounds[1]), active)
            if path in self.capture:
                out.values[path] = value
        elif kind == "enum":
            index = cursor.varint(active)
            cursor.fail((index < 0) | (index >= len(schema["symbols"])), active)
            if path in self.capture:
                out.values[path] = index
        elif kind == "boolean":
            byte = cursor.u8(cursor.p)
            cursor.fail(byte > 1, active)
            if path in self.capture:
                out.values[path] = byte
            cursor.advance(1, active)
        elif kind in ("double", "float"):
            self._raw(8 if kind == "double" else 4, cursor, active)
        elif kind == "record":
            for f in schema["fields"]:
                self._value(f["type"], f"{path}.{f['name']}", cursor, active, out)
        # "null": nothing to read

    def _union(
        self, branches: list[Any], path: str, cursor: _Cursor, active: BoolArray | None, out: BatchScan
    ) -> None:
        null_at = branches.index("null")
        index = cursor.varint(active)
        cursor.fail((index != 0) & (index != 1), active)
        there = index == 1 - null_at
        if active is not None:
            there &= active
        there &= cursor.ok
        if path in self.capture:
            out.present[path] = there
        self._value(branches[1 - null_at], path, cursor, there, out)

    def _raw(self, width: int, cursor: _Cursor, active: BoolArray | None) -> None:
        """Bytes taken as they are (a double, a float): their high bytes are not text."""
        high = (cursor.u8(cursor.p[:, None] + np.arange(width)) >= 0x80).sum(axis=1)
        cursor.known_high += high if active is None else np.where(active, high, 0)
        cursor.advance(width, active)


def scan_plan(
    expanded: Any,
    capture: frozenset[str] = frozenset(),
    first: int = 0,
    last: int | None = None,
    text: bool = True,
) -> ScanPlan | None:
    """A plan for fields ``first`` to ``last`` of the fastavro-parsed, expanded record schema,
    or None if one of them has a shape the scan does not read. Not ``text``: the caller will
    not read ``text_high``, so the high bytes of ``bytes`` fields are not counted."""
    if not isinstance(expanded, dict) or expanded.get("type") != "record":
        return None
    fields = expanded["fields"][first:last]
    return ScanPlan(fields, capture, text) if all(_scannable(f["type"]) for f in fields) else None


def _scannable(schema: Any) -> bool:
    if isinstance(schema, list):
        others = [b for b in schema if b != "null"]
        return len(schema) == 2 and len(others) == 1 and _scannable(others[0])
    if isinstance(schema, str):
        return schema in _SCANNED and schema not in ("enum", "record")
    kind = schema.get("type")
    if isinstance(kind, dict | list):
        return _scannable(kind)
    if kind == "record":
        return all(_scannable(f["type"]) for f in schema["fields"])
    if kind in ("int", "long"):
        return schema.get("logicalType") in (None, "date", "timestamp-millis", "timestamp-micros")
    return kind in _SCANNED
