"""Unit tests for hub.kafka.loop: Outputs (columns that read as a sequence of OutMessage) and
what a StageRunner sets up before it runs."""

from __future__ import annotations

from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from hub.kafka.clients import KafkaClients
from hub.kafka.loop import OutMessage, Outputs, StageRunner
from hub.metrics import HubMetrics


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
    name = "unit-stage"
    group = "hub.unit"
    inputs = ("lgsp.unit",)

    def process(self, batch: list[Message]) -> list[OutMessage]:
        return []

    def committed(self) -> None:
        pass


def test_stage_failure_series_exists_at_zero_once_the_runner_is_made() -> None:
    registry = CollectorRegistry()
    metrics = HubMetrics(registry)
    assert registry.get_sample_value("hub_stage_batch_failures_total", {"stage": "unit-stage"}) is None
    StageRunner(_Stage(), KafkaClients({"bootstrap.servers": "127.0.0.1:1"}), metrics=metrics)
    assert registry.get_sample_value("hub_stage_batch_failures_total", {"stage": "unit-stage"}) == 0.0
