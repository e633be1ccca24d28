"""``hub replay``: a topic's records, decoded, for auditors."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["replay"]


def replay(
    topic: Annotated[str, typer.Argument(help="Topic name, e.g. lgsp.reconciled (see `hub topics`).")],
    from_offset: Annotated[int, typer.Option(min=0, help="Start at this offset in every partition.")] = 0,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many records.")] = None,
) -> None:
    """Print a topic's records, decoded, as JSON lines (one per record).

    Needs a running broker: set HUB_KAFKA_BOOTSTRAP (for example to the address `hub broker`
    prints). The embedded broker keeps nothing between runs.
    """
    import json
    import sys

    from consumers.replay import replay as replay_topic
    from hub.avro.wire import AvroCodec
    from hub.cli.console import err
    from hub.db import connect
    from hub.errors import HubError
    from hub.kafka.clients import KafkaClients
    from hub.schema_store import SchemaStore
    from hub.settings import get_settings
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
    printed = 0
    for line in replay_topic(clients, declared, codec, from_offset, limit):
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        printed += 1
    sys.stdout.flush()
    err.print(f"replay: {printed:,} records from {declared.name}", highlight=False, soft_wrap=True)
