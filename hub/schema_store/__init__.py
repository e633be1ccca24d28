"""Schemas registered with the hub, stored in SQL: subjects, versions, global ids, compatibility."""

from hub.schema_store.compatibility import LEVELS, Compatibility, check_compatibility
from hub.schema_store.store import RegisteredSchema, SchemaStore

__all__ = ["LEVELS", "Compatibility", "RegisteredSchema", "SchemaStore", "check_compatibility"]
