"""Loopback ports: pick a free one, or say clearly that a chosen one is taken."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

from hub.errors import PortInUseError

__all__ = ["BackgroundServer", "free_port", "require_free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def require_free_port(host: str, port: int, what: str) -> int:
    """``port`` if it is free on ``host`` (0 picks one); :class:`PortInUseError` if taken."""
    if port == 0:
        return free_port(host)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PortInUseError(f"{what}: port {host}:{port} is in use ({exc.strerror})") from exc
    return port


class BackgroundServer:
    """An ASGI app served by uvicorn in a daemon thread, as a context manager.

    ``port`` 0 picks a free one; a taken port is a :class:`PortInUseError` naming ``what``.
    """

    def __init__(self, app: Any, what: str, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self.what = what
        self.host = host
        self.port = require_free_port(host, port, what)
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", access_log=False, lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=what, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise PortInUseError(f"{self.what} could not listen on {self.url}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
