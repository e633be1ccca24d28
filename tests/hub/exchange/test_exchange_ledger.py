"""Unit tests for hub.exchange.ledger on SQLite and PostgreSQL: acknowledgements, idempotency, reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from hub.errors import InputError
from hub.exchange.ledger import ExchangeLedger
from hub.exchange.validation import digest

Document = Callable[..., dict[str, Any]]
NOW = datetime(2026, 11, 2, 18, 30, tzinfo=UTC)  # 01:30 on 3 November in Vietnam


@pytest.fixture
def ledger(engine: Engine) -> ExchangeLedger:
    return ExchangeLedger(engine)


def test_new_documents_are_accepted_in_order_with_transaction_ids(
    ledger: ExchangeLedger, document: Document
) -> None:
    acks = ledger.receive([document(f"STNMT-{i}") for i in range(3)], NOW)
    assert [ack["record_id"] for ack in acks] == ["STNMT-0", "STNMT-1", "STNMT-2"]
    assert all(
        ack["status"] == "ACCEPTED" and ack["reason"] is None and ack["detail"] is None for ack in acks
    )
    assert len({ack["transaction_id"] for ack in acks}) == 3
    assert set(acks[0]) == {"record_id", "status", "transaction_id", "reason", "detail"}
    assert ledger.count() == 3 and ledger.record_ids() == {"STNMT-0", "STNMT-1", "STNMT-2"}


def test_a_record_sent_again_is_a_duplicate_with_its_first_transaction(
    ledger: ExchangeLedger, document: Document
) -> None:
    first = ledger.receive([document("STNMT-1")], NOW)[0]
    again = ledger.receive([document("STNMT-1"), document("STNMT-2")], NOW)
    assert again[0] == {**first, "status": "DUPLICATE"}
    assert again[1]["status"] == "ACCEPTED" and ledger.count() == 2


def test_a_record_id_sent_with_other_content_is_a_conflict(
    ledger: ExchangeLedger, document: Document
) -> None:
    first = ledger.receive([document("STNMT-1")], NOW)[0]
    changed = ledger.receive([document("STNMT-1", citizen__HoVaTen="Nguyễn Văn Ân")], NOW)[0]
    assert changed["status"] == "REJECTED" and changed["reason"] == "CONFLICT"
    assert changed["transaction_id"] is None and first["transaction_id"] in changed["detail"]
    assert ledger.get("STNMT-1")["digest"] == digest(document("STNMT-1"))  # type: ignore[index]


def test_one_bad_document_does_not_refuse_its_batch(ledger: ExchangeLedger, document: Document) -> None:
    batch = [document("STNMT-1"), document("STNMT-2", citizen__SoDinhDanh="123"), 42, document("STNMT-3")]
    acks = ledger.receive(batch, NOW)
    assert [ack["status"] for ack in acks] == ["ACCEPTED", "REJECTED", "REJECTED", "ACCEPTED"]
    assert (acks[1]["record_id"], acks[1]["reason"]) == ("STNMT-2", "BAD_CITIZEN_ID")
    assert (acks[2]["record_id"], acks[2]["reason"]) == (None, "MISSING_FIELD")
    assert ledger.record_ids() == {"STNMT-1", "STNMT-3"}


def test_a_record_id_twice_in_one_batch_is_stored_once(ledger: ExchangeLedger, document: Document) -> None:
    same = [document("STNMT-1"), document("STNMT-1")]
    acks = ledger.receive([*same, document("STNMT-2"), document("STNMT-2", dossier__MaKetQua="KQ")], NOW)
    assert [ack["status"] for ack in acks] == ["ACCEPTED", "DUPLICATE", "ACCEPTED", "REJECTED"]
    assert acks[0]["transaction_id"] == acks[1]["transaction_id"] and acks[3]["reason"] == "CONFLICT"
    assert ledger.count() == 2


def test_only_ids_held_already_are_read_back_after_the_insert(
    engine: Engine, ledger: ExchangeLedger, document: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New ids cost one statement; ids another request stored (before, or concurrently) one more."""
    before = ExchangeLedger(engine).receive([document("STNMT-1"), document("STNMT-2")], NOW)
    lookups: list[list[str]] = []
    real = ledger._entries

    def spy(conn: Any, record_ids: list[str]) -> dict[str, tuple[str, str]]:
        lookups.append(record_ids)
        return real(conn, record_ids)

    monkeypatch.setattr(ledger, "_entries", spy)
    assert ledger.receive([document("STNMT-4")], NOW)[0]["status"] == "ACCEPTED"
    assert lookups == []
    changed = document("STNMT-2", dossier__MaKetQua="KQ")
    acks = ledger.receive([document("STNMT-1"), changed, document("STNMT-3")], NOW)
    assert acks[0] == {**before[0], "status": "DUPLICATE"}
    assert acks[1]["reason"] == "CONFLICT" and acks[2]["status"] == "ACCEPTED"
    assert [sorted(ids) for ids in lookups] == [["STNMT-1", "STNMT-2"]]
    assert ledger.count() == 4


def test_an_entry_as_the_read_endpoint_answers_it(ledger: ExchangeLedger, document: Document) -> None:
    accepted = ledger.receive([document("STNMT-1")], NOW)[0]
    assert ledger.get("STNMT-1") == {
        "record_id": "STNMT-1",
        "agency": "STNMT",
        "department": "land",
        "received_at": "2026-11-02T18:30:00+00:00",
        "digest": digest(document("STNMT-1")),
        "transaction_id": accepted["transaction_id"],
    }
    assert ledger.get("STNMT-404") is None
    json.dumps(ledger.get("STNMT-1"))


def test_counts_by_agency_vietnam_day_and_department(ledger: ExchangeLedger, document: Document) -> None:
    ledger.receive([document(f"STNMT-{i}") for i in range(3)], NOW)
    ledger.receive([document("STP-1", agency="STP", department="civil_status")], NOW)
    ledger.receive(
        [document("STP-2", agency="STP", department="civil_status")], datetime(2026, 11, 4, tzinfo=UTC)
    )
    assert ledger.counts() == [
        {"agency": "STNMT", "day": "2026-11-03", "records": 3},
        {"agency": "STP", "day": "2026-11-03", "records": 1},
        {"agency": "STP", "day": "2026-11-04", "records": 1},
    ]
    assert ledger.counts(["department"]) == [
        {"department": "civil_status", "records": 2},
        {"department": "land", "records": 3},
    ]
    assert ledger.counts(["day", "day"]) == [
        {"day": "2026-11-03", "records": 4},
        {"day": "2026-11-04", "records": 1},
    ]
    for bad in (["agency", "month"], []):
        with pytest.raises(InputError, match="counts are by any of agency, day, department"):
            ledger.counts(bad)


def test_the_ledger_survives_a_new_instance(
    engine: Engine, ledger: ExchangeLedger, document: Document
) -> None:
    first = ledger.receive([document("STNMT-1")], NOW)[0]
    again = ExchangeLedger(engine).receive([document("STNMT-1")], NOW)[0]
    assert again["status"] == "DUPLICATE" and again["transaction_id"] == first["transaction_id"]
