"""Run the schema registry with uvicorn in a background thread."""

from __future__ import annotations

import threading
import time

import uvicorn

from hub.errors import PortInUseError
from hub.net import require_free_port
from hub.schema_registry.app import create_app
from hub.schema_store import SchemaStore

__all__ = ["SchemaRegistryServer"]


class SchemaRegistryServer:
    """The registry over ``store`` on ``host:port`` (0 picks a free port), as a context manager."""

    def __init__(self, store: SchemaStore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = require_free_port(host, port, "schema registry")
        config = uvicorn.Config(
            create_app(store),
            host=host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="schema-registry", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> SchemaRegistryServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise PortInUseError(f"schema registry could not listen on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
