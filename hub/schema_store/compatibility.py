"""Whether a new Avro schema may follow the versions registered before it.

The decision is Apache Avro's (:class:`avro.compatibility.ReaderWriterCompatibilityChecker`);
this module only chooses which pairs to check for a compatibility level, as Confluent Schema
Registry does, and turns the checker's result into a sentence that names the field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import avro.errors
import avro.schema
import fastavro
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
)

from hub.errors import ConfigError, SchemaError

__all__ = ["LEVELS", "Compatibility", "check_compatibility", "parse_avro", "validate_level"]

LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)

_MISSING_DEFAULT = SchemaIncompatibilityType.reader_field_missing_default_value


@dataclass(frozen=True)
class Compatibility:
    """The outcome of a check: compatible when there are no messages, one per broken pair."""

    messages: tuple[str, ...] = ()

    @property
    def is_compatible(self) -> bool:
        return not self.messages

    def summary(self) -> str:
        """The first message, and how many more there are."""
        more = len(self.messages) - 1
        return self.messages[0] + (f" (and {more} more)" if more > 0 else "")


def validate_level(level: str) -> str:
    """``level`` if it is a compatibility level; :class:`ConfigError` otherwise."""
    if level not in LEVELS:
        raise ConfigError(f"unknown compatibility level {level!r}; levels are {', '.join(LEVELS)}")
    return level


def parse_avro(text: str) -> avro.schema.Schema:
    """``text`` parsed as Avro by both Apache Avro and fastavro (the hub's codec), or SchemaError."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise SchemaError(f"schema is not JSON: {exc}") from exc
    try:
        fastavro.parse_schema(document)
        return avro.schema.parse(text)
    except (avro.errors.AvroException, fastavro.schema.SchemaParseException, ValueError, TypeError) as exc:
        raise SchemaError(f"not a valid Avro schema: {exc}") from exc
    except (KeyError, AttributeError) as exc:  # both parsers fail this way on some malformed documents
        raise SchemaError(f"not a valid Avro schema: {type(exc).__name__}: {exc}") from exc


def check_compatibility(new_text: str, previous: Sequence[tuple[int, str]], level: str) -> Compatibility:
    """Check ``new_text`` against ``previous`` (live ``(version, text)`` pairs, oldest first).

    BACKWARD: the new schema reads data written with the latest version; FORWARD: the latest
    version reads data written with the new one; FULL: both. The ``_TRANSITIVE`` levels check
    every version in ``previous`` instead of only the latest; NONE checks nothing.
    """
    validate_level(level)
    new = parse_avro(new_text)
    if level == "NONE" or not previous:
        return Compatibility()
    against = previous if level.endswith("_TRANSITIVE") else previous[-1:]
    messages: list[str] = []
    for version, text in reversed(against):
        old = parse_avro(text)
        if level.startswith(("BACKWARD", "FULL")):
            messages.extend(_check_pair(new, old, version, level, backward=True))
        if level.startswith(("FORWARD", "FULL")):
            messages.extend(_check_pair(old, new, version, level, backward=False))
    return Compatibility(tuple(messages))


def _check_pair(
    reader: avro.schema.Schema, writer: avro.schema.Schema, version: int, level: str, *, backward: bool
) -> list[str]:
    result = _LocatingChecker().get_compatibility(reader, writer)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    return [
        f"incompatible with version {version} under {level}: {_describe(result, reader, version, backward)}"
    ]


def _describe(
    result: SchemaCompatibilityResult, reader: avro.schema.Schema, version: int, backward: bool
) -> str:
    """One sentence from the checker's incompatibility types, messages and locations."""
    kinds = sorted({kind.name.upper() for kind in result.incompatibilities})
    # A merged result keeps "/" from the compatible parts it absorbed; it is noise next to others.
    locations = sorted(result.locations - {"/"}) or ["/"]
    where = ", ".join(_where(reader, location) for location in locations)
    consequence = (
        "the new schema cannot read old records"
        if backward
        else (f"readers still on version {version} cannot read new records")
    )
    if set(result.incompatibilities) == {_MISSING_DEFAULT}:
        plural = len(locations) > 1
        detail = f"{where} {'have' if plural else 'has'} no default value"
        if not backward:
            detail = f"{where} {'are' if plural else 'is'} missing from the new schema and " + (
                f"{'have' if plural else 'has'} no default value in version {version}"
            )
    else:
        detail = f"{where}: {'; '.join(sorted(result.messages))}"
    return f"{detail}, so {consequence} [{', '.join(kinds)}]"


def _where(reader: avro.schema.Schema, location: str) -> str:
    """``field 'citizen.HoVaTen' (/fields/3/type/fields/2)``: the location named in the reader."""
    names: list[str] = []
    node: Any = reader
    tokens = [token for token in location.split("/") if token]
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token == "fields" and isinstance(node, avro.schema.RecordSchema) and index + 1 < len(tokens):
            field = node.fields[int(tokens[index + 1])]
            names.append(field.name)
            node, index = field.type, index + 2
        elif token == "type":
            index += 1
        elif token == "items" and isinstance(node, avro.schema.ArraySchema):
            node, index = node.items, index + 1
        elif token == "values" and isinstance(node, avro.schema.MapSchema):
            node, index = node.values, index + 1
        else:
            break  # name, size, symbols or a union branch: the field is already named
    if not names:
        return f"the schema ({location})"
    return f"field '{'.'.join(names)}' ({location})"


class _LocatingChecker(ReaderWriterCompatibilityChecker):
    """Avro's checker, keeping the location when it looks into the branches of a union.

    Avro's Python checker restarts the location at "/" for union branches, so a field whose
    type became a union would be reported at the root. Only locations change, not decisions.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._at: list[list[str]] = []

    def get_compatibility(
        self,
        reader: avro.schema.Schema,
        writer: avro.schema.Schema,
        reference_token: str = ReaderWriterCompatibilityChecker.ROOT_REFERENCE_TOKEN,
        location: list[str] | None = None,
    ) -> SchemaCompatibilityResult:
        if location is None and self._at:
            here = self._at[-1]
            return super().get_compatibility(reader, writer, here[-1], here[:-1])
        return super().get_compatibility(reader, writer, reference_token, location)

    def calculate_compatibility(
        self, reader: avro.schema.Schema, writer: avro.schema.Schema, location: list[str]
    ) -> SchemaCompatibilityResult:
        self._at.append(location)
        try:
            return super().calculate_compatibility(reader, writer, location)
        finally:
            self._at.pop()
