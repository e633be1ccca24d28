"""Confluent Schema Registry's HTTP conventions: media types, error bodies and codes, parameters."""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.errors import ConfigError, DatabaseError, IncompatibleSchemaError, SchemaError
from hub.schema_store.compatibility import LEVELS

__all__ = [
    "MEDIA_TYPE",
    "ApiError",
    "RegistryResponse",
    "exception_handlers",
    "flag",
    "json_body",
    "level_from",
    "schema_from",
    "version_from",
]

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
_REQUEST_MEDIA_TYPES = {MEDIA_TYPE, "application/vnd.schemaregistry+json", "application/json", ""}
_MAX_VERSION = 2**31 - 1

SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403
SUBJECT_SOFT_DELETED = 40404
SUBJECT_NOT_SOFT_DELETED = 40405
VERSION_SOFT_DELETED = 40406
VERSION_NOT_SOFT_DELETED = 40407
SUBJECT_LEVEL_NOT_CONFIGURED = 40408
INVALID_SCHEMA = 42201
INVALID_VERSION = 42202
INVALID_COMPATIBILITY_LEVEL = 42203
STORE_ERROR = 50001


class RegistryResponse(JSONResponse):
    """JSON in Confluent's media type."""

    media_type = MEDIA_TYPE


class ApiError(HTTPException):
    """An HTTP answer in Confluent's error format: ``{"error_code": ..., "message": ...}``."""

    def __init__(self, status_code: int, error_code: int, message: str) -> None:
        super().__init__(status_code, message)
        self.error_code = error_code

    @classmethod
    def not_found(cls, error_code: int, message: str) -> ApiError:
        return cls(404, error_code, message)


def _error(status_code: int, error_code: int, message: str) -> Response:
    return RegistryResponse({"error_code": error_code, "message": message}, status_code=status_code)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = getattr(exc, "error_code", exc.status_code)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code)
    return _error(exc.status_code, code, exc.detail or f"HTTP {exc.status_code}")


async def _hub_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, IncompatibleSchemaError):
        return _error(409, 409, str(exc))
    if isinstance(exc, SchemaError):
        return _error(422, INVALID_SCHEMA, f"Invalid schema: {exc}")
    if isinstance(exc, ConfigError):
        return _error(422, INVALID_COMPATIBILITY_LEVEL, str(exc))
    return _error(500, STORE_ERROR, f"Error in the backend datastore: {exc}")


exception_handlers = {
    HTTPException: _http_error,
    SchemaError: _hub_error,
    ConfigError: _hub_error,
    DatabaseError: _hub_error,
}


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter as clients send it: ``true``, ``True`` (Python's str) or ``1``."""
    return request.query_params.get(name, "").strip().lower() in ("true", "1")


def version_from(text: str) -> int | None:
    """A version path segment: a number, or ``latest`` (also ``-1``) as None; 42202 otherwise."""
    if text in ("latest", "-1"):
        return None
    if text.isdigit() and 1 <= int(text) <= _MAX_VERSION:
        return int(text)
    raise ApiError(
        422,
        INVALID_VERSION,
        f"The specified version '{text}' is not a valid version id. "
        f'Allowed values are between [1, {_MAX_VERSION}] and the string "latest"',
    )


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, in one of the media types Confluent's clients send."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _REQUEST_MEDIA_TYPES:
        raise ApiError(415, 415, f"Unsupported media type {media_type!r}; send {MEDIA_TYPE}")
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(400, 400, f"The request body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(422, 422, "The request body must be a JSON object")
    return body


def schema_from(body: dict[str, Any]) -> str:
    """The Avro schema text of a registration, lookup or compatibility request; 42201 otherwise."""
    kind = body.get("schemaType") or "AVRO"
    if kind != "AVRO":
        raise ApiError(
            422,
            INVALID_SCHEMA,
            f"Invalid schema: schemaType {kind!r} is not supported; this registry holds AVRO only",
        )
    if body.get("references"):
        raise ApiError(
            422,
            INVALID_SCHEMA,
            "Invalid schema: schema references are not supported; register the schema self-contained "
            "(named types inlined)",
        )
    if body.get("metadata") or body.get("ruleSet"):
        raise ApiError(422, INVALID_SCHEMA, "Invalid schema: metadata and rule sets are not supported")
    text = body.get("schema")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(
            422, INVALID_SCHEMA, 'Invalid schema: the body needs "schema", the schema as a JSON string'
        )
    return text


def level_from(body: dict[str, Any]) -> str:
    """The level of a ``PUT /config`` body (``{"compatibility": "FULL"}``); 42203 otherwise."""
    level = body.get("compatibility", body.get("compatibilityLevel"))
    if not isinstance(level, str) or level.upper() not in LEVELS:
        raise ApiError(
            422,
            INVALID_COMPATIBILITY_LEVEL,
            f"Invalid compatibility level {level!r}. Valid values are {', '.join(LEVELS)}",
        )
    return level.upper()
