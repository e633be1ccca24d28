"""consumers.replay.message_to_json: what an auditor reads of each kind of topic."""

from __future__ import annotations

import base64

import orjson
from confluent_kafka import Message

from consumers.replay import message_to_json
from hub.avro.wire import AvroCodec
from hub.topics import INDICATORS_COUNTS, REJECTED


def _message(topic: str, value: bytes) -> Message:
    return Message(topic=topic, partition=0, offset=7, key=None, value=value, timestamp=(1, 1000))


def test_counts_events_read_as_json() -> None:
    event = {"seq": 3, "kind": "delta", "rows": [["2026-11-20", "province", "all", "1" * 13, 2]]}
    out = message_to_json(
        _message(INDICATORS_COUNTS.name, orjson.dumps(event)), INDICATORS_COUNTS, AvroCodec(lambda _: None)
    )
    assert out["value"] == event
    assert (out["offset"], out["key"]) == (7, None)


def test_dead_letters_keep_their_bytes() -> None:
    out = message_to_json(_message(REJECTED.name, b"\x00raw"), REJECTED, AvroCodec(lambda _: None))
    assert base64.b64decode(out["value_base64"]) == b"\x00raw"
    assert "value" not in out
