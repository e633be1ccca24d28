"""Shared fixtures: the real embedded broker (once per session) and real databases."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import settings

from hub.kafka.broker import EmbeddedBroker

# Services started by tests run the indicators' faust tables on a free port, never on 6066.
os.environ.setdefault("HUB_INDICATOR_TABLES_PORT", "0")
# What a test does not place itself (the archive, a SQLite file) goes here, not in the user's data.
os.environ.setdefault("HUB_DATA_DIR", tempfile.mkdtemp(prefix="hub-tests-"))
# These machines are shared and noisy: property tests have no deadline per example.
settings.register_profile("hub", deadline=None)
settings.load_profile("hub")

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """One real Tansu broker for the whole test session."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture(scope="module")
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of the test module's own: its consumer groups see only that module's records."""
    with EmbeddedBroker() as running:
        yield running


def wait_until(condition: Callable[[], bool], timeout: float, what: str, check: Callable[[], None]) -> None:
    """Poll ``condition`` until it holds, calling ``check`` (which raises to give up) meanwhile."""
    deadline = time.monotonic() + timeout
    while not condition():
        check()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def wait() -> Callable[[Callable[[], bool], float, str, Callable[[], None]], None]:
    return wait_until


def _postgres_reachable() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        return str(exc).splitlines()[0]
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new schema in PostgreSQL.

    PostgreSQL tests are skipped when no server answers, unless HUB_TEST_REQUIRE_POSTGRES=1
    (set by .ci/run), which turns the skip into a failure.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("HUB_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but not reachable at {POSTGRES_URL}: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"create schema {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"drop schema {schema} cascade"))
        admin.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    """The hub's engine on a fresh database, disposed afterwards."""
    from hub.db import connect

    hub_engine = connect(database_url)
    yield hub_engine
    hub_engine.dispose()
