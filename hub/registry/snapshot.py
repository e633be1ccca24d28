"""An in-memory view of the registry, indexed for reconciliation's hot path."""

from __future__ import annotations

from collections.abc import Iterable

from hub.registry.model import RegistryCitizen

__all__ = ["RegistrySnapshot"]


class RegistrySnapshot:
    """Citizens by 12-digit number and by legacy 9-digit number."""

    def __init__(self, citizens: Iterable[RegistryCitizen] = ()) -> None:
        self._by_id: dict[str, RegistryCitizen] = {}
        self._by_legacy: dict[str, str] = {}
        self.update(citizens)

    def update(self, citizens: Iterable[RegistryCitizen]) -> None:
        """Add or replace citizens (a birth, a death, a correction)."""
        for citizen in citizens:
            old = self._by_id.get(citizen.citizen_id)
            if old is not None and old.legacy_id and old.legacy_id != citizen.legacy_id:
                self._by_legacy.pop(old.legacy_id, None)
            self._by_id[citizen.citizen_id] = citizen
            if citizen.legacy_id:
                self._by_legacy[citizen.legacy_id] = citizen.citizen_id

    def by_id(self, citizen_id: str) -> RegistryCitizen | None:
        return self._by_id.get(citizen_id)

    def by_legacy(self, legacy_id: str) -> RegistryCitizen | None:
        citizen_id = self._by_legacy.get(legacy_id)
        return None if citizen_id is None else self._by_id.get(citizen_id)

    def __len__(self) -> int:
        return len(self._by_id)
