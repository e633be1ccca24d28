"""``hub schema-registry``: serve the Confluent-compatible schema registry over the hub's database."""

from __future__ import annotations

from typing import Annotated

import typer

from hub.settings import get_settings


def schema_registry(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on. Default: HUB_SCHEMA_REGISTRY_HOST (127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="Port (0 picks a free one). Default: HUB_SCHEMA_REGISTRY_PORT (8081)."
        ),
    ] = None,
) -> None:
    """Serve the schema registry until Ctrl-C: Confluent's REST API over the hub's schemas.

    Confluent clients (SchemaRegistryClient, AvroSerializer, AvroDeserializer) work against it
    unchanged; the ids they write are the ids the hub's codec reads. Registering checks the
    subject's compatibility level (HUB_SCHEMA_COMPATIBILITY until changed through /config).
    """
    from hub.cli.console import err, out, wait_for_signal
    from hub.db import connect
    from hub.runtime import register_hub_schemas
    from hub.schema_registry import SchemaRegistryServer
    from hub.schema_store import SchemaStore

    settings = get_settings()
    host = settings.schema_registry_host if host is None else host
    port = settings.schema_registry_port if port is None else port
    engine = connect(settings.resolved_database_url)
    try:
        store = SchemaStore(engine, settings.schema_compatibility)
        registered = register_hub_schemas(store)
        with SchemaRegistryServer(store, host, port) as server:
            err.print(
                f"schema registry on [bold]{server.url}[/] "
                f"(global compatibility {store.compatibility()}; the hub's {len(registered)} subjects "
                f"registered); database {settings.database_description}; Ctrl-C stops it",
                soft_wrap=True,
            )
            out.print(f"export HUB_SCHEMA_REGISTRY_URL={server.url}", highlight=False, soft_wrap=True)
            wait_for_signal()
    finally:
        engine.dispose()
