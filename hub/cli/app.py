"""The ``hub`` command line: configure logging, assemble the commands, print errors as one line.

Each command lives in its own module of :mod:`hub.cli` and imports what it needs when it runs,
so ``hub --help`` stays fast; what commands share (consoles, signals) is in :mod:`hub.cli.console`.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from hub.cli.archive import archive_app
from hub.cli.audit import audit_app
from hub.cli.bench import bench
from hub.cli.console import err
from hub.cli.demo import demo
from hub.cli.exchange_clients import exchange_clients_app
from hub.cli.publish import publish
from hub.cli.registry import registry_app
from hub.cli.replay import replay
from hub.cli.report import report
from hub.cli.run import broker, exchange, run
from hub.cli.schema_registry import schema_registry
from hub.cli.simulate import simulate
from hub.cli.topics import topics
from hub.errors import HubError, Interrupted

__all__ = ["app", "main"]

app = typer.Typer(
    help="The hub: a local stand-in for a province's data-integration platform (LGSP).\n\n"
    "Settings come from HUB_* environment variables; with HUB_KAFKA_BOOTSTRAP unset the hub "
    "starts its embedded broker, with HUB_DATABASE_URL unset it uses a SQLite file in "
    "HUB_DATA_DIR.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _configure(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what the hub does.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        logging.getLogger("hub.kafka").setLevel(logging.CRITICAL)  # librdkafka's own chatter


for command in (demo, run, broker, exchange, report, replay, topics, publish, simulate, bench):
    app.command()(command)
app.command("schema-registry")(schema_registry)
app.add_typer(registry_app, name="registry")
app.add_typer(exchange_clients_app, name="exchange-clients")
app.add_typer(audit_app, name="audit")
app.add_typer(archive_app, name="archive")


def main() -> None:
    """Entry point: a user's mistake is one line on stderr and a non-zero exit, never a traceback."""
    try:
        app()
    except (Interrupted, KeyboardInterrupt):
        err.print("hub: interrupted; everything it started has been stopped")
        sys.exit(130)
    except HubError as exc:
        err.print(f"[red]hub: error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
