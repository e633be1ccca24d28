"""Loopback ports: pick a free one, or say clearly that a chosen one is taken."""

from __future__ import annotations

import socket

from hub.errors import PortInUseError

__all__ = ["free_port", "require_free_port"]


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
