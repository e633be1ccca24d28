"""Records on the wire: Confluent wire format (0x00, 4-byte big-endian schema id, Avro binary)."""

from __future__ import annotations

import base64
import io
import json
import struct
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import fastavro
from fastavro.validation import ValidationError, validate

from hub.avro.decoder import Decoder, compile_decoder
from hub.avro.encoder import Encoder, compile_encoder
from hub.errors import RecordDecodeError, RecordEncodeError, SchemaError

__all__ = ["HEADER_SIZE", "MAGIC_BYTE", "AvroCodec", "DecodeReason", "frame", "jsonable", "unframe"]

MAGIC_BYTE = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")


class DecodeReason:
    """Reason codes for bytes that are not a readable hub record."""

    EMPTY = "EMPTY_VALUE"
    BAD_MAGIC = "BAD_MAGIC_BYTE"
    UNKNOWN_SCHEMA = "UNKNOWN_SCHEMA_ID"
    TRUNCATED = "TRUNCATED_RECORD"
    OVERSIZED = "OVERSIZED_RECORD"
    NOT_AVRO = "NOT_AVRO"


def frame(schema_id: int, payload: bytes) -> bytes:
    """Prefix Avro ``payload`` with the wire-format header."""
    return _HEADER.pack(MAGIC_BYTE, schema_id) + payload


def unframe(data: bytes | None, max_bytes: int) -> tuple[int, memoryview]:
    """Split wire bytes into schema id and Avro payload, or raise :class:`RecordDecodeError`."""
    return _schema_id(data, max_bytes), memoryview(data)[HEADER_SIZE:]  # type: ignore[arg-type]


def _schema_id(data: bytes | None, max_bytes: int) -> int:
    """The schema id of wire bytes, or :class:`RecordDecodeError` saying why they are not."""
    if not data:
        raise RecordDecodeError(DecodeReason.EMPTY, "empty value")
    if len(data) > max_bytes:
        raise RecordDecodeError(DecodeReason.OVERSIZED, f"value of {len(data)} bytes exceeds {max_bytes}")
    if data[0] != MAGIC_BYTE:
        raise RecordDecodeError(
            DecodeReason.BAD_MAGIC, f"first byte is 0x{data[0]:02x}, not the wire format's 0x00"
        )
    if len(data) < HEADER_SIZE:
        raise RecordDecodeError(DecodeReason.TRUNCATED, f"only {len(data)} bytes, no schema id")
    return int(_HEADER.unpack_from(data)[1])


SchemaLookup = Callable[[int], str | None]


class AvroCodec:
    """Encodes and decodes hub records; schemas by id come from ``lookup`` and are cached."""

    def __init__(self, lookup: SchemaLookup, max_bytes: int = 1_000_000) -> None:
        self._lookup = lookup
        self._max_bytes = max_bytes
        self._parsed: dict[int, Any] = {}
        self._encoders: dict[int, Encoder | None] = {}
        self._texts: dict[int, str] = {}
        self._decoders: dict[tuple[int, tuple[str, ...], tuple[str, ...]], Any] = {}

    @property
    def max_bytes(self) -> int:
        """The largest record this codec decodes (``HUB_MAX_RECORD_BYTES``); larger is ``OVERSIZED``."""
        return self._max_bytes

    def schema(self, schema_id: int) -> Any:
        """The parsed schema for ``schema_id``; :class:`RecordDecodeError` if none is known."""
        parsed = self._parsed.get(schema_id)
        if parsed is None:
            text = self._lookup(schema_id)
            if text is None:
                raise RecordDecodeError(
                    DecodeReason.UNKNOWN_SCHEMA, f"schema id {schema_id} is not registered"
                )
            try:
                parsed = fastavro.parse_schema(json.loads(text))
            except (ValueError, fastavro.schema.SchemaParseException) as exc:
                raise SchemaError(f"registered schema id {schema_id} is invalid: {exc}") from exc
            self._parsed[schema_id] = parsed
            self._texts[schema_id] = text
            self._encoders[schema_id] = _compiled(text)
        return parsed

    def text(self, schema_id: int) -> str:
        """The schema text registered as ``schema_id``; :class:`RecordDecodeError` if none is."""
        self.schema(schema_id)
        return self._texts[schema_id]

    def encode(self, schema_id: int, record: dict[str, Any]) -> bytes:
        """Wire bytes for ``record``; :class:`RecordEncodeError` names the field that is wrong."""
        parsed = self.schema(schema_id)
        encoder = self._encoders[schema_id]
        if encoder is not None:
            try:
                return _HEADER.pack(MAGIC_BYTE, schema_id) + encoder(record)
            except Exception:
                pass  # an invalid value, or a case left to fastavro (strings over 64 KiB): see below
        # fastavro is the authority: its validator says what is wrong (its writer alone would
        # accept True for an int, or an int too large for 32 bits), its writer encodes the rest.
        try:
            validate(record, parsed, raise_errors=True)
        except ValidationError as invalid:
            raise RecordEncodeError(_problems(invalid)) from invalid
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise RecordEncodeError(f"not a record of this schema: {type(exc).__name__}: {exc}") from exc
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(MAGIC_BYTE, schema_id))
        try:
            fastavro.schemaless_writer(buffer, parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise RecordEncodeError(_describe_invalid(record, parsed, exc)) from exc
        return buffer.getvalue()

    def encoder_for(self, schema_id: int) -> Callable[[dict[str, Any]], bytes]:
        """``encode`` for one schema, with the lookups done once: the publishing hot path."""
        self.schema(schema_id)
        compiled = self._encoders[schema_id]
        if compiled is None:
            return lambda record: self.encode(schema_id, record)
        header = _HEADER.pack(MAGIC_BYTE, schema_id)

        def encode(record: dict[str, Any]) -> bytes:
            try:
                return header + compiled(record)
            except Exception:
                return self.encode(schema_id, record)  # fastavro decides, and names what is wrong

        return encode

    def decode(
        self, data: bytes | None, raw: tuple[str, ...] = (), skip: tuple[str, ...] = ()
    ) -> tuple[int, dict[str, Any]]:
        """Schema id and record from wire bytes; :class:`RecordDecodeError` with a reason.

        Top-level record fields named in ``raw`` may come back undecoded, as
        :class:`~hub.avro.encoder.Raw` bytes that the encoder writes back unchanged; those named
        in ``skip`` may be left out (a reader that does not need them spares their decoding).
        """
        schema_id = _schema_id(data, self._max_bytes)
        parsed = self.schema(schema_id)
        decoder = self._decoders.get((schema_id, raw, skip), _MISSING)
        if decoder is _MISSING:
            decoder = self._decoders[schema_id, raw, skip] = _compiled_decoder(
                self._texts[schema_id], raw, skip
            )
        if decoder is not None:
            buffer = data if type(data) is bytes else bytes(data)  # type: ignore[arg-type]
            try:
                record, end = decoder(buffer, HEADER_SIZE)
                if end == len(buffer):
                    return schema_id, record
            except Exception:
                pass
        payload = memoryview(data)[HEADER_SIZE:]  # type: ignore[arg-type]
        stream = io.BytesIO(payload)
        try:
            record = fastavro.schemaless_reader(stream, parsed, None)
        except EOFError as exc:
            raise RecordDecodeError(DecodeReason.TRUNCATED, "Avro payload ends early") from exc
        except Exception as exc:  # fastavro raises many kinds on garbage input
            raise RecordDecodeError(
                DecodeReason.NOT_AVRO, f"not Avro for schema id {schema_id}: {type(exc).__name__}: {exc}"
            ) from exc
        if stream.tell() != len(payload):
            raise RecordDecodeError(
                DecodeReason.NOT_AVRO,
                f"{len(payload) - stream.tell()} bytes left over after the record",
            )
        return schema_id, record  # type: ignore[return-value]


_MISSING = object()


def _compiled_decoder(text: str, raw: tuple[str, ...], skip: tuple[str, ...]) -> Decoder | None:
    """The compiled decoder for a schema text, or None to keep using fastavro's reader."""
    try:
        return compile_decoder(fastavro.parse_schema(json.loads(text), expand=True), raw, skip)
    except (RecursionError, ValueError, fastavro.schema.SchemaParseException):
        return None


def _compiled(text: str) -> Encoder | None:
    """The compiled encoder for a schema text, or None to keep using fastavro's writer."""
    try:
        return compile_encoder(fastavro.parse_schema(json.loads(text), expand=True))
    except (RecursionError, ValueError, fastavro.schema.SchemaParseException):
        return None


def _describe_invalid(record: dict[str, Any], parsed: Any, exc: Exception) -> str:
    """A one-line description of why ``record`` does not match ``parsed``."""
    try:
        validate(record, parsed, raise_errors=True)
    except ValidationError as invalid:
        return _problems(invalid)
    return str(exc)


def _problems(invalid: ValidationError) -> str:
    problems = sorted({str(p) for p in invalid.errors})  # errors may hold dict schemas
    return "; ".join(problems[:3])


def jsonable(value: Any) -> Any:
    """A decoded record as plain JSON values: dates as ISO strings, bytes as base64."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value
