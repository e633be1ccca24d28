"""``hub publish``: publish a department's CSV or JSON-lines export to its topic on a running hub."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hub.errors import BrokerError, ConfigError, HubError, InputError, Interrupted, RecordEncodeError
from hub.settings import Settings, get_settings
from hub.topics import DEPARTMENT_TOPICS, Department

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from hub.metrics import HubMetrics
    from hub.runtime import Runtime
    from producers.files import ExportFile, RejectFile
    from producers.publisher import DepartmentPublisher

__all__ = ["PublishTally", "publish"]

_PROGRESS_EVERY = 2000  # rows between progress-bar updates


@dataclass
class PublishTally:
    """What one run did with the rows of one file."""

    rows: int = 0
    accepted: int = 0  # sent to the broker (or, with --dry-run, valid)
    delivered: int | None = 0  # None: the broker did not acknowledge in time, count unknown
    failed: int = 0
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    interrupted_at: int | None = None  # line where Ctrl-C stopped the reading
    seconds: float = 0.0  # reading, converting, sending and the final flush: what rows/s is over
    startup: float = 0.0  # connecting to the hub before the first row, not in the rate


def publish(
    file: Annotated[
        Path, typer.Argument(help="The export: .csv (or .tsv), .jsonl or .ndjson.", show_default=False)
    ],
    department: Annotated[
        str,
        typer.Option(
            "--department", "-d", help="civil_status, land, health or social_insurance.", show_default=False
        ),
    ],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl. Default: from the file's extension.")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help='Read a column as a field: --map "Số CCCD=SoDinhDanh". Repeatable.'),
    ] = None,
    encoding: Annotated[
        str, typer.Option(help="The file's encoding: utf-8 (a BOM is fine), cp1258, utf-16, ...")
    ] = "utf-8",
    reject_file: Annotated[
        Path | None, typer.Option(help="Where rejected rows go. Default: FILE.rejects.csv next to FILE.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read, convert and validate every row; publish nothing.")
    ] = False,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Seconds to wait for the broker to acknowledge everything.")
    ] = 60.0,
) -> None:
    """Publish a department's export (CSV with a header row, or JSON lines).

    Columns match the department's Avro fields by name (SoDinhDanh, HoVaTen,
    MaHoSo, area_m2, ...) or dotted path (citizen.SoDinhDanh); --map renames
    the others. Dates: YYYY-MM-DD or dd/mm/yyyy; times without an offset are
    Vietnam time.

    Rows that cannot be records go to the reject file (line, reason, row);
    the rest are published. Needs a running hub: HUB_KAFKA_BOOTSTRAP set,
    e.g. to the address `hub broker` prints.

    Exit status: 0 when every good row was delivered (even with rejects),
    1 when some were not, 130 on Ctrl-C.
    """
    from hub.cli.console import err, out, signals_set
    from producers.files import ExportFile, RejectFile

    chosen = _department(department)
    settings = get_settings()
    if not dry_run and not settings.kafka_bootstrap:
        raise ConfigError(
            "hub publish needs a running hub: set HUB_KAFKA_BOOTSTRAP (e.g. to the address "
            "`hub broker` prints), or use --dry-run to only check the file"
        )
    export = ExportFile(file, chosen, file_format=file_format, mapping=mapping or (), encoding=encoding)
    export.check()
    rejects_path = reject_file or file.with_name(file.name + ".rejects.csv")
    started = time.monotonic()
    with RejectFile(rejects_path) as rejects, signals_set(threading.Event()) as interrupted:
        if dry_run:
            tally = _read(export, _validator(chosen), rejects, interrupted, err)
        else:
            tally = _publish_to_hub(settings, export, rejects, interrupted, err, timeout)
    tally.startup = max(time.monotonic() - started - tally.seconds, 0.0)
    out.print(_summary(tally, export, dry_run))
    _epilogue(out, tally, export, rejects_path)
    if tally.failed or tally.errors:
        why = f": {tally.errors[0]}" if tally.errors else ""
        some = "some" if tally.delivered is None else f"{tally.failed:,}"
        raise HubError(f"{some} of {tally.accepted:,} published records were not delivered{why}")
    if tally.interrupted_at is not None:
        raise Interrupted(f"publish interrupted at line {tally.interrupted_at}")


def _department(name: str) -> Department:
    try:
        return Department(name.strip().lower().replace("-", "_"))
    except ValueError:
        known = ", ".join(d.value for d in Department)
        raise InputError(f"unknown department {name!r}; departments are: {known}") from None


def _publish_to_hub(
    settings: Settings,
    export: ExportFile,
    rejects: RejectFile,
    interrupted: threading.Event,
    console: Console,
    timeout: float,
) -> PublishTally:
    """Publish every good row; flush whatever happens, so nothing accepted is lost."""
    from hub.metrics import HubMetrics, MetricsServer
    from hub.runtime import Runtime

    metrics = HubMetrics()
    with (
        Runtime(settings) as runtime,
        MetricsServer(metrics, settings.metrics_host, settings.metrics_port) as server,
    ):
        runtime.prepare()
        publisher = _publisher(runtime, export.department, metrics)
        console.print(
            f"publishing {export.path} ({export.lines:,} lines) to "
            f"{DEPARTMENT_TOPICS[export.department].name} on {runtime.clients.bootstrap}; "
            f"database {settings.database_description}; metrics {server.url}",
            highlight=False,
            soft_wrap=True,
        )
        tally = PublishTally()
        try:
            _read(export, publisher.publish, rejects, interrupted, console, tally)
        finally:
            flushing = time.monotonic()
            _flush(publisher, timeout, tally)
            tally.seconds += time.monotonic() - flushing
    return tally


def _publisher(runtime: Runtime, department: Department, metrics: HubMetrics) -> DepartmentPublisher:
    from producers.publisher import DepartmentPublisher

    name = DEPARTMENT_TOPICS[department].value_schema
    assert name is not None
    registered = runtime.schema_ids[name]
    return DepartmentPublisher(
        department,
        runtime.clients.producer(),
        runtime.codec,
        registered.schema_id,
        registered.version,
        metrics,
    )


def _flush(publisher: DepartmentPublisher, timeout: float, tally: PublishTally) -> None:
    try:
        report = publisher.flush(timeout)
    except BrokerError as exc:  # some records were never acknowledged
        tally.delivered, tally.failed = None, tally.accepted
        tally.errors.append(str(exc))
        return
    tally.delivered, tally.failed = report.delivered, tally.accepted - report.delivered
    tally.errors.extend(report.errors)


def _validator(department: Department) -> Callable[[dict[str, Any]], object]:
    """What --dry-run does with a record instead of sending it: encode it, to validate it."""
    from hub.avro.catalog import get_catalog
    from hub.avro.wire import AvroCodec

    text = get_catalog().text(DEPARTMENT_TOPICS[department].value_schema or "")
    codec = AvroCodec(lambda _: text)
    return lambda record: codec.encode(0, record)


def _read(
    export: ExportFile,
    send: Callable[[dict[str, Any]], object],
    rejects: RejectFile,
    interrupted: threading.Event,
    console: Console,
    tally: PublishTally | None = None,
) -> PublishTally:
    """The loop: every row is sent or rejected; Ctrl-C stops it between rows."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    tally = tally or PublishTally()
    started = time.monotonic()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("line {task.completed:,.0f} of {task.total:,.0f}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(export.path.name, total=max(export.lines, 1))
        for row in export.rows():
            if interrupted.is_set():
                tally.interrupted_at = row.line
                break
            tally.rows += 1
            if row.record is None:
                rejects.write(row.line, row.reason or "", row.text)
            else:
                try:
                    send(row.record)
                    tally.accepted += 1
                except RecordEncodeError as exc:
                    rejects.write(row.line, str(exc), row.text)
            if tally.rows % _PROGRESS_EVERY == 0:
                progress.update(task, completed=row.line)
    tally.rejected = rejects.count
    tally.seconds += time.monotonic() - started
    return tally


def _summary(tally: PublishTally, export: ExportFile, dry_run: bool) -> Table:
    from rich.table import Table

    topic = DEPARTMENT_TOPICS[export.department].name
    title = (
        f"hub publish --dry-run {export.path.name}"
        if dry_run
        else f"hub publish {export.path.name} → {topic}"
    )
    table = Table(title=title, show_header=False, min_width=len(title) + 2)
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_row("rows read", f"{tally.rows:,}")
    table.add_row("valid (not published)" if dry_run else "published", f"{tally.accepted:,}")
    if not dry_run:
        table.add_row("delivered", "[red]unknown[/]" if tally.delivered is None else f"{tally.delivered:,}")
        if tally.failed:
            table.add_row("[red]not delivered[/]", f"[red]{tally.failed:,}[/]")
    table.add_row("rejected", f"[yellow]{tally.rejected:,}[/]" if tally.rejected else "0")
    table.add_row("unknown columns", f"{len(export.unknown_columns)}")
    table.add_row("seconds", f"{tally.seconds:.1f}")
    table.add_row("rows/s", f"{tally.rows / tally.seconds:,.0f}" if tally.seconds > 0 else "-")
    if tally.startup >= 0.05:
        table.add_row("start-up seconds (not in rows/s)", f"{tally.startup:.1f}")
    return table


def _epilogue(console: Console, tally: PublishTally, export: ExportFile, rejects_path: Path) -> None:
    if tally.interrupted_at is not None:
        console.print(
            f"[yellow]interrupted at line {tally.interrupted_at:,}[/]: rows before it were handled "
            "and what was published was flushed; the rest of the file was not read",
            highlight=False,
        )
    if tally.rejected:
        console.print(
            f"[yellow]{tally.rejected:,} rows rejected[/]: see {rejects_path} (columns line, reason, row)",
            highlight=False,
        )
    else:
        console.print("no rows rejected", highlight=False)
    if export.unknown_columns:
        console.print(
            f"[yellow]warning:[/] ignored columns that are not fields of {export.table.name}: "
            + ", ".join(export.unknown_columns),
            highlight=False,
        )
