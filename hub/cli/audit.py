"""``hub audit``: the auditors' checks of the archive, without a broker or a database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="Check the archive of every hub topic (hash-chained Avro segments), stand-alone.",
    no_args_is_help=True,
)


@audit_app.command("verify")
def verify(
    directory: Annotated[
        Path | None,
        typer.Argument(
            help="The archive's directory (default: HUB_ARCHIVE_DIR, or HUB_DATA_DIR/archive).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as one JSON object.")] = False,
) -> None:
    """Recompute every digest and link of the archive: each record's digest covers the one
    before it, each segment's manifest covers its file and the manifest before it.

    Prints OK with the counts, or the first broken file and record and what is wrong.
    Exit status: 0 verified, 1 altered or incomplete, 2 not an archive.
    """
    import sys

    from hub.archive.segments import dumps_verdict
    from hub.archive.segments import verify as verify_archive
    from hub.cli.console import err
    from hub.errors import ArchiveError
    from hub.settings import get_settings

    where = directory or get_settings().resolved_archive_dir
    try:
        verdict = verify_archive(where)
    except ArchiveError as exc:
        err.print(f"error: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(dumps_verdict(verdict).decode() + "\n")
    elif verdict.ok:
        opened = (
            f"; the open segment's {verdict.open_records:,} records follow on" if verdict.open_records else ""
        )
        print(
            f"OK {where}: {verdict.segments:,} sealed segments, {verdict.records:,} records, "
            f"{verdict.bytes:,} bytes, every digest and link verified{opened}"
        )
    else:
        print(f"BROKEN {where}: {verdict.where}: {verdict.problem}")
    raise typer.Exit(0 if verdict.ok else 1)
