"""Run the schema registry with uvicorn in a background thread."""

from __future__ import annotations

from hub.net import BackgroundServer
from hub.schema_registry.app import create_app
from hub.schema_store import SchemaStore

__all__ = ["SchemaRegistryServer"]


class SchemaRegistryServer(BackgroundServer):
    """The registry over ``store`` on ``host:port`` (0 picks a free port), as a context manager."""

    def __init__(self, store: SchemaStore, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(create_app(store), "schema registry", host, port)
