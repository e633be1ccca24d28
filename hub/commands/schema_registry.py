"""``hub schema-registry``: serve the Confluent-compatible schema registry (being written)."""

from __future__ import annotations


def schema_registry() -> None:
    """Serve the schema registry (not written yet)."""
    raise NotImplementedError
