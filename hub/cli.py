"""The ``hub`` command line: parse, configure logging, call the function that does the work."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub.errors import HubError, Interrupted
from hub.settings import Settings, get_settings

app = typer.Typer(
    help="The hub: a local stand-in for a province's data-integration platform (LGSP).\n\n"
    "Settings come from HUB_* environment variables; with HUB_KAFKA_BOOTSTRAP unset the hub "
    "starts its embedded broker, with HUB_DATABASE_URL unset it uses a SQLite file in "
    "HUB_DATA_DIR (default .hub-data).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


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


@app.command()
def demo(
    citizens: Annotated[int, typer.Option(min=10, help="Citizens in the sample registry.")] = 3000,
    records: Annotated[int, typer.Option(min=1, help="Records per department.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same data.")] = 74,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 90.0,
) -> None:
    """Run the whole flow on a small province sample and print a summary.

    Starts the embedded broker (unless HUB_KAFKA_BOOTSTRAP is set), the mock national
    exchange (unless HUB_EXCHANGE_URL is set) and a /metrics endpoint; publishes simulated
    records for all four departments; reconciles them against the population registry;
    computes the reuse rate; forwards reconciled records to the exchange. Ctrl-C stops
    everything it started.
    """
    from hub.demo import run_demo
    from hub.report import summary_table

    with _signals_set(threading.Event()) as interrupted:
        summary = run_demo(
            get_settings(), citizens, records, seed, console=err, timeout=timeout, interrupted=interrupted
        )
    out.print(summary_table(summary))


@app.command()
def replay(
    topic: Annotated[str, typer.Argument(help="Topic name, e.g. lgsp.reconciled (see `hub topics`).")],
    from_offset: Annotated[int, typer.Option(min=0, help="Start at this offset in every partition.")] = 0,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many records.")] = None,
) -> None:
    """Print a topic's records, decoded, as JSON lines (one per record).

    Needs a running broker: set HUB_KAFKA_BOOTSTRAP (for example to the address `hub broker`
    prints). The embedded broker keeps nothing between runs.
    """
    from consumers.replay import replay as replay_topic
    from hub.db import connect
    from hub.kafka.clients import KafkaClients
    from hub.schema_store import SchemaStore
    from hub.serde import AvroCodec
    from hub.topics import topic_by_name

    settings = get_settings()
    declared = topic_by_name(topic)
    if not settings.kafka_bootstrap:
        raise HubError(
            "replay needs a running broker: set HUB_KAFKA_BOOTSTRAP (e.g. to the "
            "address printed by `hub broker`); the embedded broker keeps nothing "
            "between runs"
        )
    clients = KafkaClients(settings.kafka_client_config(settings.kafka_bootstrap))
    clients.check_reachable()
    codec = AvroCodec(
        SchemaStore(connect(settings.resolved_database_url)).schema_text, settings.max_record_bytes
    )

    def done(count: int) -> None:
        sys.stdout.flush()  # the records first, then the count after them
        err.print(f"replay: {count} records from {declared.name}")

    for line in replay_topic(clients, declared, codec, from_offset, limit, on_done=done):
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")


@app.command()
def topics() -> None:
    """List the topics the hub declares: partitions, key and value schema."""
    from hub.topics import ALL_TOPICS

    table = Table("topic", "partitions", "key", "value schema", "what")
    for t in ALL_TOPICS:
        table.add_row(t.name, str(t.partitions), t.key, t.value_schema or "(original bytes)", t.description)
    out.print(table)


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 9092,
) -> None:
    """Run the embedded broker in the foreground until Ctrl-C, with the hub's topics created."""
    from hub.runtime import Runtime

    settings = Settings(
        **{**get_settings().model_dump(), "embedded_broker_port": port, "kafka_bootstrap": None}
    )
    with Runtime(settings) as runtime:
        runtime.prepare()
        err.print(
            f"embedded broker on [bold]{runtime.clients.bootstrap}[/] "
            "(in memory: everything is lost when it stops)"
        )
        out.print(f"export HUB_KAFKA_BOOTSTRAP={runtime.clients.bootstrap}")
        _wait_for_signal()


@app.command()
def exchange(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")] = 8080,
    failure_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of requests answered 503, to test retries.")
    ] = 0.0,
) -> None:
    """Run the mock national exchange (NDXP) until Ctrl-C: POST /api/v1/records, GET /health."""
    from hub.exchange.server import ExchangeServer

    with ExchangeServer(host, port, failure_rate) as server:
        err.print(f"mock national exchange on [bold]{server.url}[/]")
        _wait_for_signal()


@app.command()
def run(
    stage: Annotated[
        list[str] | None,
        typer.Option(help="Stage to run (reconcile, indicators, forward); repeat for several. Default: all."),
    ] = None,
) -> None:
    """Run the stream processors as a long-lived service until Ctrl-C or SIGTERM.

    This is what a deployment runs, one process per stage or all in one; with no
    HUB_EXCHANGE_URL the mock national exchange is started too.
    """
    from contextlib import ExitStack

    from hub.exchange.server import ExchangeServer
    from hub.metrics import HubMetrics, MetricsServer
    from hub.pipeline import STAGES, Pipeline
    from hub.runtime import Runtime

    chosen = tuple(stage or STAGES)
    unknown = sorted(set(chosen) - set(STAGES))
    if unknown:
        raise HubError(f"unknown stage {', '.join(unknown)}; stages are {', '.join(STAGES)}")
    settings = get_settings()
    metrics = HubMetrics()
    with ExitStack() as stack:
        runtime = stack.enter_context(Runtime(settings))
        runtime.prepare()
        url = settings.exchange_url or stack.enter_context(ExchangeServer()).url
        server = stack.enter_context(MetricsServer(metrics, settings.metrics_host, settings.metrics_port))
        pipeline = stack.enter_context(Pipeline(runtime, metrics, url, chosen))
        err.print(
            f"running {', '.join(chosen)} on {runtime.clients.bootstrap}; "
            f"exchange {url}; metrics {server.url}"
        )
        _wait_for_signal(pipeline.stop)
        if pipeline.failed:  # a stage stopped on its own: exit non-zero, so a supervisor restarts us
            raise HubError("; ".join(f"stage {name} stopped: {why}" for name, why in pipeline.failed.items()))


from hub.commands.bench import bench  # noqa: E402
from hub.commands.publish import publish  # noqa: E402
from hub.commands.registry import registry_app  # noqa: E402  (command modules import lazily inside)
from hub.commands.schema_registry import schema_registry  # noqa: E402
from hub.commands.simulate import simulate  # noqa: E402

app.command("publish")(publish)
app.command("schema-registry")(schema_registry)
app.command("simulate")(simulate)
app.command("bench")(bench)
app.add_typer(registry_app, name="registry")


@contextmanager
def _signals_set(event: threading.Event) -> Iterator[threading.Event]:
    """Within the block, Ctrl-C and SIGTERM set ``event`` instead of raising mid-call.

    librdkafka calls interrupted by KeyboardInterrupt fail with SystemError, so long work
    checks the event between records and stops cleanly.
    """
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: event.set())
    try:
        yield event
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_signal(stop: threading.Event | None = None) -> None:
    """Block until Ctrl-C, SIGTERM, or ``stop`` is set."""
    event = stop or threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: event.set())
    try:
        while not event.wait(0.5):
            pass
    except KeyboardInterrupt:
        event.set()


def main() -> None:
    """Entry point: a user's mistake is one line on stderr and a non-zero exit, never a traceback."""
    try:
        app()
    except Interrupted:
        err.print("hub: interrupted; everything it started has been stopped")
        sys.exit(130)
    except HubError as exc:
        err.print(f"[red]hub: error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("hub: interrupted; everything it started has been stopped")
        sys.exit(130)


if __name__ == "__main__":
    main()
