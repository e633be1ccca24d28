"""OAuth2 as the exchange speaks it: the client-credentials grant (RFC 6749 §4.4) and bearer tokens.

Errors are :class:`Refusal` exceptions that become RFC 6749 §5.2 / RFC 6750 §3 answers. Nothing
here logs or repeats a secret: a refusal says what was wrong, never with which value.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub.exchange.clients import ClientStore
from hub.exchange.tokens import Grant, TokenStore

__all__ = ["Refusal", "TokenEndpoint", "required_grant"]

log = logging.getLogger(__name__)

_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class Refusal(HTTPException):
    """An error answer: ``{"error": ..., ...}`` with ``status_code`` and ``headers``."""

    def __init__(self, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, str(body.get("error")), headers)
        self.body = body

    def response(self) -> Response:
        return JSONResponse(self.body, self.status_code, self.headers)

    @classmethod
    def invalid_request(cls, description: str) -> Refusal:
        return cls(400, {"error": "invalid_request", "error_description": description})

    @classmethod
    def invalid_client(cls, description: str) -> Refusal:
        body = {"error": "invalid_client", "error_description": description}
        return cls(401, body, {"WWW-Authenticate": "Basic", **_NO_STORE})

    @classmethod
    def invalid_token(cls, description: str) -> Refusal:
        body = {"error": "invalid_token", "error_description": description}
        return cls(401, body, {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    @classmethod
    def insufficient_scope(cls, scope: str) -> Refusal:
        description = f"this needs a token with scope {scope}"
        body = {"error": "insufficient_scope", "error_description": description, "scope": scope}
        return cls(403, body, {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})


def required_grant(request: Request, tokens: TokenStore, scope: str | None = None) -> Grant:
    """The grant of the request's bearer token, which must hold ``scope`` (if given)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refusal.invalid_token("send Authorization: Bearer <token> (POST /oauth/token gives one)")
    grant = tokens.grant(token.strip())
    if grant is None:
        raise Refusal.invalid_token("the token is unknown or has expired; ask POST /oauth/token for another")
    if scope is not None and scope not in grant.scopes:
        raise Refusal.insufficient_scope(scope)
    return grant


class TokenEndpoint:
    """``POST /oauth/token``: a client's id and secret for a token holding (some of) its scopes."""

    def __init__(self, clients: ClientStore, tokens: TokenStore) -> None:
        self.clients = clients
        self.tokens = tokens

    async def issue(self, request: Request) -> Response:
        form = await _form(request)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise Refusal.invalid_request("grant_type is missing")
        if grant_type != "client_credentials":
            raise Refusal(
                400, {"error": "unsupported_grant_type", "error_description": "use client_credentials"}
            )
        client_id, secret = _credentials(request, form)
        held = await run_in_threadpool(self.clients.verify, client_id, secret)
        if held is None:
            log.info("token refused to client %r: unknown client or wrong secret", client_id[:64])
            raise Refusal.invalid_client("unknown client or wrong secret")
        asked = frozenset(form.get("scope", "").split()) or held
        if not asked <= held:
            raise Refusal(
                400, {"error": "invalid_scope", "error_description": "a scope the client does not have"}
            )
        token = self.tokens.issue(client_id, asked)
        log.info("token issued to client %r for %s", client_id, " ".join(sorted(asked)))
        answer = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": math.ceil(self.tokens.ttl),
            "scope": " ".join(sorted(asked)),
        }
        return JSONResponse(answer, headers=_NO_STORE)


async def _form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _FORM:
        raise Refusal.invalid_request(f"send the parameters form-encoded ({_FORM})")
    try:
        pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Refusal.invalid_request("the form is not UTF-8") from None
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise Refusal.invalid_request("a parameter is given more than once")
    return dict(pairs)


def _credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """The client's id and secret, from HTTP Basic or from the form; never both (RFC 6749 §2.3)."""
    header = request.headers.get("authorization")
    in_form = "client_id" in form or "client_secret" in form
    if header and in_form:
        raise Refusal.invalid_request("authenticate by HTTP Basic or by the form, not both")
    if header:
        return _basic(header)
    if form.get("client_id") and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    raise Refusal.invalid_client("send client_id and client_secret by HTTP Basic or in the form")


def _basic(header: str) -> tuple[str, str]:
    scheme, _, encoded = header.partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError
        client_id, colon, secret = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Refusal.invalid_client("the Authorization header is not HTTP Basic") from None
    if not colon or not client_id:
        raise Refusal.invalid_client("the Authorization header is not HTTP Basic")
    return unquote_plus(client_id), unquote_plus(secret)
