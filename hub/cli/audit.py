"""``hub audit``: the auditors' checks of the archive, without a broker or a database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hub.cli.console import ArchiveDir

if TYPE_CHECKING:
    from hub.settings import Settings
    from hub.stages.indicators.store import DossierStore

__all__ = ["audit_app"]

audit_app = typer.Typer(
    help="Check the archive of every hub topic (hash-chained Avro segments), stand-alone.",
    no_args_is_help=True,
)


@audit_app.command("verify")
def verify(
    directory: ArchiveDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdict as one JSON object.")] = False,
) -> None:
    """Recompute every digest and link of the archive: each record's digest covers the one
    before it, each segment's manifest covers its file and the manifest before it.

    Prints OK with the counts, or the first broken file and record and what is wrong.
    Exit status: 0 verified, 1 altered or incomplete, 2 not an archive.
    """
    import sys

    from hub.archive.verify import dumps_verdict
    from hub.archive.verify import verify as verify_archive
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
        plural = "" if verdict.segments == 1 else "s"
        print(
            f"OK {where}: {verdict.segments:,} sealed segment{plural}, {verdict.records:,} records, "
            f"{verdict.bytes:,} bytes, every digest and link verified{opened}"
        )
    else:
        print(f"BROKEN {where}: {verdict.where}: {verdict.problem}")
    raise typer.Exit(0 if verdict.ok else 1)


@audit_app.command("trace")
def trace(
    record_id: Annotated[str, typer.Argument(help="The record id, as the agency published it.")],
    directory: Annotated[
        Path | None,
        typer.Option(
            "--archive-dir",
            help="The archive's directory (default: HUB_ARCHIVE_DIR, or HUB_DATA_DIR/archive).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the trace as one JSON object.")] = False,
) -> None:
    """A record's whole life, from the archive: received from which agency and when, the
    reconciliation's outcome and reason (or why it was refused), the indicators it counted in,
    when it was forwarded and what the national exchange answered (or a dead letter's reason).

    The indicators come from the hub's database when it is there (HUB_DATABASE_URL), else from
    the archived record by the indicators' rules. Exit status: 0 found, 1 not in the archive,
    2 no archive.
    """
    import json

    from hub.archive.reader import schema_texts
    from hub.audit.trace import lines
    from hub.audit.trace import trace as trace_record
    from hub.avro.wire import AvroCodec
    from hub.cli.console import err
    from hub.errors import ArchiveError
    from hub.province import load_province
    from hub.settings import get_settings

    settings = get_settings()
    where = directory or settings.resolved_archive_dir
    try:
        codec = AvroCodec(schema_texts(where).get, settings.max_record_bytes)
        found = trace_record(where, record_id, codec, load_province(settings.province_code), _store(settings))
    except ArchiveError as exc:
        err.print(f"hub audit trace: error: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if not found.found:
        err.print(
            f"record {record_id} is not in the archive {where} ({found.searched:,} records searched)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if as_json:
        print(json.dumps(found.as_json(), ensure_ascii=False))
    else:
        print("\n".join(lines(found)))


def _store(settings: Settings) -> DossierStore | None:
    """The indicators' store, if the hub's database is there to read (never created here)."""
    from hub.db import connect
    from hub.errors import HubError
    from hub.stages.indicators.store import DossierStore

    url = settings.resolved_database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None
    try:
        store = DossierStore(connect(url))
        store.count()
    except HubError:
        return None
    return store
