"""Schemas registered with the hub, stored in SQL: subjects, versions and global ids."""

from hub.schema_store.store import RegisteredSchema, SchemaStore

__all__ = ["RegisteredSchema", "SchemaStore"]
