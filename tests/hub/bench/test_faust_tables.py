"""The faust-tables bench drives the real tables worker: a clean run, a recovery, and a worker
SIGKILLed half-way and restarted, each ending with the indicators of the events folded directly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.bench.faust_tables import expected_rows, produce_events, run
from hub.bench.indicator_deltas import batches
from hub.kafka.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

EVENTS = 24


@pytest.mark.timeout(150)
def test_kill_and_restart_end_with_the_exact_indicators(own_broker: EmbeddedBroker, tmp_path: Path) -> None:
    events = list(batches(EVENTS, seed=3, today=datetime.now(UTC).date()))
    produce_events(own_broker.bootstrap, events)

    figures = run(own_broker.bootstrap, events, tmp_path, timeout=60)

    assert figures.clean_exact and figures.restarted_exact
    assert 0 < figures.killed_at < EVENTS - 1
    assert figures.recovery_records >= EVENTS  # at least one changelog record per event (its marker)
    assert figures.clean_rate > 0
    assert len(expected_rows(events)) > 0
