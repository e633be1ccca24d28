"""The population registry (CSDL quốc gia về dân cư stand-in): SQL tables and an in-memory view."""

from hub.registry.model import RegistryCitizen
from hub.registry.snapshot import RegistrySnapshot
from hub.registry.store import RegistryStore

__all__ = ["RegistryCitizen", "RegistrySnapshot", "RegistryStore"]
