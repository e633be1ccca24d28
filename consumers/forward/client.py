"""The national exchange's HTTP API, as the forwarder calls it (httpx, with retries)."""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from hub.errors import ExchangeError

__all__ = ["ExchangeClient"]


class _Retriable(Exception):
    """A failure worth another attempt: transport error, 5xx or 429."""


class ExchangeClient:
    """Sends batches of documents; retries transient failures, then raises ExchangeError."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 5,
        transport: httpx.BaseTransport | None = None,
        max_wait: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.attempts = 0  # HTTP calls made by the last send()
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def send(self, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST ``documents``; the exchange's acknowledgement for each, in order."""
        self.attempts = 0
        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait_exponential(multiplier=0.2, max=self.max_wait),
            retry=retry_if_exception_type(_Retriable),
            reraise=False,
        )
        try:
            acks: list[dict[str, Any]] = retrying(self._post, documents)
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise ExchangeError(
                f"national exchange at {self.base_url} failed {self.attempts} times: {cause}"
            ) from exc
        if len(acks) != len(documents):
            raise ExchangeError(f"exchange answered {len(acks)} acks for {len(documents)} records")
        return acks

    def _post(self, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.attempts += 1
        try:
            response = self._http.post("/api/v1/records", json={"records": documents})
        except httpx.TransportError as exc:
            raise _Retriable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise _Retriable(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise ExchangeError(
                f"national exchange refused the batch: HTTP {response.status_code} {response.text[:200]}"
            )
        acks = response.json().get("acks")
        if not isinstance(acks, list):
            raise ExchangeError("national exchange answered without an 'acks' list")
        return acks

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
