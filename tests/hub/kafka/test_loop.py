"""Unit tests for hub.kafka.loop's Outputs: columns that read as a sequence of OutMessage."""

from __future__ import annotations

from hub.kafka.loop import OutMessage, Outputs


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
