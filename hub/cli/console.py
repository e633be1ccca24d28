"""What every command shares: the two consoles, and how Ctrl-C and SIGTERM reach long work.

Standard output carries what a user copies or pipes (addresses, JSON lines, tables); standard
error carries progress and messages. When a stream is not a terminal, rich prints plain text
and never cuts a line to a width: identifiers (topic names, paths) are printed whole.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["ArchiveDir", "broker_clients", "err", "out", "print_table", "signals_set", "wait_for_signal"]

# The archive's directory as a command's argument; unset: the settings say where.
ArchiveDir = Annotated[
    Path | None,
    typer.Argument(
        help="The archive's directory (default: HUB_ARCHIVE_DIR, or HUB_DATA_DIR/archive).",
        show_default=False,
    ),
]

if TYPE_CHECKING:
    from hub.kafka.clients import KafkaClients
    from hub.settings import Settings

out = Console()
err = Console(stderr=True)


@contextmanager
def signals_set(event: threading.Event) -> Iterator[threading.Event]:
    """Within the block, Ctrl-C and SIGTERM set ``event`` instead of raising mid-call.

    librdkafka calls interrupted by KeyboardInterrupt fail with SystemError, so long work
    checks the event between records and stops cleanly.
    """
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: event.set())
    try:
        yield event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def wait_for_signal(stop: threading.Event | None = None) -> None:
    """Block until Ctrl-C, SIGTERM, or ``stop`` is set.

    SIGINT gets a handler of its own: a process started in the background of a non-interactive
    shell inherits SIGINT ignored, and would otherwise never hear Ctrl-C's signal.
    """
    event = stop or threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: event.set())
    try:
        while not event.wait(0.5):
            pass
    except KeyboardInterrupt:
        event.set()


def print_table(table: Table, console: Console | None = None, whole: Iterable[int] = ()) -> None:
    """Print ``table``: on a terminal as a table whose ``whole`` columns are never cut or wrapped;
    elsewhere (a pipe, a file) as plain tab-separated lines, title first, identifiers whole."""
    console = console or out
    if console.is_terminal:
        for i in whole:
            column = table.columns[i]
            widest = max((len(str(cell)) for cell in column._cells), default=0)
            column.no_wrap, column.min_width = True, max(widest, len(str(column.header)))
        console.print(table)
        return
    lines = [str(table.title)] if table.title else []
    lines.append("\t".join(str(c.header) for c in table.columns))
    for row in zip(*(c._cells for c in table.columns), strict=True):
        lines.append("\t".join(_plain(cell) for cell in row))
    if table.caption:
        lines.append(str(table.caption))
    console.file.write("\n".join(lines) + "\n")  # as is: rich would turn the tabs into spaces
    console.file.flush()


def _plain(cell: object) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def broker_clients(settings: Settings, needed_for: str) -> KafkaClients:
    """Clients of the broker in HUB_KAFKA_BOOTSTRAP, checked reachable; a :class:`HubError`
    saying what it is ``needed_for`` (and what else to do) when none is set."""
    from hub.errors import HubError
    from hub.kafka.clients import KafkaClients

    if not settings.kafka_bootstrap:
        raise HubError(f"{needed_for}: set HUB_KAFKA_BOOTSTRAP (e.g. to the address `hub broker` prints)")
    clients = KafkaClients(settings.kafka_client_config(settings.kafka_bootstrap))
    clients.check_reachable()
    return clients
