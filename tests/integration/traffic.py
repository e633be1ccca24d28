"""What several integration tests share: a week of simulated records published, and waiting
until a running hub has processed everything and nothing moves."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from hub.metrics import HubMetrics
from hub.province import VIETNAM, load_province
from hub.registry import RegistryStore
from hub.runtime import Runtime
from hub.service import Service, publishers_for
from producers.population import generate_population
from producers.simulate import generate_records


def publish_last_week(
    runtime: Runtime, metrics: HubMetrics, per_department: int, citizens: int = 2000
) -> int:
    """``per_department`` simulated records of each department, received over the week before
    today (within the indicators' lateness), against a registry of ``citizens``; how many."""
    population = generate_population(load_province("74"), citizens, seed=3)
    RegistryStore(runtime.engine).upsert(population)
    start = datetime.now(VIETNAM).date() - timedelta(days=8)
    sent = 0
    for department, publisher in publishers_for(runtime, metrics).items():
        for simulated in generate_records(population, department, per_department, 11, start=start):
            simulated.send(publisher)
        sent += publisher.flush().delivered
    return sent


def settle(service: Service, done: Callable[[], bool] = lambda: True, timeout: float = 120.0) -> None:
    """Wait until ``done`` holds, every stage has read its inputs to the end, and nothing moves
    for 2 s (the last batches' counts, gauges and acknowledgements are in)."""
    deadline, quiet_since, last = time.monotonic() + timeout, None, None
    while True:
        assert time.monotonic() < deadline, {n: r.stats for n, r in service.runners.items()}
        now = tuple(r.stats.consumed for r in service.runners.values())
        if done() and all(r.stats.caught_up for r in service.runners.values()) and now == last:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= 2.0:
                return
        else:
            quiet_since = None
        last = now
        time.sleep(0.2)
