"""The faust side of the faust-tables bench: one agent applying delta events to a windowed table.

Run by :mod:`hub.bench.faust_tables` as a separate process (faust's Worker installs signal
handlers, so it wants a main thread of its own)::

    python -m hub.bench.faust_tables_worker BOOTSTRAP APP_ID LAST_SEQ RESULT PROGRESS [--recover-only]
        [--no-wait-changelog]

The table is tumbling by day (the event time of each key is the day in its delta, not the
message's timestamp), keyed by ``(dimension, value)``, in memory, backed by its changelog
topic. Each key applies :func:`hub.bench.indicator_deltas.apply_delta`, so a replayed event
is skipped key by key. After the event with seq LAST_SEQ (or, with ``--recover-only``, once
the table is recovered) it writes RESULT (JSON: timings, counters, the table) and exits; it
writes the last seq it applied to PROGRESS as it goes.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from hub.bench.indicator_deltas import apply_delta, group_deltas
from hub.errors import HubError

__all__ = ["DELTAS_TOPIC", "TABLE_NAME", "main"]

DELTAS_TOPIC = "lgsp.indicators.deltas"  # a bench topic: not among the hub's (hub.topics)
TABLE_NAME = "indicator-counts"
WINDOW = timedelta(days=1)
EXPIRES = timedelta(days=40)
# Written alone after each event's changes are acknowledged: "applied through seq". Being the
# only record of its batch, it also keeps Tansu's high watermark (the last batch's first
# offset + 1, not the log's end) from hiding a committed event's changes from recovery.
MARKER = ("_applied", "")


def main(argv: list[str]) -> None:
    import faust
    from faust.types import TP

    bootstrap, app_id, last_seq, result, progress = argv[0], argv[1], int(argv[2]), argv[3], argv[4]
    recover_only = "--recover-only" in argv[5:]
    wait_changelog = "--no-wait-changelog" not in argv[5:]
    started = time.perf_counter()
    stats: dict[str, Any] = {"events": 0, "updates": 0, "markers": 0, "skips": 0, "first": None, "last": None}
    recovery: dict[str, Any] = {"messages": 0, "applying": 0.0, "reading": 0.0}
    applied = {"seq": 0}  # the highest seq whose changes the table holds

    class RecordedTable(faust.Table[Any, Any]):
        """A table that counts the changelog records it is recovered from, and their acks."""

        acked = 0  # changelog records the broker has acknowledged

        def _on_changelog_sent(self, fut: Any) -> None:
            super()._on_changelog_sent(fut)
            self.acked += 1

        def apply_changelog_batch(self, batch: Any) -> None:
            now = time.perf_counter()
            recovery["messages"] += len(batch)
            super().apply_changelog_batch(batch)
            recovery["applying"] += time.perf_counter() - now

    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        web_enabled=False,
        store="memory://",
        topic_partitions=1,  # the changelog must have as many partitions as the source topic
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        stream_buffer_maxsize=32,  # events of ~170 kB: the default 4,096 buffers the whole backlog
        # Commit the source offset after every event, not every 2.8 s: events fetched while the
        # table recovers are dropped from faust's buffers, and faust re-reads them only by seeking
        # to a committed offset; with none committed yet it reads on past them.
        broker_commit_every=1,
    )
    source = app.topic(DELTAS_TOPIC, value_type=bytes, value_serializer="raw", partitions=1)
    counts: Any = app.tables.add(
        RecordedTable(app, name=TABLE_NAME, default=dict, partitions=1, beacon=app.tables.beacon)
    )
    windowed = counts.tumbling(WINDOW, expires=EXPIRES)
    by_day: dict[str, Any] = {}  # day → the windowed table relative to that day

    def finish() -> None:
        stats["rss_peak_mib"] = _peak_rss_mib()
        stats["started_to_recovered"] = recovery.get("recovered", started) - started
        body = {"stats": stats, "recovery": recovery, "table": dump(counts)}
        with open(result, "wb") as out:
            out.write(orjson.dumps(body))
        os._exit(0)  # a benchmark run: nothing to clean up but the process

    async def recovered() -> None:
        recovery["recovered"] = time.perf_counter()
        # Set by faust's Recovery service when it starts reading changelogs (time.monotonic).
        tables: Any = app.tables
        began = getattr(tables.recovery, "_recovery_started_at", None)
        recovery["reading"] = time.monotonic() - began if recovery["messages"] and began else 0.0
        markers = [held for (key, _), held in counts.items() if key == MARKER]
        recovery["keys"] = len(counts.data) - len(markers)
        last = max(markers, key=lambda held: held["seq"], default={"seq": 0, "offset": -1})
        recovery["applied_through"] = applied["seq"] = last["seq"]
        if recover_only:
            finish()
        # The table, not the group's committed offset, says where the source resumes: the event
        # after the last one whose changes the changelog holds.
        await app.consumer.seek(TP(DELTAS_TOPIC, 0), last["offset"] + 1)

    counts.on_recover(recovered)

    progress_fd = os.open(progress, os.O_WRONLY | os.O_CREAT, 0o644)
    # Every event taken, with its offset and the keys it changed and skipped: for diagnosis.
    journal_fd = os.open(f"{progress}.journal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    @app.agent(source)
    async def apply(stream: Any) -> None:
        try:
            async for value in stream:
                event = orjson.loads(value)
                offset = stream.current_event.message.offset
                if event["seq"] > applied["seq"] + 1:  # skipping events would lose their counts
                    raise HubError(
                        f"event seq {event['seq']} at offset {offset} after seq {applied['seq']}: "
                        f"seq {applied['seq'] + 1} was never applied"
                    )
                before = stats["updates"], stats["skips"]
                seq = _apply_event(windowed, by_day, event, stats)
                applied["seq"] = max(applied["seq"], seq)
                updates, skips = stats["updates"] - before[0], stats["skips"] - before[1]
                os.write(
                    journal_fd,
                    b"%.3f pid %d offset %d seq %d updated %d skipped %d\n"
                    % (time.time(), os.getpid(), offset, seq, updates, skips),
                )
                if wait_changelog:
                    await _changelog_acked(app, counts, stats["updates"] + stats["markers"])
                    by_day[max(by_day)][MARKER] = {"seq": applied["seq"], "offset": offset, "counts": {}}
                    stats["markers"] += 1
                    await _changelog_acked(app, counts, stats["updates"] + stats["markers"])
                os.pwrite(progress_fd, b"%12d" % seq, 0)
                if seq == last_seq:
                    await app.producer.flush()  # every changelog record out before the dump
                    finish()
        except Exception:  # faust would log the crash and idle; a bench run must end
            traceback.print_exc()
            os._exit(1)

    worker = faust.Worker(app, loglevel=os.environ.get("HUB_FAUST_LOGLEVEL", "WARNING"), quiet=True)
    worker.execute_from_commandline()


def _apply_event(windowed: Any, by_day: dict[str, Any], event: dict[str, Any], stats: dict[str, Any]) -> int:
    """Apply one delta event key by key (inside the stream: faust refuses table writes outside)."""
    now = time.perf_counter()
    stats["first"] = stats["first"] or now
    seq: int = event["seq"]
    for (day_iso, dimension, value), delta in group_deltas(event["deltas"]).items():
        on_day = by_day.get(day_iso)
        if on_day is None:
            on_day = by_day[day_iso] = windowed.relative_to(_day_start(day_iso))
        new = apply_delta(on_day[(dimension, value)].value(), seq, delta)
        if new is None:
            stats["skips"] += 1
            continue
        on_day[(dimension, value)] = new
        stats["updates"] += 1
    stats["events"] += 1
    stats["last"] = time.perf_counter()
    return seq


async def _changelog_acked(app: Any, table: Any, sent: int) -> None:
    """Wait until the broker holds every changelog record sent so far.

    faust commits a source offset after ``producer.flush()``, whose buffer flush can return
    with records still unsent (``ProducerBuffer.flush_atmost`` gives up after 0.1 s without
    progress, and sees an empty queue while the last record is still being handed over): a
    SIGKILL there would lose changes of an event that is never replayed. Waiting here, before
    the stream takes (and so acknowledges) the next event, rules that out.
    """
    while table.acked < sent:
        await app.producer.flush()
        if table.acked < sent:
            await asyncio.sleep(0.001)


def _peak_rss_mib() -> float:
    """VmHWM: unlike ``ru_maxrss``, which keeps the parent's peak across fork and exec."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _day_start(day_iso: str) -> datetime:
    return datetime.fromisoformat(day_iso).replace(tzinfo=UTC)


def dump(table: Any) -> list[list[Any]]:
    """The table as sorted rows ``[day_iso, dimension, value, seq, counts]``."""
    rows = []
    for ((dimension, value), (start, _end)), held in table.items():
        day_iso = datetime.fromtimestamp(start, UTC).date().isoformat()
        if (dimension, value) != MARKER:  # tuples again after recovery (Collection._to_key)
            rows.append([day_iso, dimension, value, held["seq"], held["counts"]])
    return sorted(rows, key=lambda row: (row[0], row[1], row[2]))


if __name__ == "__main__":
    main(sys.argv[1:])
