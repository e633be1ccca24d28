"""``hub exchange-clients``: who may use the mock national exchange, in the hub's database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from hub.errors import InputError

if TYPE_CHECKING:
    from hub.exchange.clients import ClientStore

__all__ = ["exchange_clients_app"]

exchange_clients_app = typer.Typer(
    help="The mock national exchange's OAuth2 clients (client id, secret, scopes) in the hub's "
    "database (HUB_DATABASE_URL). An agency's client id is its code (STP, STNMT, SYT, BHXH); it "
    "exchanges its id and secret for a token at POST /oauth/token.",
    no_args_is_help=True,
)


@contextmanager
def _store() -> Iterator[tuple[ClientStore, str]]:
    """The clients in the configured database, and the database's URL without its password."""
    from hub.db import connect
    from hub.exchange.clients import ClientStore
    from hub.settings import get_settings

    settings = get_settings()
    engine = connect(settings.resolved_database_url)
    try:
        yield ClientStore(engine), settings.database_description
    finally:
        engine.dispose()


@exchange_clients_app.command()
def add(
    client_id: Annotated[str, typer.Argument(help="The client's id: for an agency, its code (e.g. STNMT).")],
    agency: Annotated[
        bool,
        typer.Option("--agency", help="CLIENT_ID is an agency code: the client may submit its dossiers."),
    ] = False,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            help="A scope: dossiers.submit:<AGENCY>, ledger.read or exchange.admin; repeat for several."
        ),
    ] = None,
) -> None:
    """Add a client and print its secret, once: it is stored only as a digest.

    With neither --agency nor --scope, an agency code (STP, STNMT, SYT, BHXH) gets its
    dossiers.submit scope.
    """
    from hub.cli.console import err, out
    from hub.exchange.clients import agency_scope
    from hub.topics import Department

    scopes = set(scope or ())
    if agency or (not scopes and client_id in {d.agency for d in Department}):
        scopes.add(agency_scope(client_id))
    if not scopes:
        raise InputError(f"{client_id!r} is not an agency code: give --agency or --scope")
    with _store() as (store, database):
        secret = store.add(client_id, scopes)
    out.print(f"client_id={client_id}\nclient_secret={secret}", highlight=False, soft_wrap=True)
    err.print(
        f"exchange client {client_id} added to {database} with scopes {' '.join(sorted(scopes))}.\n"
        "The secret is not shown again (only its digest is kept): store it now.",
        highlight=False,
        soft_wrap=True,
    )


@exchange_clients_app.command("list")
def list_clients() -> None:
    """List the clients: ids, scopes and when each was added (never secrets)."""
    from rich.table import Table

    from hub.cli.console import print_table

    with _store() as (store, database):
        clients = store.list()
    table = Table(title=f"exchange clients in {database}")
    for column in ("client_id", "scopes", "added"):
        table.add_column(column)
    for client in clients:
        table.add_row(
            client.client_id, " ".join(sorted(client.scopes)), client.created_at.isoformat(" ", "seconds")
        )
    print_table(table, whole=(0, 1))


@exchange_clients_app.command()
def remove(client_id: Annotated[str, typer.Argument(help="The client to remove.")]) -> None:
    """Remove a client: it gets no more tokens (those a running exchange gave it live until they expire)."""
    from hub.cli.console import err

    with _store() as (store, database):
        store.remove(client_id)
    err.print(f"exchange client {client_id} removed from {database}", highlight=False, soft_wrap=True)
