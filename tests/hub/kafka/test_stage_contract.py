"""Unit tests for hub.kafka.stage: Outputs: columns that read as a sequence of OutMessage."""

from __future__ import annotations

import pytest
from confluent_kafka import Message

from hub.errors import DatabaseError, RecordEncodeError
from hub.kafka.stage import UNPROCESSABLE, OutMessage, Outputs, process_isolating


def test_outputs_read_back_in_order_as_messages() -> None:
    messages = [OutMessage("a", b"k1", b"v1"), OutMessage("b", None, b"v2", [("h", b"x")])]
    outputs = Outputs(messages)
    assert list(outputs) == messages and len(outputs) == 2
    assert outputs[1] == messages[1] and outputs[-1] == messages[1] and outputs[0:1] == messages[:1]
    assert outputs.headers == [None, [("h", b"x")]]


def test_sized_outputs_are_filled_in_place() -> None:
    outputs = Outputs.sized(3, "reconciled")
    outputs.keys[0], outputs.values[0] = b"k", b"v"
    outputs.put(2, OutMessage("rejected", b"r", b"bad", [("why", b"x")]))
    assert [o.topic for o in outputs] == ["reconciled", "reconciled", "rejected"]
    assert outputs[0] == OutMessage("reconciled", b"k", b"v")
    assert outputs[2].headers == [("why", b"x")] and outputs[1].headers == []


class _Stage:
    """A stage that doubles numbers, raises for the record b"bad" and can be told the database is down."""

    name, group, inputs, dead_letters = "double", "g", ("in",), "in.dead-letters"

    def __init__(self, database_down: bool = False) -> None:
        self.database_down = database_down
        self.pending: list[bytes] = []
        self.discarded = 0

    def process(self, batch: list[Message]) -> list[OutMessage]:
        if self.database_down:
            raise DatabaseError("cannot reach database")
        done = []
        for message in batch:
            value = message.value() or b""
            if value == b"bad":
                raise RecordEncodeError("vn.lgsp.Dossier.KenhThucHien is <1794027540000> expected int")
            done.append(OutMessage("out", message.key(), value * 2))
        self.pending += [m.value() or b"" for m in batch]
        return done

    def committed(self) -> None:
        self.pending = []

    def discard(self) -> None:
        self.pending, self.discarded = [], self.discarded + 1

    def close(self) -> None:
        pass


def _batch(*values: bytes) -> list[Message]:
    return [
        Message(topic="in", partition=1, offset=i, key=b"k", value=v, headers=[("hub.agency", b"STP")])
        for i, v in enumerate(values)
    ]


def test_a_batch_without_trouble_is_the_stage_s_own_output() -> None:
    stage = _Stage()
    outputs = process_isolating(stage, _batch(b"a", b"b"))
    assert [o.value for o in outputs] == [b"aa", b"bb"] and stage.discarded == 0


def test_a_record_the_stage_cannot_process_is_dead_lettered_and_the_rest_go_on() -> None:
    stage = _Stage()
    batch = _batch(b"a", b"bad", b"c")
    outputs = process_isolating(stage, batch)
    assert [(o.topic, o.value) for o in outputs] == [
        ("out", b"aa"),
        ("in.dead-letters", b"bad"),
        ("out", b"cc"),
    ]
    headers = dict(outputs[1].headers)
    assert headers["hub.agency"] == b"STP"  # the original's headers are kept
    assert headers["__hub.errors.reason"] == UNPROCESSABLE.encode()
    assert headers["__hub.errors.stage"] == b"double"
    assert headers["__hub.errors.offset"] == b"1"
    assert headers["__hub.errors.exception"] == b"RecordEncodeError"
    assert b"KenhThucHien" in headers["__hub.errors.message"]
    assert stage.discarded == 1 and stage.pending == [b"a", b"c"]  # the failed attempt was forgotten


def test_a_failure_of_the_infrastructure_is_raised_to_be_retried_not_dead_lettered() -> None:
    with pytest.raises(DatabaseError):
        process_isolating(_Stage(database_down=True), _batch(b"a", b"bad"))
