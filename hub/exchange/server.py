"""A mock of the national exchange (NDXP) over real HTTP.

It accepts batches of records, de-duplicates them by ``record_id`` (so at-least-once
forwarding is safe), and answers each with an acknowledgement and a transaction id. It can be
told to fail a share of requests, to exercise the forwarder's retries.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.net import BackgroundServer

__all__ = ["ExchangeLedger", "ExchangeServer", "create_app"]


@dataclass
class ExchangeLedger:
    """What the exchange has received: record id → (transaction id, digest of the document)."""

    accepted: dict[str, tuple[str, str]] = field(default_factory=dict)
    duplicates: int = 0
    requests: int = 0
    failed_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, document: dict[str, Any]) -> dict[str, Any]:
        record_id = document.get("record_id")
        if not isinstance(record_id, str) or not record_id:
            return {"record_id": record_id, "status": "REJECTED", "detail": "record_id missing"}
        digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
        with self.lock:
            known = self.accepted.get(record_id)
            if known is not None:
                self.duplicates += 1
                return {"record_id": record_id, "status": "DUPLICATE", "transaction_id": known[0]}
            transaction_id = uuid.uuid4().hex
            self.accepted[record_id] = (transaction_id, digest)
        return {"record_id": record_id, "status": "ACCEPTED", "transaction_id": transaction_id}


def create_app(ledger: ExchangeLedger, failure_rate: float = 0.0, seed: int = 0) -> Starlette:
    """The exchange's HTTP API: ``POST /api/v1/records``, ``GET /health``, ``GET /api/v1/stats``."""
    chance = random.Random(seed)

    async def records(request: Request) -> JSONResponse:
        ledger.requests += 1
        if failure_rate and chance.random() < failure_rate:
            ledger.failed_requests += 1
            return JSONResponse({"error": "exchange temporarily unavailable"}, status_code=503)
        try:
            body = await request.json()
            documents = body["records"]
            assert isinstance(documents, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return JSONResponse({"error": 'body must be {"records": [...]}'}, status_code=400)
        return JSONResponse({"acks": [ledger.receive(doc) for doc in documents]})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "accepted": len(ledger.accepted),
                "duplicates": ledger.duplicates,
                "requests": ledger.requests,
                "failed_requests": ledger.failed_requests,
            }
        )

    return Starlette(
        routes=[
            Route("/api/v1/records", records, methods=["POST"]),
            Route("/health", health),
            Route("/api/v1/stats", stats),
        ]
    )


class ExchangeServer(BackgroundServer):
    """Runs the mock exchange with uvicorn in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, failure_rate: float = 0.0) -> None:
        self.ledger = ExchangeLedger()
        super().__init__(create_app(self.ledger, failure_rate), "mock national exchange", host, port)
