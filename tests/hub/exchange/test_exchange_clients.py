"""Unit tests for hub.exchange.clients on SQLite and PostgreSQL: secrets kept only as digests."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from hub.errors import InputError
from hub.exchange import clients as clients_module
from hub.exchange.clients import ADMIN, LEDGER_READ, ClientStore, agency_scope

SECRET = "a-chosen-secret-of-32-characters"


@pytest.fixture
def store(engine: Engine) -> ClientStore:
    return ClientStore(engine)


def test_scopes() -> None:
    assert agency_scope("STNMT") == "dossiers.submit:STNMT"
    assert (LEDGER_READ, ADMIN) == ("ledger.read", "exchange.admin")


def test_add_returns_a_secret_that_verifies_and_stores_only_its_digest(store: ClientStore) -> None:
    secret = store.add("STNMT", [agency_scope("STNMT"), LEDGER_READ])
    assert len(secret) >= 40
    assert store.verify("STNMT", secret) == {"dossiers.submit:STNMT", "ledger.read"}
    assert store.verify("STNMT", secret + "x") is None
    assert store.verify("STP", secret) is None
    with store.engine.connect() as conn:
        row = conn.execute(sa.text("select * from exchange_clients")).one()._asdict()
    assert secret not in str(row)
    assert row["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["scopes"] == "dossiers.submit:STNMT ledger.read"


def test_each_added_client_gets_its_own_secret(store: ClientStore) -> None:
    assert store.add("STP", [agency_scope("STP")]) != store.add("SYT", [agency_scope("SYT")])


def test_a_client_is_added_once(store: ClientStore) -> None:
    store.add("STP", [agency_scope("STP")])
    with pytest.raises(InputError, match="exchange client 'STP' exists already"):
        store.add("STP", [LEDGER_READ])


def test_set_creates_or_replaces_with_a_chosen_secret(store: ClientStore) -> None:
    store.set("BHXH", SECRET, [agency_scope("BHXH")])
    assert store.verify("BHXH", SECRET) == {"dossiers.submit:BHXH"}
    store.set("BHXH", SECRET[::-1], [agency_scope("BHXH"), LEDGER_READ])
    assert store.verify("BHXH", SECRET) is None
    assert store.verify("BHXH", SECRET[::-1]) == {"dossiers.submit:BHXH", "ledger.read"}
    assert [client.client_id for client in store.list()] == ["BHXH"]


def test_list_shows_ids_and_scopes_never_secrets(store: ClientStore) -> None:
    secret = store.add("STP", [agency_scope("STP")])
    store.set("auditor", SECRET, [LEDGER_READ])
    listed = store.list()
    assert [(c.client_id, c.scopes) for c in listed] == [
        ("STP", {"dossiers.submit:STP"}),
        ("auditor", {"ledger.read"}),
    ]
    assert listed[0].created_at.tzinfo is not None
    assert secret not in repr(listed) and SECRET not in repr(listed)


def test_remove(store: ClientStore) -> None:
    secret = store.add("STP", [agency_scope("STP")])
    store.remove("STP")
    assert store.verify("STP", secret) is None and store.list() == []
    with pytest.raises(InputError, match="no exchange client 'STP'"):
        store.remove("STP")


@pytest.mark.parametrize(
    ("client_id", "secret", "scopes", "message"),
    [
        ("", SECRET, [LEDGER_READ], "a client id has"),
        ("STP:1", SECRET, [LEDGER_READ], "a client id has"),
        ("STP", "short", [LEDGER_READ], "a client secret has"),
        ("STP", SECRET + " ", [LEDGER_READ], "a client secret has"),
        ("STP", SECRET, ["dossiers.submit:"], "unknown scope"),
        ("STP", SECRET, ["everything"], "unknown scope"),
    ],
)
def test_bad_clients_are_refused_without_repeating_the_secret(
    store: ClientStore, client_id: str, secret: str, scopes: list[str], message: str
) -> None:
    with pytest.raises(InputError, match=message) as caught:
        store.set(client_id, secret, scopes)
    assert secret not in str(caught.value)


def test_verify_compares_in_constant_time_even_for_unknown_clients(
    store: ClientStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[str, str]] = []
    original = clients_module.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(clients_module.hmac, "compare_digest", spy)
    store.set("STP", SECRET, [agency_scope("STP")])
    assert store.verify("STP", SECRET) is not None
    assert store.verify("nobody", SECRET) is None
    assert len(compared) == 2 and all(len(a) == len(b) == 64 for a, b in compared)
