"""Avro binary decoders compiled from a schema into one flat Python function.

The counterpart of :mod:`hub.avro.encoder`: fastavro spends ~17 µs on a department record,
most of it building datetimes and walking the schema. A generated function reads the same
bytes into the same dict in a fraction of that, and can leave chosen sub-records undecoded:
``raw={"dossier"}`` returns the dossier as :class:`Raw` bytes, which the compiled encoder
writes back unchanged. Reconciliation never looks inside a dossier, so it never pays for one.

Only the shapes the hub's schemas use are compiled (see :func:`compile_decoder`); anything
else returns None and the caller keeps fastavro. Malformed input raises (IndexError,
UnicodeDecodeError, ValueError); the caller asks fastavro what is wrong.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub.avro.encoder import CodeWriter, Raw, Unsupported
from hub.avro.varint import read_long, read_long_source

__all__ = ["Decoder", "compile_decoder"]

Decoder = Callable[[bytes, int], tuple[dict[str, Any], int]]  # (buffer, start) -> (record, end)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)
_DOUBLE = struct.Struct("<d").unpack_from
_FLOAT = struct.Struct("<f").unpack_from
_MEMO_SIZE = 200_000
_MILLIS: dict[int, datetime] = {}
_MICROS: dict[int, datetime] = {}
_DAYS: dict[int, date] = {}


_long = read_long


def _millis(ms: int) -> datetime:
    value = _MILLIS.get(ms)
    if value is None:
        value = _EPOCH + timedelta(milliseconds=ms)
        if len(_MILLIS) < _MEMO_SIZE:
            _MILLIS[ms] = value
    return value


def _micros(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _day(days: int) -> date:
    value = _DAYS.get(days)
    if value is None:
        value = _EPOCH_DATE + timedelta(days=days)
        if len(_DAYS) < _MEMO_SIZE:
            _DAYS[days] = value
    return value


class _Compiler(CodeWriter):
    def read_long(self, target: str, indent: int) -> None:
        """``target`` = the zig-zag varint at ``p``, inlined: :func:`hub.avro.varint.read_long_source`."""
        for depth, line in read_long_source(target):
            self.emit(indent + depth, line)

    def value(self, schema: Any, target: str, indent: int) -> None:
        """Emit code reading one value at ``p`` into variable ``target``."""
        if isinstance(schema, list):
            self.union(schema, target, indent)
            return
        if isinstance(schema, str):
            schema = {"type": schema}
        kind = schema["type"]
        if isinstance(kind, dict | list):
            self.value(kind, target, indent)
            return
        logical = schema.get("logicalType", "")
        if kind == "string" or kind == "bytes":
            size = self.var("n")
            self.read_long(size, indent)
            self.emit(indent, f"if {size} < 0: raise ValueError('negative length')")
            self.emit(indent, f"e = p + {size}")
            self.emit(indent, "if e > end: raise IndexError('string past the end')")
            self.emit(indent, f"{target} = buf[p:e]{'.decode()' if kind == 'string' else ''}")
            self.emit(indent, "p = e")
        elif kind in ("int", "long"):
            self.read_long(target, indent)
            if kind == "long" and logical == "timestamp-millis":
                self.emit(indent, f"{target} = _millis({target})")
            elif kind == "long" and logical == "timestamp-micros":
                self.emit(indent, f"{target} = _micros({target})")
            elif kind == "int" and logical == "date":
                self.emit(indent, f"{target} = _day({target})")
            elif logical:
                raise Unsupported(f"logical type {logical!r}")
        elif kind == "boolean":
            self.emit(indent, "b = buf[p]")
            self.emit(indent, "if b > 1: raise ValueError('boolean byte is not 0 or 1')")
            self.emit(indent, f"{target} = b == 1")
            self.emit(indent, "p += 1")
        elif kind == "double":
            self.emit(indent, "if p + 8 > end: raise IndexError('double past the end')")
            self.emit(indent, f"{target} = _DOUBLE(buf, p)[0]")
            self.emit(indent, "p += 8")
        elif kind == "float":
            self.emit(indent, "if p + 4 > end: raise IndexError('float past the end')")
            self.emit(indent, f"{target} = _FLOAT(buf, p)[0]")
            self.emit(indent, "p += 4")
        elif kind == "null":
            self.emit(indent, f"{target} = None")
        elif kind == "enum":
            symbols = self.var("S")
            self.constants[symbols] = tuple(schema["symbols"])
            index = self.var("i")
            self.read_long(index, indent)
            self.emit(indent, f"if {index} < 0: raise IndexError('negative enum index')")
            self.emit(indent, f"{target} = {symbols}[{index}]")
        elif kind == "fixed":
            width = int(schema["size"])
            self.emit(indent, f"if p + {width} > end: raise IndexError('fixed past the end')")
            self.emit(indent, f"{target} = buf[p:p + {width}]")
            self.emit(indent, f"p += {width}")
        elif kind == "record" or kind == "error":
            self.record(schema, target, indent, ())
        elif kind == "array" or kind == "map":
            self.repeated(schema, target, indent)
        else:
            raise Unsupported(f"type {kind!r}")

    def repeated(self, schema: dict[str, Any], target: str, indent: int) -> None:
        is_map = schema["type"] == "map"
        count, item, key = self.var("c"), self.var("v"), self.var("k")
        self.emit(indent, f"{target} = {{}}" if is_map else f"{target} = []")
        self.emit(indent, "while True:")
        self.read_long(count, indent + 1)
        self.emit(indent + 1, f"if {count} == 0: break")
        self.emit(indent + 1, f"if {count} < 0:")
        self.emit(indent + 2, f"{count} = -{count}")
        self.emit(indent + 2, "_, p = _long(buf, p)  # the block's size in bytes")
        self.emit(indent + 1, f"for _ in range({count}):")
        if is_map:
            self.value("string", key, indent + 2)
            self.value(schema["values"], item, indent + 2)
            self.emit(indent + 2, f"{target}[{key}] = {item}")
        else:
            self.value(schema["items"], item, indent + 2)
            self.emit(indent + 2, f"{target}.append({item})")

    def union(self, branches: list[Any], target: str, indent: int) -> None:
        if len(branches) != 2 or "null" not in branches:
            raise Unsupported("unions other than null and one type")
        null_at = branches.index("null")
        index = self.var("u")
        self.read_long(index, indent)
        self.emit(indent, f"if {index} == {null_at}:")
        self.emit(indent + 1, f"{target} = None")
        self.emit(indent, f"elif {index} == {1 - null_at}:")
        self.value(branches[1 - null_at], target, indent + 1)
        self.emit(indent, "else:")
        self.emit(indent + 1, f"raise IndexError(f'union branch {{{index}}} of 2')")

    def record(
        self,
        schema: dict[str, Any],
        target: str,
        indent: int,
        raw: Collection[str],
        skip: Collection[str] = (),
    ) -> None:
        names = []
        for field in schema["fields"]:
            name = field["name"]
            value = self.var("f")
            if name in skip:
                self.skip(field["type"], indent)
                continue
            if name in raw:
                if not _is_record(field["type"]):
                    raise Unsupported(f"raw field {name!r} is not a record")
                start = self.var("s")
                self.emit(indent, f"{start} = p")
                self.skip(field["type"], indent)
                self.emit(indent, f"{value} = _Raw(buf[{start}:p])")
            else:
                self.value(field["type"], value, indent)
            names.append((name, value))
        body = ", ".join(f"{name!r}: {value}" for name, value in names)
        self.emit(indent, f"{target} = {{{body}}}")

    def skip(self, schema: Any, indent: int) -> None:
        """Emit code moving ``p`` past one value without building it."""
        if isinstance(schema, list):
            if len(schema) != 2 or "null" not in schema:
                raise Unsupported("unions other than null and one type")
            null_at = schema.index("null")
            index = self.var("u")
            self.read_long(index, indent)
            self.emit(indent, f"if {index} == {1 - null_at}:")
            self.skip(schema[1 - null_at], indent + 1)
            self.emit(indent, f"elif {index} != {null_at}:")
            self.emit(indent + 1, f"raise IndexError(f'union branch {{{index}}} of 2')")
            return
        if isinstance(schema, str):
            schema = {"type": schema}
        kind = schema["type"]
        if isinstance(kind, dict | list):
            self.skip(kind, indent)
        elif kind in ("string", "bytes"):
            size = self.var("n")
            self.read_long(size, indent)
            self.emit(indent, f"if {size} < 0: raise ValueError('negative length')")
            self.emit(indent, f"p += {size}")
        elif kind in ("int", "long", "enum"):
            self.emit(indent, "while buf[p] & 0x80: p += 1")
            self.emit(indent, "p += 1")
        elif kind == "boolean":
            self.emit(indent, "p += 1")
        elif kind == "double":
            self.emit(indent, "p += 8")
        elif kind == "float":
            self.emit(indent, "p += 4")
        elif kind == "null":
            pass
        elif kind == "fixed":
            self.emit(indent, f"p += {int(schema['size'])}")
        elif kind in ("record", "error"):
            for field in schema["fields"]:
                self.skip(field["type"], indent)
        else:
            raise Unsupported(f"skipping type {kind!r}")
        self.emit(indent, "if p > end: raise IndexError('value past the end')")


def _is_record(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") in ("record", "error")


def compile_decoder(parsed: Any, raw: Collection[str] = (), skip: Collection[str] = ()) -> Decoder | None:
    """A decoder for the fastavro-parsed, expanded record schema ``parsed``, or None.

    Top-level fields named in ``raw`` (records) are returned as :class:`Raw` bytes instead of
    being decoded; those named in ``skip`` are read past and left out. The decoder returns the
    record and the position after it.
    """
    if not _is_record(parsed):
        return None
    compiler = _Compiler()
    try:
        compiler.record(parsed, "record", 1, frozenset(raw), frozenset(skip))
    except (Unsupported, KeyError, TypeError):
        return None
    body = "\n".join(compiler.lines)
    source = f"def decode(buf, p):\n    end = len(buf)\n{body}\n    return record, p\n"
    namespace: dict[str, Any] = {
        "_long": _long,
        "_millis": _millis,
        "_micros": _micros,
        "_day": _day,
        "_DOUBLE": _DOUBLE,
        "_FLOAT": _FLOAT,
        "_Raw": Raw,
        **compiler.constants,
    }
    exec(compile(source, "<avro decoder>", "exec"), namespace)
    return namespace["decode"]  # type: ignore[no-any-return]
