"""Avro binary encoders compiled from a schema into one flat Python function.

fastavro walks the schema for every record and resolves every union by validating the
value against each branch; on the hub's department records (two nested records, ten
nullable fields) that costs ~17 µs a record, more than the whole publishing budget at
50,000 records/s. A function generated once per schema, with one straight line of code per
field, encodes the same record in a few microseconds and produces the same bytes.

Only the shapes the hub's schemas use are compiled: records, enums, the primitive types,
``date`` and ``timestamp-millis``/``-micros``, arrays and maps, and unions of ``null`` with one
other type. :func:`compile_encoder` returns None for anything else, and the caller keeps
using fastavro. Errors are raised, never silenced; the caller turns them into a message
naming the field (through fastavro's validator).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from hub.avro.varint import LENGTHS, SMALL, encode_int, encode_length, encode_long

__all__ = ["Encoder", "Raw", "compile_encoder", "encode_long", "encode_timestamp_millis"]


class Raw(bytes):
    """A record's value already Avro-encoded (e.g. a dossier passed through unchanged):
    written as it is, in place of a nested record."""


Encoder = Callable[[dict[str, Any]], bytes]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


_long, _int, _length, _SMALL, _LEN = encode_long, encode_int, encode_length, SMALL, LENGTHS


def encode_timestamp_millis(value: datetime) -> bytes:
    """An Avro ``timestamp-millis``, exactly as the compiled encoders and fastavro write it."""
    return _long(_millis(value))


def _millis(value: datetime) -> int:
    """Milliseconds since the epoch exactly as fastavro computes them (naive means local time)."""
    if value.tzinfo is not None:
        delta = value - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1000 + int(delta.microseconds / 1000)
    return int(time.mktime(value.timetuple())) * 1000 + int(value.microsecond / 1000)


def _micros(value: datetime) -> int:
    if value.tzinfo is not None:
        delta = value - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return int(time.mktime(value.timetuple())) * 1_000_000 + value.microsecond


# Records repeat the same instants and days (opening hours, birth dates): encodings are memoised.
_MEMO_SIZE = 200_000
_MILLIS_MEMO: dict[Any, bytes] = {}
_DATE_MEMO: dict[Any, bytes] = {}


def _timestamp_millis(value: datetime | int) -> bytes:
    out = _MILLIS_MEMO.get(value)
    if out is None:
        out = _long(_millis(value) if isinstance(value, datetime) else value)
        if len(_MILLIS_MEMO) < _MEMO_SIZE:
            _MILLIS_MEMO[value] = out
    return out


def _timestamp_micros(value: datetime | int) -> bytes:
    return _long(_micros(value) if isinstance(value, datetime) else value)


def _date(value: date | int) -> bytes:
    out = _DATE_MEMO.get(value)
    if out is None:
        if isinstance(value, datetime):
            raise TypeError(f"{value!r} is a datetime, not a date")
        out = _int(value.toordinal() - _EPOCH_ORDINAL if isinstance(value, date) else value)
        if len(_DATE_MEMO) < _MEMO_SIZE:
            _DATE_MEMO[value] = out
    return out


def _string(value: str) -> bytes:
    data = value.encode()  # AttributeError for anything that is not a str
    return _length(len(data)) + data


def _bytes(value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{type(value).__name__} is not bytes")
    return _length(len(value)) + bytes(value)


def _boolean(value: bool) -> bytes:
    if value is True:
        return b"\x01"
    if value is False:
        return b"\x00"
    raise TypeError(f"{value!r} is not a boolean")


_DOUBLE = struct.Struct("<d").pack
_FLOAT = struct.Struct("<f").pack


def _double(value: float) -> bytes:
    if type(value) is bool:
        raise TypeError("a boolean is not a number")
    return _DOUBLE(value)


def _float(value: float) -> bytes:
    if type(value) is bool:
        raise TypeError("a boolean is not a number")
    return _FLOAT(value)


_MEMOS = {"_timestamp_millis": "_MILLIS_MEMO", "_date": "_DATE_MEMO"}
_PRIMITIVES: dict[str, str] = {
    "int": "_int",
    "long": "_long",
    "string": "_string",
    "bytes": "_bytes",
    "boolean": "_boolean",
    "double": "_double",
    "float": "_float",
}
_LOGICAL: dict[tuple[str, str], str] = {
    ("int", "date"): "_date",
    ("long", "timestamp-millis"): "_timestamp_millis",
    ("long", "timestamp-micros"): "_timestamp_micros",
}


class Unsupported(Exception):
    """A schema shape the code generators leave to fastavro."""


class CodeWriter:
    """Lines of generated Python, fresh variable names, and the constants they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.counter = 0

    def var(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)


class _Compiler(CodeWriter):
    def value(self, schema: Any, source: str, indent: int) -> None:
        """Emit code appending the encoding of the value in variable ``source``."""
        if isinstance(schema, list):
            self.union(schema, source, indent)
            return
        if isinstance(schema, str):
            schema = {"type": schema}
        kind = schema["type"]
        if isinstance(kind, dict | list):
            self.value(kind, source, indent)
            return
        logical = _LOGICAL.get((kind, schema.get("logicalType", "")))
        memo = _MEMOS.get(logical or "")
        if logical and memo:  # inlined memo lookup: instants and days repeat across records
            known = self.var("m")
            self.emit(indent, f"{known} = {memo}.get({source})")
            self.emit(indent, f"a({known} if {known} is not None else {logical}({source}))")
        elif logical:
            self.emit(indent, f"a({logical}({source}))")
        elif kind == "string":  # inlined: the commonest field by far
            data = self.var("b")
            self.emit(indent, f"{data} = {source}.encode()")
            self.emit(indent, f"a(_LEN[len({data})])")  # IndexError from 64 KiB: fastavro takes over
            self.emit(indent, f"a({data})")
        elif kind == "boolean":
            self.emit(indent, f"a(_BOOL[{source}])")
        elif kind in ("int", "long"):
            self.emit(
                indent,
                f"a(_SMALL[{source} << 1] if type({source}) is int and 0 <= {source} < 8192 "
                f"else {_PRIMITIVES[kind]}({source}))",
            )
        elif kind in _PRIMITIVES:
            self.emit(indent, f"a({_PRIMITIVES[kind]}({source}))")
        elif kind == "null":
            self.emit(indent, f"if {source} is not None: raise TypeError(f'{{{source}!r}} is not null')")
        elif kind == "enum":
            table = self.var("E")
            self.constants[table] = {s: _SMALL[2 * i] for i, s in enumerate(schema["symbols"])}
            self.emit(indent, f"a({table}[{source}])")
        elif kind == "fixed":
            size = int(schema["size"])
            self.emit(indent, f"if len({source}) != {size}: raise ValueError('fixed size is {size}')")
            self.emit(indent, f"a(bytes({source}))")
        elif kind == "record" or kind == "error":
            self.emit(indent, f"if {source}.__class__ is _Raw:")
            self.emit(indent + 1, f"a({source})")
            self.emit(indent, "else:")
            self.record(schema, source, indent + 1)
        elif kind == "array":
            item = self.var("i")
            self.emit(indent, f"if {source}:")
            self.emit(indent + 1, f"a(_long(len({source})))")
            self.emit(indent + 1, f"for {item} in {source}:")
            self.value(schema["items"], item, indent + 2)
            self.emit(indent, "a(b'\\x00')")
        elif kind == "map":
            key, item = self.var("k"), self.var("i")
            self.emit(indent, f"if {source}:")
            self.emit(indent + 1, f"a(_long(len({source})))")
            self.emit(indent + 1, f"for {key}, {item} in {source}.items():")
            self.emit(indent + 2, f"a(_string({key}))")
            self.value(schema["values"], item, indent + 2)
            self.emit(indent, "a(b'\\x00')")
        else:
            raise Unsupported(f"type {kind!r}")

    def union(self, branches: list[Any], source: str, indent: int) -> None:
        if len(branches) != 2 or "null" not in branches:
            raise Unsupported("unions other than null and one type")
        null_at = branches.index("null")
        other = branches[1 - null_at]
        self.emit(indent, f"if {source} is None:")
        self.emit(indent + 1, f"a({_SMALL[2 * null_at]!r})")
        self.emit(indent, "else:")
        self.emit(indent + 1, f"a({_SMALL[2 * (1 - null_at)]!r})")
        self.value(other, source, indent + 1)

    def record(self, schema: dict[str, Any], source: str, indent: int) -> None:
        for field in schema["fields"]:
            name = field["name"]
            target = self.var("v")
            if "default" in field and field["default"] is None:
                self.emit(indent, f"{target} = {source}.get({name!r})")
            elif "default" in field:
                default = self.var("D")
                self.constants[default] = field["default"]
                self.emit(indent, f"{target} = {source}.get({name!r}, {default})")
            else:
                self.emit(indent, f"{target} = {source}[{name!r}]")
            self.value(field["type"], target, indent)


def compile_encoder(parsed: Any) -> Encoder | None:
    """An encoder for the fastavro-parsed schema ``parsed``, or None if it uses other shapes.

    ``parsed`` must be fully expanded (named types inlined), as ``fastavro.parse_schema``
    with ``expand=True`` returns it, or the hub's catalog holds it.
    """
    compiler = _Compiler()
    try:
        compiler.value(parsed, "record", 1)
    except (Unsupported, KeyError, TypeError):
        return None
    body = "\n".join(compiler.lines)
    head = "def encode(record):\n    parts = []\n    a = parts.append\n"
    source = f"{head}{body}\n    return b''.join(parts)\n"
    namespace: dict[str, Any] = {
        "_int": _int,
        "_Raw": Raw,
        "_LEN": _LEN,
        "_MILLIS_MEMO": _MILLIS_MEMO,
        "_DATE_MEMO": _DATE_MEMO,
        "_SMALL": _SMALL,
        "_BOOL": {True: b"\x01", False: b"\x00"},
        "_length": _length,
        "_long": _long,
        "_string": _string,
        "_bytes": _bytes,
        "_boolean": _boolean,
        "_double": _double,
        "_float": _float,
        "_date": _date,
        "_timestamp_millis": _timestamp_millis,
        "_timestamp_micros": _timestamp_micros,
        **compiler.constants,
    }
    exec(compile(source, "<avro encoder>", "exec"), namespace)
    return namespace["encode"]  # type: ignore[no-any-return]
