"""``hub archive restore``: the archive put back on a broker, the consumer groups where they were."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.console import ArchiveDir

if TYPE_CHECKING:
    from hub.kafka.clients import KafkaClients

__all__ = ["archive_app", "restore_into"]

archive_app = typer.Typer(help="The archive of every hub topic, put back on a broker.", no_args_is_help=True)


@archive_app.command("restore")
def restore(
    directory: ArchiveDir = None,
    incarnation: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Which of the broker's lives to restore (default: the latest, as the broker was last).",
        ),
    ] = None,
) -> None:
    """Re-publish the archived records into an empty broker (HUB_KAFKA_BOOTSTRAP), each into its
    topic and partition at its offset, and commit every consumer group where it had got to, so
    the hub carries on without reprocessing anything.

    For the embedded broker, which keeps nothing when it stops: `hub run --restore` or
    `hub broker --restore` do this as they start. A partition that already holds records is
    refused. Exit status: 0 restored, 1 the broker refused, 2 no archive or bad input.
    """
    from hub.cli.console import broker_clients, err
    from hub.errors import ArchiveError
    from hub.settings import get_settings

    settings = get_settings()
    clients = broker_clients(
        settings,
        "restore needs a broker to restore into (the embedded one: hub run --restore, hub broker --restore)",
    )
    try:
        restore_into(clients, directory or settings.resolved_archive_dir, incarnation)
    except ArchiveError as exc:
        err.print(f"hub archive restore: error: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def restore_into(clients: KafkaClients, directory: Path, incarnation: int | None = None) -> None:
    """Restore the archive in ``directory`` into the broker of ``clients``, with progress and a
    summary on standard error."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from hub.audit.restore import restore
    from hub.cli.console import err

    with Progress(
        TextColumn("restoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("restore", total=None)
        done = restore(
            clients, directory, incarnation=incarnation, progress=lambda n: bar.update(task, completed=n)
        )
    topics = ", ".join(f"{name} {n:,}" for name, n in sorted(done.records.items()))
    groups = ", ".join(
        f"{group} at {sum(offsets.values()):,}" for group, offsets in sorted(done.groups.items())
    )
    err.print(
        f"restored {done.total:,} records from {directory} (incarnation {done.incarnation}): {topics}\n"
        f"  consumer groups committed where they had got to (offsets summed): {groups}"
        + (
            f"\n  {done.moved:,} records could not keep their offset; the archive goes on as incarnation "
            f"{done.incarnation + 1}"
            if done.moved
            else ""
        ),
        highlight=False,
        soft_wrap=True,
    )
