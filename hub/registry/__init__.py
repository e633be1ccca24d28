"""The population registry (CSDL quốc gia về dân cư stand-in): SQL tables and an in-memory view."""

from hub.registry.changes import ChangeKind, RegistryChange, RegistryChanges
from hub.registry.model import RegistryCitizen
from hub.registry.snapshot import RegistrySnapshot
from hub.registry.store import LastChange, RegistryStats, RegistryStore

__all__ = [
    "ChangeKind",
    "LastChange",
    "RegistryChange",
    "RegistryChanges",
    "RegistryCitizen",
    "RegistrySnapshot",
    "RegistryStats",
    "RegistryStore",
]
