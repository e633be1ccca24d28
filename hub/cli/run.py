"""``hub run``, ``hub broker``, ``hub exchange``: the long-running services."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["broker", "exchange", "run"]


def run(
    stage: Annotated[
        list[str] | None,
        typer.Option(
            help="A stage to run, by name (e.g. reconcile); repeat for several. Default: every stage. "
            "An unknown name is refused with the list of stages."
        ),
    ] = None,
) -> None:
    """Run the stream processors as a long-lived service until Ctrl-C or SIGTERM.

    This is what a deployment runs, one process per stage or all in one; with no
    HUB_EXCHANGE_URL the mock national exchange is started too.
    """
    from contextlib import ExitStack

    from hub.cli.console import err, wait_for_signal
    from hub.errors import HubError
    from hub.metrics import HubMetrics, MetricsServer
    from hub.runtime import Runtime
    from hub.service import Service, stage_names
    from hub.settings import get_settings

    chosen = stage_names(stage)
    settings = get_settings()
    metrics = HubMetrics()
    with ExitStack() as stack:
        runtime = stack.enter_context(Runtime(settings))
        runtime.prepare()
        server = stack.enter_context(MetricsServer(metrics, settings.metrics_host, settings.metrics_port))
        service = stack.enter_context(Service(runtime, metrics, chosen))
        err.print(
            f"running {', '.join(chosen)}\n  broker   {runtime.clients.bootstrap}\n"
            f"  database {settings.database_description}\n  exchange {runtime.exchange_url or '-'}\n"
            f"  metrics  {server.url}",
            highlight=False,
            soft_wrap=True,
        )
        wait_for_signal(service.stop)
        if service.failed:  # a stage stopped on its own: exit non-zero, so a supervisor restarts us
            raise HubError("; ".join(f"stage {name} stopped: {why}" for name, why in service.failed.items()))


def broker(
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 9092,
) -> None:
    """Run the embedded broker in the foreground until Ctrl-C, with the hub's topics created."""
    from hub.cli.console import err, out, wait_for_signal
    from hub.runtime import Runtime
    from hub.settings import Settings, get_settings

    settings = Settings(
        **{**get_settings().model_dump(), "embedded_broker_port": port, "kafka_bootstrap": None}
    )
    with Runtime(settings) as runtime:
        runtime.prepare()
        err.print(
            f"embedded broker on [bold]{runtime.clients.bootstrap}[/] "
            f"(in memory: everything is lost when it stops); database {settings.database_description}",
            soft_wrap=True,
        )
        out.print(f"export HUB_KAFKA_BOOTSTRAP={runtime.clients.bootstrap}", highlight=False, soft_wrap=True)
        wait_for_signal()


def exchange(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 8080,
    failure_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of requests answered 503, to test retries.")
    ] = 0.0,
) -> None:
    """Run the mock national exchange (NDXP) until Ctrl-C: POST /api/v1/records, GET /health."""
    from hub.cli.console import err, wait_for_signal
    from hub.exchange.server import ExchangeServer

    with ExchangeServer(host, port, failure_rate) as server:
        err.print(f"mock national exchange on [bold]{server.url}[/]", soft_wrap=True)
        wait_for_signal()
