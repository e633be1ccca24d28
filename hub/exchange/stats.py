"""What a running exchange has answered: submissions by status code, documents by outcome."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

__all__ = ["ExchangeStats"]


class ExchangeStats:
    """Counts of ``POST /api/v1/dossiers/sync`` requests and of the documents they carried."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: Counter[int] = Counter()
        self._documents: Counter[str] = Counter()

    def answered(self, status: int, acks: Iterable[dict[str, Any]] = ()) -> None:
        """One submission answered ``status``, with ``acks`` if it was stored."""
        outcomes = Counter(ack["status"] for ack in acks)
        with self._lock:
            self._statuses[status] += 1
            self._documents.update(outcomes)

    @property
    def requests(self) -> int:
        return sum(self._statuses.values())

    @property
    def by_status(self) -> dict[int, int]:
        with self._lock:
            return dict(sorted(self._statuses.items()))

    @property
    def accepted(self) -> int:
        return self._documents["ACCEPTED"]

    @property
    def duplicate(self) -> int:
        return self._documents["DUPLICATE"]

    @property
    def rejected(self) -> int:
        return self._documents["REJECTED"]

    def to_json(self) -> dict[str, Any]:
        """As ``GET /api/v1/stats`` answers it."""
        with self._lock:
            statuses, documents = dict(self._statuses), dict(self._documents)
        return {
            "requests": sum(statuses.values()),
            "by_status": {str(code): count for code, count in sorted(statuses.items())},
            "documents": {
                "accepted": documents.get("ACCEPTED", 0),
                "duplicate": documents.get("DUPLICATE", 0),
                "rejected": documents.get("REJECTED", 0),
            },
        }
