"""Cells of an export as Avro values: one converter per schema field, by the field's type.

A :class:`FieldTable` lists a department record's fields (leaf name, dotted path, type,
default) and turns the text of a cell into the value the schema wants, or a :class:`RowError`
saying why not: ``dd/mm/yyyy`` dates, Vietnam-time timestamps, ``có``/``không`` booleans, …
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.avro.catalog import get_catalog
from hub.errors import InputError, SchemaError
from hub.topics import DEPARTMENT_TOPICS, Department

__all__ = ["EMPTY", "Field", "FieldTable", "Row", "RowError", "department_table"]

EMPTY: Final = object()  # a converter's answer for a cell holding only spaces
_NO_DEFAULT: Final = object()


def _vietnam() -> tzinfo:
    try:
        return ZoneInfo("Asia/Ho_Chi_Minh")
    except ZoneInfoNotFoundError:  # no tz database: Vietnam has kept UTC+7 since 1975
        return timezone(timedelta(hours=7), "ICT")


VIETNAM: Final = _vietnam()


class RowError(ValueError):
    """A row that cannot become a record; the message names the field and says why."""


class Row(NamedTuple):
    """One row: its first line in the file, its text, and its record or why there is none."""

    line: int
    text: str
    record: dict[str, Any] | None
    reason: str | None = None


# --- cells to Avro values ------------------------------------------------------------------

Converter = Callable[[Any], Any]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 42 else text[:38] + "...'"


def _to_string(value: Any) -> Any:
    if type(value) is str:
        return value
    if type(value) is float and value.is_integer():
        return str(int(value))
    if type(value) in (int, float):
        return str(value)
    raise ValueError(f"{_show(value)} is not text")


def _integer(bits: int) -> Converter:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def convert(value: Any) -> Any:
        if type(value) is str:
            text = value.strip()
            if not text:
                return EMPTY
            try:
                number = int(text)
            except ValueError:
                number = _whole(_float(text), value)
        elif type(value) is int:
            number = value
        elif type(value) is float:
            number = _whole(value, value)
        else:
            raise ValueError(f"{_show(value)} is not a whole number")
        if not low <= number <= high:
            raise ValueError(f"{number} is out of range for a {bits}-bit number")
        return number

    return convert


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _whole(number: float, shown: Any) -> int:
    if not (math.isfinite(number) and number.is_integer()):
        raise ValueError(f"{_show(shown)} is not a whole number")
    return int(number)


def _to_double(value: Any) -> Any:
    if type(value) is str:
        text = value.strip()
        if not text:
            return EMPTY
        try:
            number = float(text)
        except ValueError:
            raise ValueError(
                f"{_show(value)} is not a number (write 1234.5: '.' for decimals, no thousands separator)"
            ) from None
    elif type(value) in (int, float):
        number = float(value)
    else:
        raise ValueError(f"{_show(value)} is not a number")
    if not math.isfinite(number):
        raise ValueError(f"{_show(value)} is not a finite number")
    return number


_BOOLEANS: Final = {
    **dict.fromkeys(("true", "1", "yes", "có", "co"), True),
    **dict.fromkeys(("false", "0", "no", "không", "khong"), False),
}


def _to_boolean(value: Any) -> Any:
    if type(value) is bool:
        return value
    if type(value) is int and value in (0, 1):
        return bool(value)
    if type(value) is str:
        text = value.strip()
        if not text:
            return EMPTY
        found = _BOOLEANS.get(text.lower())
        if found is None:
            found = _BOOLEANS.get(unicodedata.normalize("NFC", text).lower())
        if found is not None:
            return found
    raise ValueError(f"{_show(value)} is not a boolean (true/false, 1/0, yes/no, có/không)")


def _vn_date(text: str) -> date:
    day, month, year = text.split("/")
    if len(year.strip()) != 4:
        raise ValueError("the year needs four digits")
    return date(int(year), int(month), int(day))


def _to_date(value: Any) -> Any:
    if type(value) is str:
        text = value.strip()
        if not text:
            return EMPTY
        try:
            return _vn_date(text) if "/" in text else date.fromisoformat(text)
        except ValueError:
            pass
    elif type(value) is date:
        return value
    raise ValueError(f"{_show(value)} is not a date (YYYY-MM-DD or dd/mm/yyyy)")


def _to_timestamp(value: Any) -> Any:
    moment: datetime
    try:
        if type(value) is str:
            text = value.strip()
            if not text:
                return EMPTY
            if "/" in text:
                day, _, clock = text.partition(" ")
                moment = datetime.combine(_vn_date(day), time.fromisoformat(clock.strip() or "00:00"))
            else:
                moment = datetime.fromisoformat(text)
        elif type(value) is int:  # JSON: Avro's own representation, milliseconds since the epoch
            moment = datetime.fromtimestamp(value / 1000, UTC)
        elif isinstance(value, datetime):
            moment = value
        else:
            raise ValueError
    except (ValueError, OverflowError, OSError):
        raise ValueError(
            f"{_show(value)} is not a date and time (ISO 8601 such as 2026-11-01T08:30:00+07:00, "
            "or dd/mm/yyyy HH:MM; without an offset it is Vietnam time)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=VIETNAM)


# GioiTinh as Vietnamese exports write it (QCVN 109:2017 says Nam / Nữ).
_ENUM_ALIASES: Final = {"vn.lgsp.Gender": {"nam": "MALE", "nữ": "FEMALE", "nu": "FEMALE"}}


def _enum(name: str, symbols: Sequence[str]) -> Converter:
    lookup = {symbol.casefold(): symbol for symbol in symbols}
    lookup.update({k: v for k, v in _ENUM_ALIASES.get(name, {}).items() if v in symbols})
    expected = ", ".join(symbols)

    def convert(value: Any) -> Any:
        if type(value) is str:
            text = value.strip()
            if not text:
                return EMPTY
            found = lookup.get(text.casefold()) or lookup.get(unicodedata.normalize("NFC", text).casefold())
            if found is not None:
                return found
        raise ValueError(f"{_show(value)} is not one of {expected}")

    return convert


_PRIMITIVES: Final[dict[str, Converter]] = {
    "string": _to_string,
    "int": _integer(32),
    "long": _integer(64),
    "float": _to_double,
    "double": _to_double,
    "boolean": _to_boolean,
}
_LOGICAL: Final[dict[str, Converter]] = {
    "date": _to_date,
    "timestamp-millis": _to_timestamp,
    "timestamp-micros": _to_timestamp,
}


def _converter(kind: Any, path: str) -> Converter:
    """The function that turns a cell into a value of the Avro type ``kind``."""
    base = kind["type"] if isinstance(kind, dict) else kind
    logical = kind.get("logicalType") if isinstance(kind, dict) else None
    if base == "enum":
        return _enum(kind["name"], kind["symbols"])
    if logical in _LOGICAL and base in ("int", "long"):
        return _LOGICAL[logical]
    if isinstance(base, str) and base in _PRIMITIVES:
        return _PRIMITIVES[base]
    raise SchemaError(f"{path}: Avro type {base!r} cannot be read from a CSV or JSON-lines file")


# --- the schema's leaves ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """A leaf of the record: where its value goes and how a cell becomes that value."""

    path: str  # dotted, e.g. citizen.SoDinhDanh
    parent: int  # which record holds it: 0 the top record, then nested records in order
    name: str
    convert: Converter
    nullable: bool
    default: Any = _NO_DEFAULT

    @property
    def required(self) -> bool:
        """No cell can be left out: not nullable and no default."""
        return not self.nullable and self.default is _NO_DEFAULT

    def empty(self) -> Any:
        """The value of an empty cell: None, the default, or ValueError when required."""
        if self.nullable:
            return None
        if self.default is not _NO_DEFAULT:
            return self.default
        raise ValueError("is empty, but the field is required")


class FieldTable:
    """The leaves of a record schema, found by leaf name or dotted path (case-insensitively)."""

    def __init__(self, document: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> None:
        self.name: str = document["name"]
        self.fields: list[Field] = []
        self.links: list[tuple[int, str, int]] = []  # (parent, field name, child) of nested records
        self._defaults = dict(defaults or {})
        self._walk(document, "", 0, {})
        keys: dict[str, set[str]] = {}
        for leaf in self.fields:
            for key in {leaf.path, leaf.name, leaf.path.casefold(), leaf.name.casefold()}:
                keys.setdefault(key, set()).add(leaf.path)
        by_path = {leaf.path: leaf for leaf in self.fields}
        self._lookup = {key: by_path[next(iter(p))] for key, p in keys.items() if len(p) == 1}
        self.ambiguous = {key: sorted(p) for key, p in keys.items() if len(p) > 1}

    @property
    def records(self) -> int:
        """How many records a row fills: the top record and every nested one."""
        return len(self.links) + 1

    def _walk(self, schema: Mapping[str, Any], prefix: str, parent: int, named: dict[str, Any]) -> None:
        for avro_field in schema["fields"]:
            name, path = avro_field["name"], prefix + avro_field["name"]
            declared = avro_field["type"]
            branches = declared if isinstance(declared, list) else [declared]
            concrete = [named.get(b, b) if isinstance(b, str) else b for b in branches if b != "null"]
            for kind in concrete:
                if isinstance(kind, dict) and "name" in kind:
                    named[kind["name"]] = kind
            if len(concrete) != 1:
                raise SchemaError(f"{self.name}: {path} is a union of several types; files cannot say which")
            kind = concrete[0]
            if isinstance(kind, dict) and kind.get("type") == "record" and len(branches) == 1:
                self.links.append((parent, name, len(self.links) + 1))
                self._walk(kind, path + ".", len(self.links), named)
                continue
            default = self._defaults.get(path, avro_field.get("default", _NO_DEFAULT))
            self.fields.append(Field(path, parent, name, _converter(kind, path), len(branches) > 1, default))

    def lookup(self, column: str) -> Field | None:
        """The field a column name means, None if none; InputError if it could mean several."""
        for key in (column, column.casefold()):
            if key in self.ambiguous:
                raise InputError(
                    f"column {column!r} could be any of {', '.join(self.ambiguous[key])}; "
                    f"say which with --map '{column}=<dotted path>'"
                )
            found = self._lookup.get(key)
            if found is not None:
                return found
        return None


@lru_cache(maxsize=8)
def department_table(department: Department) -> FieldTable:
    """The fields of ``department``'s record; ``agency`` defaults to the department's agency."""
    name = DEPARTMENT_TOPICS[department].value_schema
    assert name is not None
    return FieldTable(get_catalog().document(name), {"agency": department.agency})
