"""``hub replay``: the auditor's reading of a topic, live or from the archive."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from hub.archive.chain import ArchivedRecord
    from hub.audit.replay import Span
    from hub.avro.wire import AvroCodec
    from hub.kafka.clients import KafkaClients
    from hub.settings import Settings

__all__ = ["replay"]


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"


def replay(
    topic: Annotated[str, typer.Argument(help="Topic name, e.g. lgsp.reconciled (see `hub topics`).")],
    archive: Annotated[
        bool,
        typer.Option(
            "--archive",
            help="Read the archive (HUB_ARCHIVE_DIR, or --archive-dir) instead of the live topic: "
            "no broker, no database needed.",
        ),
    ] = False,
    archive_dir: Annotated[
        Path | None, typer.Option(help="The archive's directory (implies --archive).", show_default=False)
    ] = None,
    from_offset: Annotated[
        int | None, typer.Option(min=0, help="From this offset in every partition.")
    ] = None,
    to_offset: Annotated[
        int | None, typer.Option(min=0, help="Up to (not including) this offset in every partition.")
    ] = None,
    from_time: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="From this time: ISO 8601, e.g. 2026-11-01T00:00 (Vietnam time unless it has an offset).",
        ),
    ] = None,
    to_time: Annotated[str | None, typer.Option("--to", help="Up to (not including) this time.")] = None,
    agency: Annotated[str | None, typer.Option(help="Only this agency's records (its code).")] = None,
    department: Annotated[
        str | None, typer.Option(help="Only this department's: civil_status, land, health, social_insurance.")
    ] = None,
    citizen: Annotated[
        str | None, typer.Option(help="Only records of this citizen number (12 digits, or a legacy 9).")
    ] = None,
    record_id: Annotated[str | None, typer.Option(help="Only the records with this record id.")] = None,
    output: Annotated[
        Format, typer.Option("--format", help="JSON lines, or CSV with a header line.")
    ] = Format.JSON,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many records.")] = None,
    to_topic: Annotated[
        str | None,
        typer.Option(
            help="Re-publish the records (key, value, headers, timestamp, partition unchanged) into this "
            "topic, created if absent, for re-processing; prints nothing else."
        ),
    ] = None,
    incarnation: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Archive only: the broker incarnation to read (offsets start again at 0 with each "
            "fresh broker). Default: the latest for an offset range, all for a time range.",
        ),
    ] = None,
) -> None:
    """Print a topic's records, decoded, as JSON lines or CSV: from the live topic (needs a
    running broker, HUB_KAFKA_BOOTSTRAP) or from the archive (--archive).

    Select by offset range (--from-offset/--to-offset) or time range (--from/--to), filter by
    agency, department, citizen number or record id. A count, the range and the filters are
    printed on standard error. Exit status: 0 records found, 1 none (the message says whether
    the range held nothing or the filters matched nothing), 2 bad input.
    """
    options = dict(locals())
    from hub.cli.console import err
    from hub.errors import ArchiveError, ConfigError, TopicError

    try:
        _replay(**options)
    except (ArchiveError, ConfigError, TopicError) as exc:  # bad input: exit 2, as the help says
        err.print(f"hub replay: error: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _replay(
    topic: str,
    archive: bool,
    archive_dir: Path | None,
    from_offset: int | None,
    to_offset: int | None,
    from_time: str | None,
    to_time: str | None,
    agency: str | None,
    department: str | None,
    citizen: str | None,
    record_id: str | None,
    output: Format,
    limit: int | None,
    to_topic: str | None,
    incarnation: int | None,
) -> None:
    import json
    import sys

    from hub.archive.reader import schema_texts
    from hub.audit.records import CSV_COLUMNS, Filters, csv_line, parse_time, to_json
    from hub.audit.replay import Span, from_archive, from_topic, select
    from hub.avro.wire import AvroCodec
    from hub.cli.console import err
    from hub.errors import ConfigError
    from hub.settings import get_settings
    from hub.topics import topic_by_name

    settings = get_settings()
    declared = topic_by_name(topic)
    span = Span(
        from_offset,
        to_offset,
        parse_time(from_time) if from_time else None,
        parse_time(to_time) if to_time else None,
    )
    if span.by_offset and (span.from_ms is not None or span.to_ms is not None):
        raise ConfigError("give an offset range or a time range, not both")
    filters = Filters(agency, department, citizen, record_id)
    read = 0

    def counted(records: Iterable[ArchivedRecord]) -> Iterator[ArchivedRecord]:
        nonlocal read
        for record in records:
            read += 1
            yield record

    if archive or archive_dir is not None:
        where = (archive_dir or settings.resolved_archive_dir).expanduser()
        texts = schema_texts(where)
        codec = AvroCodec(texts.get, settings.max_record_bytes)
        records = from_archive(where, declared.name, span, incarnation)
        source = f"the archive {where}"
    else:
        if incarnation is not None:
            raise ConfigError("--incarnation is for the archive: add --archive")
        clients, codec = _live(settings)
        records = from_topic(clients, declared.name, span)
        source = clients.bootstrap
    rows = select(counted(records), codec, filters, limit)
    if to_topic is not None:
        from hub.audit.republish import republish

        if to_topic == declared.name and not (archive or archive_dir is not None):
            raise ConfigError("re-publishing a topic into itself would read it forever: name another topic")
        clients, _ = _live(settings)
        printed = republish(clients, rows, to_topic, declared.partitions)
        what = f"re-published into {to_topic}"
    else:
        printed = 0
        write = sys.stdout.write
        if output is Format.CSV:
            write(",".join(CSV_COLUMNS) + "\n")
        for row in rows:
            if output is Format.CSV:
                write(csv_line(row))
            else:
                write(json.dumps(to_json(row), ensure_ascii=False) + "\n")
            printed += 1
        sys.stdout.flush()
        what = "printed"
    where_said = _describe(span, from_time, to_time)
    if printed:
        records_of = f"{printed:,} record{'' if printed == 1 else 's'} of {declared.name}"
        err.print(
            f"replay: {records_of} {what}, from {source}{where_said}"
            + (f"; {filters.describe()}" if filters.any else ""),
            highlight=False,
            soft_wrap=True,
        )
        return
    if read == 0:
        err.print(
            f"replay: no records of {declared.name} in {source}{where_said}", highlight=False, soft_wrap=True
        )
    else:
        err.print(
            f"replay: none of the {read:,} records of {declared.name}{where_said} matches "
            f"{filters.describe()}",
            highlight=False,
            soft_wrap=True,
        )
    raise typer.Exit(1)


def _describe(span: Span, from_time: str | None, to_time: str | None) -> str:
    parts = []
    if from_time or to_time:
        parts.append(f"between {from_time or 'the start'} and {to_time or 'the end'}")
    if span.by_offset:
        parts.append(f"offsets {span.from_offset or 0}–{'' if span.to_offset is None else span.to_offset}")
    return (" " + " ".join(parts)) if parts else ""


def _live(settings: Settings) -> tuple[KafkaClients, AvroCodec]:
    """The broker's clients (HUB_KAFKA_BOOTSTRAP) and a codec of the hub's registered schemas."""
    from hub.avro.wire import AvroCodec
    from hub.cli.console import broker_clients
    from hub.db import connect
    from hub.schema_store import SchemaStore

    clients = broker_clients(
        settings, "reading a live topic needs a running broker (or read the archive: --archive)"
    )
    codec = AvroCodec(
        SchemaStore(connect(settings.resolved_database_url)).schema_text, settings.max_record_bytes
    )
    return clients, codec
