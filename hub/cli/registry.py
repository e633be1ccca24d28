"""``hub registry``: load the registry file, show its figures, record births, deaths and corrections."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hub.errors import InputError

if TYPE_CHECKING:
    from hub.registry import RegistryChange, RegistryCitizen, RegistryStore

__all__ = ["registry_app"]

registry_app = typer.Typer(
    help="The population registry in the hub's database (HUB_DATABASE_URL): bulk load, figures, "
    "and live changes (births, deaths, corrections) that reconciliation picks up.",
    no_args_is_help=True,
)

_Note = Annotated[str | None, typer.Option(help="Why: the decision or document behind the change.")]
_EMPTY_CLEARS = "An empty value clears it."


@contextmanager
def _store() -> Iterator[tuple[RegistryStore, str]]:
    """The registry in the configured database, and the database's URL without its password."""
    from hub.db import connect
    from hub.registry import RegistryStore
    from hub.settings import get_settings

    settings = get_settings()
    engine = connect(settings.resolved_database_url)
    try:
        yield RegistryStore(engine), settings.database_description
    finally:
        engine.dispose()


def _date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} must be a date like 2026-11-01, not {value!r}") from None


def _name(value: str) -> str:
    return unicodedata.normalize("NFC", " ".join(value.split()))


def _optional(value: str | None) -> str | None:
    """An option's value, None when it was given empty."""
    return value.strip() or None if value is not None else None


def _apply(store: RegistryStore, change: RegistryChange) -> None:
    from hub.cli.console import out

    change_id = store.apply(change)
    out.print(f"change {change_id}: {change.kind} of citizen {change.citizen.citizen_id}", highlight=False)


def _changing(store: RegistryStore, citizen_id: str) -> RegistryCitizen:
    """The citizen's current row, for a change that starts from it."""
    current = store.citizen(citizen_id)
    if current is None:
        raise InputError(f"no citizen {citizen_id} in the registry")
    return current


@registry_app.command()
def load(
    file: Annotated[Path, typer.Argument(help="registry.csv (or .csv.gz) as `hub simulate` writes it.")],
    merge: Annotated[
        bool, typer.Option("--merge", help="Insert or update these citizens, keep the others.")
    ] = False,
) -> None:
    """Load a registry file: by default it replaces the whole registry (the file is a full snapshot).

    One transaction: a bad line or a number that appears twice leaves the registry unchanged.
    Prints rows, seconds, rows per second and the database.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from hub.cli.console import err, out
    from producers.population import open_registry, read_registry_csv

    with _store() as (store, database), open_registry(file) as stream:
        err.print(f"loading {file} into {database}", highlight=False, soft_wrap=True)
        columns = (
            TextColumn("loading {task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,} rows"),
        )
        with Progress(*columns, TimeElapsedColumn(), console=err) as bar:
            task = bar.add_task(file.name, total=None)
            started = time.perf_counter()
            rows = store.load(
                read_registry_csv(stream), replace=not merge, progress=lambda n: bar.advance(task, n)
            )
            seconds = time.perf_counter() - started
    how = "merged" if merge else "registry replaced"
    out.print(
        f"loaded {rows:,} citizens ({how}) in {seconds:.1f} s, {rows / max(seconds, 1e-9):,.0f} rows/s, "
        f"into {database}",
        highlight=False,
        soft_wrap=True,
    )


@registry_app.command()
def stats() -> None:
    """Citizens, legacy numbers, deaths, citizens by district, and the last change."""
    from rich.table import Table

    from hub.cli.console import out

    with _store() as (store, database):
        figures = store.stats()
    table = Table("figure", "value", title=f"population registry in {database}")
    table.add_row("citizens", f"{figures.citizens:,}")
    table.add_row("with a legacy number", f"{figures.with_legacy_id:,}")
    table.add_row("deceased", f"{figures.deceased:,}")
    last = figures.last_change
    if last is not None:
        whom = f" of {last.citizen_id}" if last.citizen_id else f" of {last.detail.get('rows', 0):,} rows"
        table.add_row(
            "last change", f"#{last.change_id} {last.kind}{whom} at {last.changed_at:%Y-%m-%d %H:%M} UTC"
        )
    out.print(table)
    districts = Table("district", "citizens", title="by district")
    for code, count in figures.by_district:
        districts.add_row(code or "(none)", f"{count:,}")
    out.print(districts)


@registry_app.command()
def birth(
    citizen_id: Annotated[str, typer.Option("--id", help="The newborn's 12-digit number.")],
    name: Annotated[str, typer.Option(help="Full name, as registered.")],
    dob: Annotated[str, typer.Option(help="Date of birth, YYYY-MM-DD.")],
    gender: Annotated[str, typer.Option(help="M or F.")],
    district: Annotated[str | None, typer.Option(help="District code of residence.")] = None,
    commune: Annotated[str | None, typer.Option(help="Commune code of residence.")] = None,
    legacy: Annotated[str | None, typer.Option(help="9-digit legacy number (rare for a birth).")] = None,
    note: _Note = None,
) -> None:
    """Register a birth: a new citizen, with a number not yet in the registry."""
    from hub.registry import ChangeKind, RegistryChange, RegistryCitizen

    citizen = RegistryCitizen(
        citizen_id.strip(),
        _optional(legacy),
        _name(name),
        _date(dob, "--dob"),
        gender.strip().upper(),
        _optional(district),
        _optional(commune),
    )
    with _store() as (store, _):
        _apply(store, RegistryChange(ChangeKind.BIRTH, citizen, note))


@registry_app.command()
def death(
    citizen_id: Annotated[str, typer.Argument(help="The citizen's 12-digit number.")],
    on: Annotated[str, typer.Option("--on", help="Date of death, YYYY-MM-DD.")],
    note: _Note = None,
) -> None:
    """Record a citizen's death."""
    from hub.registry import ChangeKind, RegistryChange

    died = _date(on, "--on")
    with _store() as (store, _):
        current = _changing(store, citizen_id.strip())
        _apply(store, RegistryChange(ChangeKind.DEATH, current._replace(deceased_on=died), note))


@registry_app.command()
def correct(
    citizen_id: Annotated[str, typer.Argument(help="The citizen's 12-digit number.")],
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    dob: Annotated[str | None, typer.Option(help="Date of birth, YYYY-MM-DD.")] = None,
    gender: Annotated[str | None, typer.Option(help="M or F.")] = None,
    district: Annotated[str | None, typer.Option(help=f"District code. {_EMPTY_CLEARS}")] = None,
    commune: Annotated[str | None, typer.Option(help=f"Commune code. {_EMPTY_CLEARS}")] = None,
    legacy: Annotated[str | None, typer.Option(help=f"9-digit legacy number. {_EMPTY_CLEARS}")] = None,
    deceased_on: Annotated[
        str | None, typer.Option(help=f"Date of death, YYYY-MM-DD. {_EMPTY_CLEARS}")
    ] = None,
    note: _Note = None,
) -> None:
    """Correct a citizen's row: only the fields given change."""
    from hub.registry import ChangeKind, RegistryChange

    number = citizen_id.strip()
    fields: dict[str, Any] = {}
    if name is not None:
        fields["full_name"] = _name(name)
    if dob is not None:
        fields["date_of_birth"] = _date(dob, "--dob")
    if gender is not None:
        fields["gender"] = gender.strip().upper()
    for field, value in (("district_code", district), ("commune_code", commune), ("legacy_id", legacy)):
        if value is not None:
            fields[field] = _optional(value)
    if deceased_on is not None:
        fields["deceased_on"] = _date(deceased_on, "--deceased-on") if deceased_on.strip() else None
    if not fields:
        raise InputError("nothing to correct: give at least one field, e.g. --name")
    with _store() as (store, _):
        current = _changing(store, number)
        _apply(store, RegistryChange(ChangeKind.CORRECTION, current._replace(**fields), note))
