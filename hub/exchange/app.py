"""The exchange's HTTP API (Starlette): tokens, submissions, the ledger's read side, faults, health.

Handlers are ``async``; the SQL runs in Starlette's thread pool, so several submissions overlap.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import orjson
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.errors import ConfigError, DatabaseError, InputError
from hub.exchange.clients import ADMIN, LEDGER_READ, SUBMIT_PREFIX, ClientStore, agency_scope
from hub.exchange.faults import FaultInjector
from hub.exchange.ledger import ExchangeLedger
from hub.exchange.oauth import Refusal, TokenEndpoint, required_grant
from hub.exchange.stats import ExchangeStats
from hub.exchange.tokens import Grant, TokenStore
from hub.metrics import collected, exposition

__all__ = ["MAX_RECORDS", "create_app"]

MAX_RECORDS = 1000  # documents in one submission
_ERRORS = {404: "not_found", 405: "method_not_allowed"}


def create_app(
    ledger: ExchangeLedger,
    clients: ClientStore,
    tokens: TokenStore | None = None,
    faults: FaultInjector | None = None,
    stats: ExchangeStats | None = None,
) -> Starlette:
    """The exchange over ``ledger`` and ``clients``; tokens, faults and stats fresh unless given."""
    tokens = TokenStore() if tokens is None else tokens  # an empty store is falsy: it has a length
    faults = FaultInjector() if faults is None else faults
    api = _Exchange(ledger, tokens, faults, ExchangeStats() if stats is None else stats)
    routes = [
        Route("/oauth/token", TokenEndpoint(clients, tokens).issue, methods=["POST"]),
        Route("/api/v1/dossiers/sync", api.sync, methods=["POST"]),
        Route("/api/v1/ledger/counts", api.counts),
        Route("/api/v1/ledger/records/{record_id:path}", api.record),
        Route("/api/v1/stats", api.stats_json),
        Route("/admin/faults", api.get_faults, methods=["GET"]),
        Route("/admin/faults", api.put_faults, methods=["PUT"]),
        Route("/health", api.health),
        Route("/metrics", api.metrics),
    ]
    handlers = {HTTPException: _refused, DatabaseError: _unavailable}
    return Starlette(routes=routes, exception_handlers=handlers)


class _Exchange:
    """The endpoints other than the token's."""

    def __init__(
        self, ledger: ExchangeLedger, tokens: TokenStore, faults: FaultInjector, stats: ExchangeStats
    ) -> None:
        self.ledger = ledger
        self.tokens = tokens
        self.faults = faults
        self.stats = stats
        self.registry = CollectorRegistry()
        collected(self.registry, self._families)

    def _families(self) -> Iterator[CounterMetricFamily]:
        """What it has answered, as the exchange's own /metrics shows it."""
        requests = CounterMetricFamily(
            "hub_ndxp_requests",
            "Submissions the mock national exchange answered, by HTTP status.",
            labels=["status"],
        )
        for status, n in self.stats.by_status.items():
            requests.add_metric([str(status)], n)
        yield requests
        documents = CounterMetricFamily(
            "hub_ndxp_documents",
            "Documents the mock national exchange acknowledged, by outcome.",
            labels=["outcome"],
        )
        for outcome in ("ACCEPTED", "DUPLICATE", "REJECTED"):
            documents.add_metric([outcome], getattr(self.stats, outcome.lower()))
        yield documents

    async def metrics(self, request: Request) -> Response:
        """``GET /metrics``, without a token: Prometheus' text format."""
        body, content_type = exposition(self.registry)
        return Response(body, media_type=content_type)

    async def sync(self, request: Request) -> Response:
        """``POST /api/v1/dossiers/sync``: one acknowledgement per document, or nothing stored."""
        try:
            acks = await self._submit(request)
        except HTTPException as exc:
            self.stats.answered(exc.status_code)
            raise
        except DatabaseError:
            self.stats.answered(503)
            raise
        self.stats.answered(200, acks)
        return Response(orjson.dumps({"acks": acks}), media_type="application/json")

    async def _submit(self, request: Request) -> list[dict[str, Any]]:
        grant = required_grant(request, self.tokens)
        documents = await run_in_threadpool(_documents, await request.body())
        _check_agencies(grant, documents)
        verdict = self.faults.verdict()
        if verdict.delay:
            await asyncio.sleep(verdict.delay)
        if verdict.status is not None:
            headers = {"Retry-After": verdict.retry_after} if verdict.retry_after else None
            body = {"error": verdict.error, "error_description": f"injected fault: {verdict.error}"}
            raise Refusal(verdict.status, body, headers)
        return await run_in_threadpool(self.ledger.receive, documents)

    async def counts(self, request: Request) -> Response:
        """``GET /api/v1/ledger/counts?by=agency,day``."""
        required_grant(request, self.tokens, LEDGER_READ)
        by = [key.strip() for key in request.query_params.get("by", "agency,day").split(",")]
        try:
            counts = await run_in_threadpool(self.ledger.counts, by)
        except InputError as exc:
            raise Refusal.invalid_request(str(exc)) from None
        return JSONResponse({"counts": counts})

    async def record(self, request: Request) -> Response:
        """``GET /api/v1/ledger/records/{record_id}``."""
        required_grant(request, self.tokens, LEDGER_READ)
        entry = await run_in_threadpool(self.ledger.get, request.path_params["record_id"])
        if entry is None:
            raise Refusal(404, {"error": "not_found"})
        return JSONResponse(entry)

    async def stats_json(self, request: Request) -> Response:
        """``GET /api/v1/stats``."""
        required_grant(request, self.tokens, LEDGER_READ)
        return JSONResponse(self.stats.to_json())

    async def get_faults(self, request: Request) -> Response:
        required_grant(request, self.tokens, ADMIN)
        return JSONResponse(self.faults.faults.to_json())

    async def put_faults(self, request: Request) -> Response:
        """Replace the given keys; the whole set in answer, or 400 and nothing changed."""
        required_grant(request, self.tokens, ADMIN)
        try:
            body = json.loads(await request.body())
            changed = self.faults.faults.changed_by_json(body)
        except ValueError:
            raise Refusal.invalid_request("the body is not JSON") from None
        except ConfigError as exc:
            raise Refusal.invalid_request(str(exc)) from None
        self.faults.set(changed, reseed="seed" in body)
        return JSONResponse(changed.to_json())

    async def health(self, request: Request) -> Response:
        """``GET /health``, without a token: 503 when the database does not answer."""
        try:
            records = await run_in_threadpool(self.ledger.count)
        except DatabaseError as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "ledger_records": records})


def _documents(body: bytes) -> list[Any]:
    """The documents of a submission's body ``{"records": [...]}``."""
    try:
        parsed = orjson.loads(body)  # strict JSON (no NaN, no lone surrogates), 2-3× json's speed
    except orjson.JSONDecodeError:
        raise Refusal.invalid_request("the body is not JSON") from None
    documents = parsed.get("records") if isinstance(parsed, dict) else None
    if not isinstance(documents, list):
        raise Refusal.invalid_request('the body must be {"records": [document, ...]}')
    if len(documents) > MAX_RECORDS:
        description = f"at most {MAX_RECORDS} documents per request, not {len(documents)}"
        raise Refusal(413, {"error": "too_many_records", "error_description": description})
    return documents


def _check_agencies(grant: Grant, documents: list[Any]) -> None:
    """403 unless the token may submit the agency of every document (those without one are rejected)."""
    agencies = {d.get("agency") for d in documents if isinstance(d, dict)}
    needed = {agency_scope(a) for a in agencies if isinstance(a, str) and a} - grant.scopes
    if not needed and not any(scope.startswith(SUBMIT_PREFIX) for scope in grant.scopes):
        needed = {agency_scope("<AGENCY>")}
    if needed:
        raise Refusal.insufficient_scope(" ".join(sorted(needed)))


async def _refused(request: Request, exc: Exception) -> Response:
    if isinstance(exc, Refusal):
        return exc.response()
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"error": _ERRORS.get(exc.status_code, "invalid_request")}, exc.status_code, exc.headers
    )


async def _unavailable(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": "temporarily_unavailable", "error_description": str(exc)}, status_code=503)
