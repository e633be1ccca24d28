"""A department's CSV or JSON-lines export, row by row: each row a record or a rejection.

Columns match schema fields by leaf name (``SoDinhDanh``) or dotted path
(``citizen.SoDinhDanh``), or through ``--map "Column=Field"``. Cells become Avro values by the
field's type. :class:`ExportFile` checks the file in a cheap first pass (encoding, header,
required columns), so a file that cannot be read fails before anything is published.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import json
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Final

from hub.errors import InputError
from hub.topics import Department
from producers.fields import EMPTY, Converter, Field, FieldTable, Row, RowError, department_table

__all__ = [
    "EMPTY",
    "FORMATS",
    "ColumnPlan",
    "ExportFile",
    "Field",
    "FieldTable",
    "RejectFile",
    "Row",
    "RowError",
    "department_table",
    "parse_mapping",
    "plan_columns",
    "scan_encoding",
]

FORMATS: Final = {".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_SAMPLE_OBJECTS = 200  # JSON-lines objects read up front to check the required fields


def _clean(column: str) -> str:
    return unicodedata.normalize("NFC", column).strip().lstrip("\ufeff")


def parse_mapping(entries: Iterable[str], table: FieldTable) -> dict[str, str]:
    """``--map "Column=Field"`` options as column → field path; InputError for a bad one."""
    renames: dict[str, str] = {}
    for entry in entries:
        column, sep, target = entry.rpartition("=")
        column = _clean(column)
        if not sep or not column or not target.strip():
            raise InputError(f"--map {entry!r}: write it as --map 'Column in the file=FieldName'")
        found = table.lookup(target.strip())
        if found is None:
            known = ", ".join(leaf.name for leaf in table.fields)
            raise InputError(f"--map {entry!r}: {target.strip()!r} is not a field of {table.name} ({known})")
        if column in renames:
            raise InputError(f"--map gives column {column!r} twice")
        renames[column] = found.path
    return renames


# --- columns to fields -----------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnPlan:
    """Which column fills which field, for one header: what turns a row into a record."""

    table: FieldTable
    columns: tuple[str, ...]
    bindings: tuple[tuple[int, int, str, Converter, Field, str], ...]  # index, parent, name, ..., label
    fill: tuple[tuple[int, str, Any], ...]  # fields no column gives, with their default
    missing: tuple[Field, ...]
    unknown: tuple[str, ...]

    def convert(self, values: Sequence[Any]) -> dict[str, Any]:
        """The record for one row's values (in column order); RowError names the bad field."""
        records: list[dict[str, Any]] = [{} for _ in range(self.table.records)]
        for parent, name, child in self.table.links:
            records[parent][name] = records[child]
        for parent, name, value in self.fill:
            records[parent][name] = value
        for index, parent, name, convert, leaf, label in self.bindings:
            raw = values[index]
            try:
                value = leaf.empty() if raw is None or raw == "" else convert(raw)
                if value is EMPTY:
                    value = leaf.empty()
            except (ValueError, TypeError) as exc:
                raise RowError(f"{label}: {exc}") from None
            records[parent][name] = value
        return records[0]

    def missing_message(self, where: str) -> str:
        """One line naming the missing columns and the columns found."""
        names = ", ".join(
            leaf.path if leaf.name in self.table.ambiguous else leaf.name for leaf in self.missing
        )
        found = ", ".join(self.columns) or "none"
        return (
            f"{where}: missing required columns {names} (columns found: {found}); "
            "rename columns with --map 'Column=Field'"
        )


def plan_columns(
    columns: Sequence[str], table: FieldTable, renames: Mapping[str, str] | None = None
) -> ColumnPlan:
    """Match a header to ``table``'s fields; InputError when two columns give one field."""
    renames = renames or {}
    folded = {column.casefold(): path for column, path in renames.items()}
    bound: dict[str, tuple[int, str]] = {}
    unknown: list[str] = []
    for index, column in enumerate(columns):
        key = _clean(column)
        target = renames.get(key) or folded.get(key.casefold()) or key
        leaf = table.lookup(target) if key else None
        if leaf is None:
            unknown.append(key or f"(unnamed column {index + 1})")
        elif leaf.path in bound:
            raise InputError(f"columns {bound[leaf.path][1]!r} and {key!r} both give {leaf.path}")
        else:
            bound[leaf.path] = (index, key)
    bindings, fill, missing = [], [], []
    for leaf in table.fields:
        if leaf.path in bound:
            index, column = bound[leaf.path]
            label = leaf.path if column in (leaf.name, leaf.path) else f"{leaf.path} (column {column!r})"
            bindings.append((index, leaf.parent, leaf.name, leaf.convert, leaf, label))
        elif leaf.required:
            missing.append(leaf)
        else:
            fill.append((leaf.parent, leaf.name, leaf.empty()))
    return ColumnPlan(
        table, tuple(_clean(c) for c in columns), tuple(bindings), tuple(fill), tuple(missing), tuple(unknown)
    )


# --- rows ------------------------------------------------------------------------------------


def _holding(lines: Iterable[str], held: list[str]) -> Iterator[str]:
    for line in lines:
        held.append(line)
        yield line


def _csv_reader(lines: Iterable[str], held: list[str]) -> Any:
    """A csv.reader whose delimiter (',' ';' or tab) is the one the header uses most."""
    source, peeked = iter(lines), []
    for line in source:
        peeked.append(line)
        if line.strip():
            break
    header = peeked[-1] if peeked else ""
    delimiter = max(",;\t", key=header.count)
    return csv.reader(_holding(itertools.chain(peeked, source), held), delimiter=delimiter)


def csv_header(lines: Iterable[str]) -> list[str]:
    """The first non-blank row of CSV text: its column names."""
    for cells in _csv_reader(lines, []):
        if any(cells):
            return list(cells)
    return []


def csv_rows(lines: Iterable[str], plan: ColumnPlan) -> Iterator[Row]:
    """The rows after the header ``plan`` was made from; blank rows are skipped."""
    held: list[str] = []
    reader = _csv_reader(lines, held)
    for cells in reader:
        if any(cells):
            break
    width, last = len(plan.columns), reader.line_num
    held.clear()
    while True:
        try:
            cells, problem = next(reader), ""
        except StopIteration:
            return
        except csv.Error as exc:
            cells, problem = [""], f"not readable as CSV: {exc}"
        first, last = last + 1, reader.line_num
        text = "".join(held).rstrip("\r\n")
        held.clear()
        if not problem and not any(cells):
            continue  # a blank line, or a row of empty cells as spreadsheets leave at the end
        if not problem and len(cells) != width:
            problem = f"{len(cells)} cells, but the header has {width} columns"
        record = None
        if not problem:
            try:
                record = plan.convert(cells)
            except RowError as exc:
                problem = str(exc)
        yield Row(first, text, record, problem or None)


def _flatten(obj: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in obj.items():
        if isinstance(value, dict):
            _flatten(value, f"{prefix}{key}.", out)
        else:
            out[prefix + key] = value


class JsonPlans:
    """Column plans for JSON objects, one per distinct set of keys (usually just one)."""

    def __init__(self, table: FieldTable, renames: Mapping[str, str] | None = None) -> None:
        self.table, self.renames = table, renames or {}
        self._plans: dict[tuple[str, ...], ColumnPlan] = {}
        self.unknown: dict[str, None] = {}  # ordered set

    def plan(self, keys: tuple[str, ...]) -> ColumnPlan:
        plan = self._plans.get(keys)
        if plan is None:
            plan = plan_columns(keys, self.table, self.renames)
            self.unknown.update(dict.fromkeys(plan.unknown))
            if len(self._plans) < 1000:
                self._plans[keys] = plan
        return plan

    def convert(self, text: str) -> dict[str, Any]:
        """The record for one JSON line, nested like the record or flat; RowError if none."""
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise RowError(f"not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise RowError(f"not a JSON object but {type(obj).__name__}")
        flat: dict[str, Any] = {}
        _flatten(obj, "", flat)
        try:
            plan = self.plan(tuple(flat))
        except InputError as exc:
            raise RowError(str(exc)) from None
        if plan.missing:
            raise RowError("missing required fields " + ", ".join(leaf.path for leaf in plan.missing))
        return plan.convert(list(flat.values()))


def jsonl_rows(lines: Iterable[str], plans: JsonPlans) -> Iterator[Row]:
    """Every non-blank line as a record or a rejection."""
    for number, line in enumerate(lines, 1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        try:
            row = Row(number, text, plans.convert(text))
        except RowError as exc:
            row = Row(number, text, None, str(exc))
        yield row


# --- the file --------------------------------------------------------------------------------


def _python_encoding(name: str) -> str:
    try:
        found = codecs.lookup(name).name
    except LookupError:
        raise InputError(f"unknown encoding {name!r}; try utf-8, cp1258 or utf-16") from None
    return "utf-8-sig" if found == "utf-8" else found  # a BOM is accepted, and dropped


def scan_encoding(stream: IO[bytes], encoding: str, where: str, chunk_size: int = 1 << 20) -> int:
    """The number of lines in ``stream``; InputError naming the first line not in ``encoding``."""
    decoder = codecs.getincrementaldecoder(_python_encoding(encoding))()
    lines, head, ends_open = 0, b"", False
    while True:
        chunk = stream.read(chunk_size)
        head = head or chunk[:4]
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line = lines + exc.object[: exc.start].decode(exc.encoding, "replace").count("\n") + 1
            bad = exc.object[exc.start : exc.start + 1].hex()
            raise InputError(
                f"{where} line {line} is not {encoding} (byte 0x{bad}); {_hint(head, encoding)}"
            ) from None
        if "\x00" in text:
            line = lines + text[: text.index("\x00")].count("\n") + 1
            raise InputError(
                f"{where} line {line} holds NUL characters: not {encoding}; {_hint(head, encoding)}"
            )
        lines += text.count("\n")
        if text:
            ends_open = not text.endswith("\n")
        if not chunk:
            return lines + ends_open


def _hint(head: bytes, encoding: str) -> str:
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "it looks like UTF-16: try --encoding utf-16"
    if b"\x00" in head[:2]:  # no byte order mark: the zero byte of an ASCII letter says which order
        order = "le" if head[1:2] == b"\x00" else "be"
        return f"it looks like UTF-16: try --encoding utf-16-{order}"
    others = [e for e in ("cp1258", "utf-8", "utf-16") if codecs.lookup(e) != codecs.lookup(encoding)]
    return "try " + " or ".join(f"--encoding {e}" for e in others[:2]) + " (cp1258: Excel on Windows)"


def _file_format(path: Path, given: str | None) -> str:
    if given:
        name = FORMATS.get("." + given.lower().lstrip("."))
        if name is None:
            raise InputError(f"unknown format {given!r}; formats are csv and jsonl")
        return name
    name = FORMATS.get(path.suffix.lower())
    if name is None:
        raise InputError(f"cannot tell the format of {path.name} from its name: give --format csv or jsonl")
    return name


class ExportFile:
    """A department's export on disk: :meth:`check` it once, then read its :meth:`rows`."""

    def __init__(
        self,
        path: Path,
        department: Department,
        *,
        file_format: str | None = None,
        mapping: Iterable[str] = (),
        encoding: str = "utf-8",
    ) -> None:
        self.path = path
        self.department = department
        self.table = department_table(department)
        self.renames = parse_mapping(mapping, self.table)
        self.format = _file_format(path, file_format)
        self.encoding = encoding
        self._codec = _python_encoding(encoding)
        self.lines = 0
        self._plan: ColumnPlan | None = None
        self._json = JsonPlans(self.table, self.renames)

    def _open(self, binary: bool = False) -> IO[Any]:
        try:
            if binary:
                return open(self.path, "rb")
            newline = "" if self.format == "csv" else None
            return open(self.path, encoding=self._codec, newline=newline)
        except OSError as exc:
            raise InputError(f"cannot read {self.path}: {exc.strerror or exc}") from None

    def check(self) -> None:
        """Encoding, header and required columns, before anything is published; InputError if wrong."""
        with self._open(binary=True) as stream:
            self.lines = scan_encoding(stream, self.encoding, str(self.path))
        with self._open() as text:
            if self.format == "csv":
                self._plan = self._check_header(csv_header(text))
            else:
                self._check_objects(text)

    def _check_header(self, columns: list[str]) -> ColumnPlan:
        if not columns:
            raise InputError(f"{self.path} is empty: no header row and no records")
        plan = plan_columns(columns, self.table, self.renames)
        if plan.missing:
            raise InputError(plan.missing_message(str(self.path)))
        named = set(plan.columns) | {c.casefold() for c in plan.columns}
        absent = [c for c in self.renames if c not in named and c.casefold() not in named]
        if absent:
            raise InputError(
                f"--map names columns {', '.join(map(repr, absent))} that {self.path} does not have "
                f"(columns found: {', '.join(plan.columns)})"
            )
        return plan

    def _check_objects(self, lines: Iterable[str]) -> None:
        """A field that none of the first objects has is a missing column."""
        keys: dict[str, None] = {}
        missing: set[str] | None = None
        plan, seen = None, 0
        for line in itertools.islice((ln for ln in lines if ln.strip()), _SAMPLE_OBJECTS):
            seen += 1
            try:
                obj = json.loads(line)
                flat: dict[str, Any] = {}
                _flatten(obj, "", flat)
                plan = self._json.plan(tuple(flat))
            except (ValueError, AttributeError, InputError):
                continue  # a broken line is that row's rejection
            keys.update(dict.fromkeys(flat))
            gaps = {leaf.path for leaf in plan.missing}
            missing = gaps if missing is None else missing & gaps
        if not seen:
            raise InputError(f"{self.path} is empty: no records")
        if plan is not None and missing:
            absent = tuple(leaf for leaf in self.table.fields if leaf.path in missing)
            raise InputError(
                replace(plan, columns=tuple(keys), missing=absent).missing_message(str(self.path))
            )

    def rows(self) -> Iterator[Row]:
        """Every row, in file order, as a record or a rejection."""
        if self.format == "csv" and self._plan is None:
            self.check()
        with self._open() as text:
            lines: Iterable[str] = text
            if self._codec == "cp1258":  # it writes most Vietnamese letters as letter + combining mark
                lines = (unicodedata.normalize("NFC", line) for line in text)
            if self._plan is not None:
                yield from csv_rows(lines, self._plan)
            else:
                yield from jsonl_rows(lines, self._json)

    @property
    def unknown_columns(self) -> list[str]:
        """Columns (or JSON keys) that match no field and were ignored."""
        return list(self._plan.unknown if self._plan is not None else self._json.unknown)


class RejectFile:
    """Rejected rows as CSV (line, reason, row); the file is only created for a first rejection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._file: IO[str] | None = None
        self._writer: Any = None

    def write(self, line: int, reason: str, row: str) -> None:
        if self._file is None:
            try:
                self._file = open(self.path, "w", encoding="utf-8", newline="")
            except OSError as exc:
                raise InputError(f"cannot write rejects to {self.path}: {exc.strerror or exc}") from None
            self._writer = csv.writer(self._file)
            self._writer.writerow(["line", "reason", "row"])
        self._writer.writerow([line, reason, row])
        self.count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> RejectFile:
        """Remove the reject file an earlier run left, so that what is there is this run's."""
        try:
            with self.path.open(encoding="utf-8") as previous:
                stale = previous.readline().strip() == "line,reason,row"
            if stale:
                self.path.unlink()
        except (OSError, UnicodeDecodeError):
            pass  # nothing there, or not ours: leave it, write() will say if it cannot
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
