"""The registry as reconciliation sees it: an in-memory snapshot kept current while it runs.

A birth, a death or a correction written to the registry (``hub registry birth|death|correct``,
or any writer using :meth:`hub.registry.RegistryStore.apply`) is in the change history; every
``interval`` seconds the stage reads the changes after its snapshot and applies them, so
records processed a few seconds later see them, with no restart. A bulk load means a fresh
snapshot.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import time
from collections.abc import Callable

from hub.errors import DatabaseError
from hub.metrics import HubMetrics
from hub.registry import RegistrySnapshot, RegistryStore

__all__ = ["LiveRegistry"]

_log = logging.getLogger("hub.registry")


class LiveRegistry:
    """Callable returning the current :class:`RegistrySnapshot`; polls for changes when due."""

    def __init__(
        self,
        store: RegistryStore,
        interval: float = 2.0,
        metrics: HubMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.interval = interval
        self.metrics = metrics or HubMetrics()
        self.clock = clock
        self.snapshot = self._load()
        self._due = clock() + interval

    def __call__(self) -> RegistrySnapshot:
        now = self.clock()
        if now >= self._due:
            self._due = now + self.interval
            self.refresh()
        return self.snapshot

    def refresh(self) -> int:
        """Apply the changes made since the snapshot; returns how many citizens changed."""
        try:
            changes = self.store.changes_since(self.snapshot.change_id)
            if changes.reload:
                _log.info("registry reloaded in bulk: taking a fresh snapshot")
                self.snapshot = self._load()
                return len(self.snapshot)
        except DatabaseError as exc:  # keep reconciling against what we have; try again later
            _log.warning("cannot read registry changes, keeping the snapshot: %s", exc)
            return 0
        if changes.citizens:
            self.snapshot.update(changes.citizens)
            self.metrics.registry_citizens.set(len(self.snapshot))
            _log.info(
                "registry: %d citizens changed (up to change %d)", len(changes.citizens), changes.change_id
            )
        self.snapshot.change_id = changes.change_id
        self.metrics.registry_synced.set_to_current_time()
        return len(changes.citizens)

    def _load(self) -> RegistrySnapshot:
        snapshot = self.store.snapshot()
        # Millions of long-lived registry rows: keep the cyclic garbage collector from walking
        # them again and again (it would cost the stage a pause per full collection).
        gc.freeze()
        _release_free_memory()
        self.metrics.registry_citizens.set(len(snapshot))
        self.metrics.registry_synced.set_to_current_time()
        return snapshot


def _release_free_memory() -> None:
    """Hand the memory freed while the snapshot was built back to the system.

    Building it allocates and frees millions of small objects (rows, strings); glibc keeps the
    freed space in its heap unless asked. Measured on the 2.7 M registry: 777 MiB resident
    before, 416 MiB after. Elsewhere than glibc this does nothing.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
