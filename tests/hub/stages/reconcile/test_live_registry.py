"""hub.stages.reconcile.live_registry: the registry view loads, catches up with changes when due,
and says in its metrics how many citizens it holds and when it last caught up."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from hub.db import connect
from hub.metrics import HubMetrics
from hub.province import load_province
from hub.registry import RegistryStore
from hub.stages.reconcile.live_registry import LiveRegistry
from producers.population import generate_population


def test_the_view_says_its_size_and_when_it_caught_up(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'hub.db'}")
    store = RegistryStore(engine)
    population = generate_population(load_province("74"), 50, seed=1)
    store.upsert(population)
    metrics = HubMetrics(CollectorRegistry())
    sample = metrics.registry.get_sample_value
    now = [0.0]
    before = time.time()
    live = LiveRegistry(store, interval=10.0, metrics=metrics, clock=lambda: now[0])
    assert sample("hub_registry_citizens") == 50
    loaded = sample("hub_registry_synced_timestamp_seconds")
    assert loaded is not None and loaded >= before
    now[0] = 11.0  # past the interval: the next call looks for changes
    time.sleep(0.01)
    live()
    assert (sample("hub_registry_synced_timestamp_seconds") or 0) > loaded
    engine.dispose()
