"""The indicators' live counts in a faust windowed table, recovered from its changelog, served
over HTTP: faust-streaming's job in the hub.

    python -m hub.stages.indicators.tables      (``hub run`` and ``hub demo`` start it)

One agent reads ``lgsp.indicators.counts`` (:mod:`.counts`: a delta per batch of the stage, the
full state when the stage starts) into a table tumbling by day, keyed by ``(dimension, value)``;
each key applies an event once (by its seq), so a replayed event changes nothing. After an
event's changes are in the changelog, a marker records the event's offset, also in the table:
after a restart the agent resumes from the table's own marker, not from the consumer group's
committed offset (faust drops events it fetched while the table was recovering, and reads on
past them when no offset was committed yet). ``GET /indicators/`` gives every indicator of every
live dimension for the days, ISO weeks and months the table holds, computed from the counts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hub.metrics import TablesMetrics
from hub.net import require_free_port
from hub.settings import Settings, get_settings
from hub.stages.indicators.counts import apply, facts_of_key, group_rows
from hub.stages.indicators.formulas import Facts, evaluate
from hub.stages.indicators.periods import Period, periods_of
from hub.topics import INDICATORS_COUNTS

__all__ = ["APP_ID", "TABLE", "Tables", "TablesProcess", "indicator_rows", "main"]

_log = logging.getLogger("hub.indicators.tables")
APP_ID = "hub-indicator-tables"
TABLE = "live-counts"
WINDOW = timedelta(days=1)
# Written alone after each event's changes are acknowledged: "applied through this offset".
MARKER = ("_applied", "")


class Tables:
    """The faust app: its table, the agent that feeds it, and its web view."""

    def __init__(self, settings: Settings, bootstrap: str, app_id: str = APP_ID) -> None:
        import faust
        from faust.types import TP

        self.applied_offset = -1  # the offset of the last event whose changes the table holds
        # What /indicators/progress/ tells (the faust-tables benchmark reads it): monotonic times.
        self.progress: dict[str, Any] = {"started": time.monotonic(), "events": 0, "changelog_read": 0}
        progress = self.progress
        self.metrics = metrics = TablesMetrics()
        expires = timedelta(days=settings.indicator_allowed_lateness_days + 62)  # two months back

        class AckedTable(faust.Table):  # type: ignore[type-arg]
            """A table that counts the changelog records the broker has acknowledged."""

            acked = 0
            sent = 0

            def _on_changelog_sent(self, fut: Any) -> None:
                super()._on_changelog_sent(fut)
                self.acked += 1

            def send_changelog(self, *args: Any, **kwargs: Any) -> Any:
                self.sent += 1
                return super().send_changelog(*args, **kwargs)

            def apply_changelog_batch(self, batch: Any) -> None:
                progress["changelog_read"] += len(batch)
                metrics.recovered.inc(len(batch))
                super().apply_changelog_batch(batch)

        self.app = app = faust.App(
            app_id,
            broker=f"kafka://{bootstrap}",
            broker_credentials=_credentials(settings),
            store="memory://",
            datadir=str(settings.data_dir / "faust"),
            topic_partitions=1,  # the changelog has as many partitions as the counts topic
            consumer_auto_offset_reset="earliest",
            broker_commit_every=1,
            # A killed worker's place in the group is given up after this long, not faust's 60 s:
            # its restart waits for that before it gets the partition back.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=2.0,
            stream_buffer_maxsize=64,
            web_enabled=True,
            web_bind=settings.indicator_tables_host,
            web_port=settings.indicator_tables_port,
            web_host=settings.indicator_tables_host,
        )
        self.source_tp = TP(INDICATORS_COUNTS.name, 0)
        source = app.topic(INDICATORS_COUNTS.name, value_type=bytes, value_serializer="raw", partitions=1)
        self.table: Any = app.tables.add(
            AckedTable(app, name=TABLE, default=dict, partitions=1, beacon=app.tables.beacon)
        )
        self.windowed: Any = self.table.tumbling(WINDOW, expires=expires)
        self.table.on_recover(self._recovered)
        app.agent(source, name="apply-counts")(self._apply)
        tables = self

        async def indicators(view: Any, request: Any) -> Any:  # a function: faust makes it a View's get
            return view.json(tables.body(request.query))

        async def progress_view(view: Any, request: Any) -> Any:
            return view.json(
                {**tables.progress, "applied_offset": tables.applied_offset, "now": time.monotonic()}
            )

        async def metrics_view(view: Any, request: Any) -> Any:
            # the type as a header: aiohttp refuses a charset in content_type
            return view.bytes(
                generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        stalled = {"applied": -2}  # what the last check saw

        async def watch() -> None:
            """Faust can drop events it fetched (around a recovery) and fetch on past them; when
            the consumer stands beyond the next event to apply and nothing was applied since the
            last check, read again from that event (an event read twice is skipped)."""
            consumer: Any = app.consumer
            tp, applied = tables.source_tp, tables.applied_offset
            position = await consumer.position(tp) if tp in consumer.assignment() else None
            if tp in consumer.assignment():
                metrics.lag.set(max(0, consumer.highwater(tp) - applied - 1))
            if position is not None and position > applied + 1 and applied == stalled["applied"]:
                _log.warning(
                    "at offset %d with %d the last applied: reading again from %d",
                    position,
                    applied,
                    applied + 1,
                )
                await consumer.seek(tp, applied + 1)
            stalled["applied"] = applied

        app.timer(3.0)(watch)
        app.page("/indicators/")(indicators)
        app.page("/indicators/progress/")(progress_view)
        app.page("/metrics")(metrics_view)

    async def _recovered(self) -> None:
        markers = [held for (key, _), held in self.table.items() if key == MARKER]
        last = max(markers, key=lambda held: held["offset"], default={"offset": -1})
        self.applied_offset = last["offset"]
        self.progress["recovered"] = time.monotonic()
        manager: Any = self.app.tables
        began = getattr(manager.recovery, "_recovery_started_at", None)  # faust's, monotonic
        self.progress["recovery_seconds"] = time.monotonic() - began if began else 0.0
        self.metrics.recovery_seconds.set(self.progress["recovery_seconds"])
        self.metrics.applied_offset.set(self.applied_offset)
        self.progress["keys"] = len(self.table.data) - len(markers)
        _log.info(
            "live counts recovered: %d keys, applied through offset %d", len(self.table.data), last["offset"]
        )
        await self.app.consumer.seek(self.source_tp, self.applied_offset + 1)

    async def _apply(self, stream: Any) -> None:
        by_day: dict[str, Any] = {}
        seeking = False  # back to the event after the last applied one
        async for value in stream:
            offset = stream.current_event.message.offset
            if offset <= self.applied_offset:
                continue  # its changes are in the table already
            if self.applied_offset >= 0 and offset > self.applied_offset + 1:
                # Events fetched before a seek (after a recovery) can still come through: skipping
                # them would lose their counts, so read again from the first one missing.
                if not seeking:
                    _log.warning(
                        "offset %d after %d: reading again from %d",
                        offset,
                        self.applied_offset,
                        self.applied_offset + 1,
                    )
                    await self.app.consumer.seek(self.source_tp, self.applied_offset + 1)
                    seeking = True
                continue
            seeking = False
            event = orjson.loads(value)
            for (day_iso, dimension, member), given in group_rows(event["rows"]).items():
                on_day = by_day.get(day_iso)
                if on_day is None:
                    on_day = by_day[day_iso] = self.windowed.relative_to(_start(day_iso))
                new = apply(on_day[(dimension, member)].value(), event["seq"], event["kind"], given)
                if new is not None:
                    on_day[(dimension, member)] = new
            await self._changelog_acked()
            latest = by_day[max(by_day)] if by_day else self.windowed.relative_to(datetime.now(UTC))
            latest[MARKER] = {"offset": offset, "seq": event["seq"]}
            await self._changelog_acked()
            self.applied_offset = offset
            self.metrics.applied_offset.set(offset)
            self.metrics.events.inc()
            self.progress["events"] += 1
            self.progress.setdefault("first_applied", time.monotonic())
            self.progress["last_applied"] = time.monotonic()

    async def _changelog_acked(self) -> None:
        """Wait until the broker holds every changelog record sent: faust commits a source offset
        after a producer flush that can return with records unsent, and a SIGKILL there would
        lose changes of an event that is never read again."""
        while self.table.acked < self.table.sent:
            await self.app.producer.flush()
            if self.table.acked < self.table.sent:
                await asyncio.sleep(0.001)

    def body(self, query: Mapping[str, str]) -> dict[str, Any]:
        """The web view's answer: filtered by ``dimension``, ``indicator`` and ``period``."""
        rows = indicator_rows(
            self.counts(), query.get("dimension"), query.get("indicator"), query.get("period")
        )
        return {"applied_offset": self.applied_offset, "indicators": rows}

    def counts(self) -> dict[tuple[date, str, str], Counter[Facts]]:
        """What the table holds: (day, dimension, value) → dossiers per Facts."""
        held: dict[tuple[date, str, str], Counter[Facts]] = {}
        for ((dimension, member), (start, _end)), value in list(self.table.items()):
            if (dimension, member) == MARKER:
                continue
            day = datetime.fromtimestamp(start, UTC).date()
            held[day, dimension, member] = Counter({facts_of_key(k): n for k, n in value["counts"].items()})
        return held


def indicator_rows(
    counts: Mapping[tuple[date, str, str], Mapping[Facts, int]],
    dimension: str | None = None,
    indicator: str | None = None,
    period: str | None = None,
) -> list[dict[str, Any]]:
    """Every indicator of every (period, dimension, value) the day counts add up to; filtered by
    ``dimension``, ``indicator`` and ``period`` (a kind, ``day``/``week``/``month``, or a label)."""
    totals: dict[tuple[Period, str, str], Counter[Facts]] = {}
    for (day, dim, member), tally in counts.items():
        if dimension and dim != dimension:
            continue
        for p in periods_of(day):
            if period and period not in (p.kind.value, p.label):
                continue
            totals.setdefault((p, dim, member), Counter()).update(tally)
    rows = []
    for (p, dim, member), tally in sorted(totals.items()):
        for name, ratio in evaluate(tally).items():
            if indicator and name != indicator:
                continue
            rows.append(
                {
                    "indicator": name,
                    "dimension": dim,
                    "value": member,
                    "period_kind": p.kind.value,
                    "period": p.label,
                    "numerator": ratio.numerator,
                    "denominator": ratio.denominator,
                    "rate": ratio.rate,
                }
            )
    return rows


def _start(day_iso: str) -> datetime:
    return datetime.fromisoformat(day_iso).replace(tzinfo=UTC)


def _credentials(settings: Settings) -> Any:
    if not settings.kafka_sasl_mechanism:
        return None
    import faust

    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username or "",
        password=password,
        mechanism=settings.kafka_sasl_mechanism,
    )


def _exit_with_parent() -> None:
    """Our stdin is a pipe from the parent: it ends when the parent does. Exit at once, as a
    SIGKILL would (the table is in its changelog), so the port is free for the parent's restart."""
    sys.stdin.buffer.read()
    os._exit(0)


class TablesProcess:
    """The tables' worker as a child process of the hub (faust wants a main thread of its own):
    started with the hub's settings, stopped with SIGTERM."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        what = "the indicators' tables (HUB_INDICATOR_TABLES_PORT)"
        self.port = require_free_port(settings.indicator_tables_host, settings.indicator_tables_port, what)
        self.url = f"http://{settings.indicator_tables_host}:{self.port}/indicators/"
        log_dir = settings.data_dir / "faust"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / "tables.log"
        env = {
            **os.environ,
            "HUB_DATA_DIR": str(settings.data_dir),
            "HUB_INDICATOR_TABLES_HOST": settings.indicator_tables_host,
            "HUB_INDICATOR_TABLES_PORT": str(self.port),
            "HUB_INDICATOR_ALLOWED_LATENESS_DAYS": str(settings.indicator_allowed_lateness_days),
        }
        command = [sys.executable, "-m", "hub.stages.indicators.tables", bootstrap, "--with-parent"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT
            )

    def problem(self) -> str | None:
        """Why the worker is not running (the end of its log), or None while it runs."""
        if self.process.poll() is None:
            return None
        tail = self.log.read_text(errors="replace").strip().splitlines()[-3:]
        return f"the indicators' tables exited ({self.process.returncode}): {' | '.join(tail)}"

    def close(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()


def main(argv: list[str] | None = None) -> None:
    """Run the worker until SIGTERM."""
    import argparse

    import faust

    parser = argparse.ArgumentParser(
        prog="python -m hub.stages.indicators.tables",
        description="The indicators' live counts in a faust table, served on "
        "http://HUB_INDICATOR_TABLES_HOST:HUB_INDICATOR_TABLES_PORT/indicators/ "
        "(?dimension=…&indicator=…&period=day|week|month|2026-11). hub run starts it.",
    )
    parser.add_argument("bootstrap", nargs="?", help="the broker (default: HUB_KAFKA_BOOTSTRAP)")
    parser.add_argument(
        "--app-id", default=APP_ID, help=f"faust app id: consumer group, changelog (default {APP_ID})"
    )
    parser.add_argument("--with-parent", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.with_parent:  # started by the hub: end with it, even if it was SIGKILLed
        threading.Thread(target=_exit_with_parent, daemon=True).start()
    settings = get_settings()
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    if not bootstrap:
        parser.error("give the broker: BOOTSTRAP or HUB_KAFKA_BOOTSTRAP")
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    tables = Tables(settings, bootstrap, args.app_id)
    loglevel = os.environ.get("HUB_TABLES_LOGLEVEL", "WARNING")  # INFO: faust's rebalances and recovery
    sys.argv = sys.argv[:1]  # faust's worker reads no options of ours
    faust.Worker(tables.app, loglevel=loglevel, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
