"""An in-memory view of the registry, indexed for reconciliation's hot path.

The reconciler holds the whole province (~2.7 M citizens), so the view is kept lean: one
:class:`RegistryCitizen` tuple per citizen, both indexes pointing at it, and equal field values
(names, residence codes, dates) shared as one object (see :func:`shared_citizens`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any

from hub.registry.model import RegistryCitizen

__all__ = ["RegistrySnapshot", "shared_citizens"]


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


def _day(value: Any) -> date:
    return date.fromisoformat(value) if isinstance(value, str) else value


def shared_citizens(rows: Iterable[Sequence[Any]]) -> Iterator[RegistryCitizen]:
    """Citizens from database rows (columns in :class:`RegistryCitizen` order, dates as date or
    ISO text), with equal names, residence codes and dates shared as one object each.

    A province has a few tens of thousands of distinct names, ~100 communes and ~33,000 birth
    days among millions of citizens: sharing them saves about 200 bytes per citizen.
    """
    texts: dict[str | None, str | None] = {None: None}
    days: dict[Any, date] = {}
    for cid, legacy, name, born, gender, district, commune, died in rows:
        birth = days.get(born)
        if birth is None:
            birth = days[born] = _day(born)
        death = None
        if died is not None:
            death = days.get(died)
            if death is None:
                death = days[died] = _day(died)
        yield RegistryCitizen(
            cid,
            legacy,
            texts.setdefault(name, name),  # type: ignore[arg-type]
            birth,
            texts.setdefault(gender, gender),  # type: ignore[arg-type]
            texts.setdefault(district, district),
            texts.setdefault(commune, commune),
            death,
        )
