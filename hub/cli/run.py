"""``hub run``, ``hub broker``, ``hub exchange``: the long-running services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from hub.exchange.faults import Outage

__all__ = ["broker", "exchange", "run"]


def run(
    stage: Annotated[
        list[str] | None,
        typer.Option(
            help="A stage to run, by name (e.g. reconcile); repeat for several. Default: every stage. "
            "An unknown name is refused with the list of stages."
        ),
    ] = None,
    restore: Annotated[
        bool,
        typer.Option(
            "--restore",
            help="Before the stages start, put the archive (HUB_ARCHIVE_DIR) back on the broker, which "
            "must be empty (the embedded one is): the hub carries on where it was when it stopped.",
        ),
    ] = False,
) -> None:
    """Run the stream processors as a long-lived service until Ctrl-C or SIGTERM.

    This is what a deployment runs, one process per stage or all in one; with no
    HUB_EXCHANGE_URL the mock national exchange is started too. The embedded broker keeps
    nothing when it stops: `--restore` puts the archived records back as it starts.
    """
    from contextlib import ExitStack

    from hub.cli.console import err, wait_for_signal
    from hub.cli.ops import start_page
    from hub.errors import HubError, PortInUseError
    from hub.metrics import HubMetrics, MetricsServer
    from hub.runtime import Runtime
    from hub.service import Service, stage_names
    from hub.settings import get_settings

    chosen = stage_names(stage)
    settings = get_settings()
    metrics = HubMetrics(enabled=settings.metrics_enabled)
    with ExitStack() as stack:
        runtime = stack.enter_context(Runtime(settings))
        runtime.prepare()
        if restore:
            from hub.cli.archive import restore_into

            restore_into(runtime.clients, settings.resolved_archive_dir)
        try:
            server: MetricsServer | None = stack.enter_context(
                MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
            )
        except PortInUseError as exc:  # the stages still do their work, and say so
            err.print(
                f"warning: {exc}; running without /metrics and /health", highlight=False, soft_wrap=True
            )
            server = None
        service = stack.enter_context(Service(runtime, metrics, chosen))
        if server is not None:
            server.health = service.health
        page = start_page(stack, settings, metrics, service)
        endpoints = f"{server.url} (health: {server.health_url})" if server is not None else "-"
        err.print(
            f"running {', '.join(chosen)}\n  broker   {runtime.clients.bootstrap}\n"
            f"  database {settings.database_description}\n  exchange {runtime.exchange_url or '-'}\n"
            f"  metrics  {endpoints}\n  page     {page or '-'}"
            + (f"\n  live     {service.tables.url} (the indicators' faust tables)" if service.tables else ""),
            highlight=False,
            soft_wrap=True,
        )
        wait_for_signal(service.stop)
        if service.failed:  # a stage stopped on its own: exit non-zero, so a supervisor restarts us
            raise HubError("; ".join(f"stage {name} stopped: {why}" for name, why in service.failed.items()))


def broker(
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 9092,
    restore: Annotated[
        bool,
        typer.Option("--restore", help="Put the archive (HUB_ARCHIVE_DIR) back on the broker as it starts."),
    ] = False,
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
        if restore:
            from hub.cli.archive import restore_into

            restore_into(runtime.clients, settings.resolved_archive_dir)
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
    latency_ms: Annotated[
        float, typer.Option(min=0.0, help="Milliseconds added to every answered submission.")
    ] = 0.0,
    error_rate: Annotated[
        float,
        typer.Option(
            "--error-rate",
            "--failure-rate",
            min=0.0,
            max=1.0,
            help="Share of submissions answered 500, 502 or 503, to test retries.",
        ),
    ] = 0.0,
    timeout_rate: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Share of submissions answered 504 after --timeout-seconds."),
    ] = 0.0,
    timeout_seconds: Annotated[
        float, typer.Option(min=0.0, help="How long a timed-out submission hangs.")
    ] = 30.0,
    throttle_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of submissions answered 429 with Retry-After.")
    ] = 0.0,
    retry_after: Annotated[float, typer.Option(min=0.0, help="The Retry-After of a 429, in seconds.")] = 1.0,
    outage: Annotated[
        list[str] | None,
        typer.Option(
            metavar="START:SECONDS",
            help="An outage starting START seconds from now and lasting SECONDS: every submission is "
            "answered 503 with Retry-After. Repeat for several.",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the fault draws, for a repeatable run.")] = None,
    token_ttl: Annotated[float, typer.Option(min=1.0, help="Seconds an access token lives.")] = 300.0,
) -> None:
    """Run the mock national exchange (NDXP) until Ctrl-C or SIGTERM.

    Agencies get a token from POST /oauth/token (client credentials: `hub exchange-clients add`)
    and submit dossiers to POST /api/v1/dossiers/sync; what it receives is kept in the hub's
    database (HUB_DATABASE_URL) across restarts. Faults set here can be changed while it runs
    through PUT /admin/faults (scope exchange.admin).
    """
    import time

    from hub.cli.console import err, out, wait_for_signal
    from hub.db import connect
    from hub.exchange.faults import Faults
    from hub.exchange.server import ExchangeServer
    from hub.settings import get_settings

    now = time.time()
    faults = Faults(
        latency_ms=latency_ms,
        error_rate=error_rate,
        timeout_rate=timeout_rate,
        timeout_seconds=timeout_seconds,
        throttle_rate=throttle_rate,
        retry_after_seconds=retry_after,
        outages=tuple(_outage(text, now) for text in outage or ()),
        seed=seed,
    )
    settings = get_settings()
    engine = connect(settings.resolved_database_url)
    try:
        with ExchangeServer(engine, host, port, faults, token_ttl) as server:
            clients = ", ".join(client.client_id for client in server.clients.list())
            err.print(
                f"mock national exchange on [bold]{server.url}[/]; Ctrl-C stops it\n"
                f"  database {settings.database_description}\n"
                f"  ledger   {server.ledger.count()} records\n"
                f"  clients  {clients or 'none yet: hub exchange-clients add <AGENCY> creates one'}\n"
                f"  faults   {faults.describe()}",
                soft_wrap=True,
            )
            out.print(f"export HUB_EXCHANGE_URL={server.url}", highlight=False, soft_wrap=True)
            wait_for_signal()
    finally:
        engine.dispose()


def _outage(text: str, now: float) -> Outage:
    """``START:SECONDS`` (seconds from ``now``, seconds long) as an outage window."""
    from hub.errors import InputError
    from hub.exchange.faults import Outage

    start, colon, seconds = text.partition(":")
    try:
        begins, lasts = float(start), float(seconds)
    except ValueError:
        begins = lasts = -1.0
    if not colon or begins < 0 or lasts <= 0:
        raise InputError(f"--outage takes START:SECONDS (from now, and how long), e.g. 10:30, not {text!r}")
    return Outage(now + begins, now + begins + lasts)
