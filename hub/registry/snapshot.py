"""An in-memory view of the registry, indexed for reconciliation's hot path.

The reconciler holds the whole province (~2.7 M citizens), so the view is kept lean: one
:class:`RegistryCitizen` tuple per citizen, both indexes pointing at it, and equal field values
(names, residence codes, dates) shared as one object (see :meth:`RegistrySnapshot.from_rows`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

from hub.registry.model import RegistryCitizen

__all__ = ["RegistrySnapshot"]


class RegistrySnapshot:
    """Citizens by 12-digit number and by legacy 9-digit number.

    ``change_id`` is the last registry change the view includes; poll
    ``RegistryStore.changes_since(snapshot.change_id)`` and :meth:`update` to keep it current.
    """

    def __init__(self, citizens: Iterable[RegistryCitizen] = (), change_id: int = 0) -> None:
        self._by_id: dict[str, RegistryCitizen] = {}
        self._by_legacy: dict[str, RegistryCitizen] = {}
        self.change_id = change_id
        self.update(citizens)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[Any]], change_id: int = 0) -> RegistrySnapshot:
        """A view of database rows: columns in :class:`RegistryCitizen` order, dates as ``date``
        or ISO text, numbers and legacy numbers distinct (as the registry's table holds them).

        Equal names, residence codes and dates become one shared object each: a province has a
        few tens of thousands of distinct names, ~100 communes and ~33,000 days among millions
        of citizens, so sharing saves about 300 bytes per citizen. The cyclic garbage collector
        is paused meanwhile: these tuples hold no cycles, and scanning millions of them while
        they are created would double the time.
        """
        snapshot = cls(change_id=change_id)
        by_id, by_legacy = snapshot._by_id, snapshot._by_legacy
        share = {None: None}.setdefault
        days: dict[Any, date] = {}
        new = tuple.__new__  # RegistryCitizen(...) without its Python-level __new__
        collecting = gc.isenabled()
        gc.disable()
        try:
            for cid, legacy, name, born, gender, district, commune, died in rows:
                birth = days.get(born)
                if birth is None:
                    birth = days[born] = _day(born)
                death = None if died is None else days.get(died)
                if died is not None and death is None:
                    death = days[died] = _day(died)
                row = (
                    cid,
                    legacy,
                    share(name, name),
                    birth,
                    gender,
                    share(district, district),
                    share(commune, commune),
                    death,
                )
                by_id[cid] = citizen = new(RegistryCitizen, row)
                if legacy:
                    by_legacy[legacy] = citizen
        finally:
            if collecting:
                gc.enable()
        return snapshot

    def update(self, citizens: Iterable[RegistryCitizen]) -> None:
        """Add or replace citizens (a birth, a death, a correction)."""
        by_id, by_legacy = self._by_id, self._by_legacy
        for citizen in citizens:
            old = by_id.get(citizen.citizen_id)
            stale = None if old is None else old.legacy_id
            # Drop the old legacy number, unless another citizen has taken it over meanwhile.
            if stale and stale != citizen.legacy_id and by_legacy.get(stale) is old:
                del by_legacy[stale]
            by_id[citizen.citizen_id] = citizen
            if citizen.legacy_id:
                by_legacy[citizen.legacy_id] = citizen

    def by_id(self, citizen_id: str) -> RegistryCitizen | None:
        return self._by_id.get(citizen_id)

    def by_legacy(self, legacy_id: str) -> RegistryCitizen | None:
        return self._by_legacy.get(legacy_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[RegistryCitizen]:
        """Every citizen in the view, in no particular order."""
        return iter(self._by_id.values())


def _day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value
