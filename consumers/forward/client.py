"""The national exchange's HTTP API, as the forwarder calls it.

Each agency authenticates with its own OAuth2 client credentials and may submit only its own
records, so a batch is split by agency, and into requests of at most ``request_size``
documents; up to ``concurrency`` requests are in flight at once. A request that fails for a
transient reason (a transport error, a timeout, 429 or 5xx) is tried again after an
exponential backoff with jitter, or after the exchange's ``Retry-After`` when it says one; a
circuit breaker stops calling an exchange that keeps failing (retries by tenacity). What the
exchange refuses for good (403, other 4xx, or a document it rejects) comes back as a
``REJECTED`` acknowledgement with a reason, for the dead-letter topic; only an exchange that
cannot be reached raises.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, cast

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from consumers.forward.breaker import CircuitBreaker, CircuitState
from consumers.forward.credentials import Credential
from hub.errors import ExchangeError
from hub.metrics import HubMetrics

__all__ = ["SUBMIT_PATH", "TOKEN_PATH", "ExchangeClient", "Submission"]

SUBMIT_PATH = "/api/v1/dossiers/sync"
TOKEN_PATH = "/oauth/token"
_MAX_RETRY_AFTER = 60.0
Ack = dict[str, Any]


class _Transient(Exception):
    """A failure worth another attempt; ``retry_after`` is the exchange's own advice."""

    def __init__(self, why: str, retry_after: float | None = None, counts_against: bool = True) -> None:
        super().__init__(why)
        self.retry_after = retry_after
        self.counts_against = counts_against  # against the circuit breaker (429 does not: the exchange is up)


class _CircuitOpen(Exception):
    """The circuit breaker let no call through."""


def _retry_after_of(state: RetryCallState) -> float | None:
    failure = state.outcome.exception() if state.outcome else None
    return failure.retry_after if isinstance(failure, _Transient) else None


class Submission:
    """Documents on their way to the exchange: their requests in flight or queued."""

    def __init__(
        self, size: int, refused: dict[int, Ack], requests: list[tuple[list[int], Future[list[Ack]]]]
    ) -> None:
        self._size = size
        self._refused = refused
        self._requests = requests

    def result(self) -> list[Ack]:
        """An acknowledgement for each document, in order, once every request is answered; if one
        could not be, :class:`ExchangeError` after the others have finished too."""
        wait([future for _, future in self._requests])
        acks: list[Ack | None] = [None] * self._size
        for i, ack in self._refused.items():
            acks[i] = ack
        for rows, future in self._requests:
            for i, ack in zip(rows, future.result(), strict=True):  # re-raises the request's failure
                acks[i] = ack
        return cast(list[Ack], acks)


@dataclass
class _Token:
    value: str
    expires_at: float


class ExchangeClient:
    """Sends documents to the exchange on behalf of their agencies; thread-safe; a context manager."""

    def __init__(
        self,
        base_url: str,
        credentials: Mapping[str, Credential],
        *,
        timeout: float = 10.0,
        max_attempts: int = 5,
        max_wait: float = 5.0,
        request_size: int = 500,
        concurrency: int = 4,
        transport: httpx.BaseTransport | None = None,
        breaker: CircuitBreaker | None = None,
        metrics: HubMetrics | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = dict(credentials)
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.request_size = request_size
        self.breaker = breaker or CircuitBreaker()
        self.metrics = metrics or HubMetrics()
        self.sleep, self.clock = sleep, clock
        limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency * 2)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport, limits=limits)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="forward-http")
        self._tokens: dict[str, _Token] = {}
        self._token_lock = threading.Lock()
        self._random = random.Random()

    # --- at start -----------------------------------------------------------------------------

    def check(self) -> None:
        """Reach the exchange and get every agency a token: a one-line error now, not a retry loop later."""
        try:
            response = self._http.get("/health")
        except httpx.HTTPError as exc:
            raise ExchangeError(
                f"national exchange at {self.base_url} is not reachable: {_why(exc)}"
            ) from exc
        if response.status_code >= 500:
            raise ExchangeError(
                f"national exchange at {self.base_url} is not healthy: HTTP {response.status_code}"
            )
        for agency in self.credentials:
            self._token(agency, fresh=True)

    # --- sending ------------------------------------------------------------------------------

    def send(self, documents: Sequence[dict[str, Any]]) -> list[Ack]:
        """An acknowledgement for each document, in order (``attempts`` says how many HTTP calls its
        request took); :class:`ExchangeError` when the exchange cannot be reached."""
        return self.submit(documents).result()

    def submit(self, documents: Sequence[dict[str, Any]]) -> Submission:
        """Start sending ``documents`` (their requests queue for the ``concurrency`` senders) and
        return at once; :meth:`Submission.result` waits for their acknowledgements, as :meth:`send`."""
        refused: dict[int, Ack] = {}
        by_agency: dict[str, list[int]] = {}
        for i, document in enumerate(documents):
            agency = str(document.get("agency") or "")
            if agency not in self.credentials:
                refused[i] = _refused(
                    document, "NO_CREDENTIALS", f"the hub holds no exchange credentials for agency {agency!r}"
                )
            else:
                by_agency.setdefault(agency, []).append(i)
        requests: list[tuple[list[int], Future[list[Ack]]]] = []
        for agency, rows in by_agency.items():
            for start in range(0, len(rows), self.request_size):
                part = rows[start : start + self.request_size]
                sent = [documents[i] for i in part]
                requests.append((part, self._pool.submit(self._request, agency, sent)))
        return Submission(len(documents), refused, requests)

    def _request(self, agency: str, documents: list[dict[str, Any]]) -> list[Ack]:
        """One request, tried (tenacity) until it is answered, ``max_attempts`` transient failures
        went by, or the circuit opened."""
        attempts = 0

        def attempt() -> list[Ack]:
            nonlocal attempts
            attempts += 1
            if not self.breaker.allow():
                raise _CircuitOpen()
            try:
                acks = self._post(agency, documents)
            except _Transient as failure:
                if failure.counts_against:
                    self.breaker.failure()
                else:
                    self.breaker.success()
                self._circuit()
                raise
            self.breaker.success()
            self._circuit()
            for ack in acks:
                ack["attempts"] = attempts
            return acks

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            retry=retry_if_exception(
                lambda exc: isinstance(exc, _Transient) and self.breaker.state is CircuitState.CLOSED
            ),
            wait=lambda state: self._wait(state.attempt_number, _retry_after_of(state)),
            sleep=self.sleep,
            before_sleep=lambda state: self.metrics.exchange_retries.inc(),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except (_Transient, _CircuitOpen) as last:
            self._circuit()
            if self.breaker.state is not CircuitState.CLOSED:
                cause = "" if isinstance(last, _CircuitOpen) else f" (last: {last})"
                raise ExchangeError(
                    f"national exchange at {self.base_url} keeps failing: circuit open, next probe in "
                    f"{self.breaker.retry_in():.1f} s{cause}"
                ) from last
            raise ExchangeError(
                f"national exchange at {self.base_url} failed {attempts} times: {last}"
            ) from last

    def _post(self, agency: str, documents: list[dict[str, Any]]) -> list[Ack]:
        headers = {"Authorization": f"Bearer {self._token(agency)}", "Content-Type": "application/json"}
        try:
            body = orjson.dumps({"records": documents})  # dates and times as ISO 8601, 5× json's speed
            response = self._http.post(SUBMIT_PATH, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            self.metrics.exchange_requests.labels("timeout").inc()
            raise _Transient(f"timed out: {_why(exc)}") from exc
        except httpx.TransportError as exc:
            self.metrics.exchange_requests.labels("transport_error").inc()
            raise _Transient(_why(exc)) from exc
        status = response.status_code
        self.metrics.exchange_requests.labels(str(status)).inc()
        if status == 200:
            return self._acks(response, documents)
        if status == 401:  # expired or revoked: a fresh token, and the attempt counts as transient
            self._forget(agency)
            raise _Transient("HTTP 401 (token refused; fetching a new one)", counts_against=False)
        if status == 429 or status >= 500:
            raise _Transient(f"HTTP {status}", _retry_after(response), counts_against=status != 429)
        reason = "INSUFFICIENT_SCOPE" if status == 403 else f"HTTP_{status}"
        detail = _error_text(response)
        return [_refused(document, reason, detail) for document in documents]

    def _acks(self, response: httpx.Response, documents: list[dict[str, Any]]) -> list[Ack]:
        try:
            acks = orjson.loads(response.content)["acks"]
        except (ValueError, KeyError, TypeError) as exc:
            raise _Transient("the exchange answered 200 without an 'acks' list") from exc
        if not isinstance(acks, list) or len(acks) != len(documents):
            answered = len(acks) if isinstance(acks, list) else "no"
            raise _Transient(f"the exchange answered {answered} acks for {len(documents)} records")
        return [dict(ack) for ack in acks]

    def _wait(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter, or the exchange's Retry-After if longer."""
        backoff = self._random.uniform(0, min(self.max_wait, 0.1 * 2**attempt))
        return max(backoff, min(retry_after or 0.0, _MAX_RETRY_AFTER))

    def _circuit(self) -> None:
        self.metrics.exchange_circuit_open.set(0 if self.breaker.state is CircuitState.CLOSED else 1)

    # --- tokens -------------------------------------------------------------------------------

    def _token(self, agency: str, fresh: bool = False) -> str:
        with self._token_lock:
            token = self._tokens.get(agency)
            if token is not None and not fresh and token.expires_at > self.clock():
                return token.value
            token = self._tokens[agency] = self._fetch_token(agency)
            return token.value

    def _forget(self, agency: str) -> None:
        with self._token_lock:
            self._tokens.pop(agency, None)

    def _fetch_token(self, agency: str) -> _Token:
        credential = self.credentials[agency]
        form = {"grant_type": "client_credentials"}
        auth = (credential.client_id, credential.client_secret.get_secret_value())
        try:
            response = self._http.post(TOKEN_PATH, data=form, auth=auth)
        except httpx.HTTPError as exc:
            raise ExchangeError(
                f"national exchange at {self.base_url}: no token for {agency}: {_why(exc)}"
            ) from exc
        if response.status_code in (400, 401, 403):
            raise ExchangeError(
                f"national exchange at {self.base_url} refused the credentials of agency {agency} "
                f"(client {credential.client_id}): {_error_text(response)}"
            )
        if response.status_code != 200:
            raise ExchangeError(
                f"national exchange at {self.base_url}: no token for {agency}: HTTP {response.status_code}"
            )
        try:
            body = response.json()
            value, lifetime = str(body["access_token"]), float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError) as exc:
            raise ExchangeError(
                f"national exchange at {self.base_url} answered a token request oddly"
            ) from exc
        return _Token(value, self.clock() + max(lifetime - 30.0, lifetime / 2))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    def __enter__(self) -> ExchangeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _refused(document: dict[str, Any], reason: str, detail: str) -> Ack:
    return {
        "record_id": document.get("record_id"),
        "status": "REJECTED",
        "reason": reason,
        "detail": detail,
        "attempts": 1,
    }


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _error_text(response: httpx.Response) -> str:
    """The exchange's error code and description, never the request (which may hold secrets)."""
    try:
        body = response.json()
        return (
            " ".join(str(body[k]) for k in ("error", "error_description", "detail") if body.get(k))
            or f"HTTP {response.status_code}"
        )
    except (ValueError, AttributeError, TypeError):
        return f"HTTP {response.status_code}"


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
