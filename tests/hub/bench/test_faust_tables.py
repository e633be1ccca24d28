"""A faust worker applying delta events to a windowed table, SIGKILLed mid-stream and restarted,
ends with exactly the table the events give when folded directly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.bench.faust_tables import check_exactness, expected_rows, produce_events
from hub.bench.indicator_deltas import batches
from hub.kafka.broker import EmbeddedBroker


def worker_logs(workdir: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in sorted(workdir.glob("*.log"))
    )


pytestmark = pytest.mark.integration

EVENTS = 24


@pytest.mark.timeout(90)
def test_kill_and_restart_end_with_the_exact_table(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    events = list(batches(EVENTS, seed=3, today=datetime.now(UTC).date()))
    produce_events(own_broker.bootstrap, events)

    killed = check_exactness(own_broker.bootstrap, EVENTS, tmp_path, timeout=60)

    assert 0 < killed.killed_at < EVENTS
    expected = expected_rows(events)
    assert killed.identical_to(expected), killed.explain(expected) + "\n" + worker_logs(tmp_path)
