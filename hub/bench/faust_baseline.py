"""The reconciliation job written the straightforward way: a faust-streaming agent, per record.

Run by ``hub bench --only reconcile`` as a separate process::

    python -m hub.bench.faust_baseline BOOTSTRAP DATABASE_URL RECORDS RESULT_FILE

It decides every record with the same function as the hub's stage
(:func:`hub.stages.reconcile.stage.reconcile_message`) and sends each output with an
``await topic.send(...)``: one event, one decision, one send. After RECORDS events it flushes
its producer and writes one line to RESULT_FILE, ``<records> <seconds>``, timed from its
first event (faust takes over stdout for its logs).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["main"]


def main(argv: list[str]) -> None:
    import faust
    from confluent_kafka import Message

    from hub.avro.wire import AvroCodec
    from hub.db import connect
    from hub.province import known_province_codes
    from hub.registry import RegistryStore
    from hub.schema_store import SchemaStore
    from hub.stages.reconcile.stage import reconcile_message
    from hub.topics import DEPARTMENT_TOPICS, RECONCILED, REJECTED

    bootstrap, database_url, wanted, result = argv[0], argv[1], int(argv[2]), argv[3]
    engine = connect(database_url)
    store = SchemaStore(engine)
    codec = AvroCodec(store.schema_text)
    found = store.version(RECONCILED.subject, None)
    if found is None:
        raise SystemExit("the hub's schemas are not registered in this database")
    reconciled_id = found.schema_id
    registry = RegistryStore(engine).snapshot()
    provinces = known_province_codes()

    app = faust.App(
        f"hub-faust-baseline-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        store="memory://",
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
    )
    source = app.topic(*(t.name for t in DEPARTMENT_TOPICS.values()), value_type=bytes, key_type=bytes)
    outputs: dict[str, Any] = {
        RECONCILED.name: app.topic(RECONCILED.name, value_type=bytes, key_type=bytes),
        REJECTED.name: app.topic(REJECTED.name, value_type=bytes, key_type=bytes),
    }

    progress = {"count": 0, "first": 0.0}

    @app.agent(source)
    async def reconcile(stream: Any) -> None:
        async for event in stream.events():
            if not progress["count"]:
                progress["first"] = time.perf_counter()
            incoming = event.message
            message = Message(
                topic=incoming.topic,
                partition=incoming.partition,
                offset=incoming.offset,
                key=incoming.key,
                value=event.value,
                headers=list(incoming.headers or []),
            )
            verdict = reconcile_message(message, codec, registry, provinces, reconciled_id, datetime.now(UTC))
            out = verdict.output
            await outputs[out.topic].send(key=out.key, value=out.value, headers=out.headers)
            progress["count"] += 1
            if progress["count"] == wanted:
                await app.producer.flush()
                seconds = time.perf_counter() - progress["first"]
                with open(result, "w", encoding="ascii") as out_file:
                    out_file.write(f"{wanted} {seconds}\n")
                os._exit(0)  # a benchmark run: nothing to clean up but the process

    worker = faust.Worker(app, loglevel="WARNING", quiet=True)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1:])
