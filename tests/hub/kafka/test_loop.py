"""Unit tests for hub.kafka.loop: what a StageRunner sets up before it reads anything."""

from __future__ import annotations

from confluent_kafka import Message
from prometheus_client import CollectorRegistry

from hub.kafka.clients import KafkaClients
from hub.kafka.loop import StageRunner
from hub.kafka.stage import UNPROCESSABLE, OutMessage, Outputs
from hub.metrics import HubMetrics


class _Stage:
    name = "unit-stage"
    group = "hub.unit"
    inputs = ("lgsp.unit",)
    dead_letters = "lgsp.unit.dead-letters"

    def process(self, batch: list[Message]) -> list[OutMessage]:
        return []

    def committed(self) -> None:
        pass

    def discard(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_failure_and_dead_letter_series_exist_at_zero_once_the_runner_is_made() -> None:
    registry = CollectorRegistry()
    metrics = HubMetrics(registry)
    failures = ("hub_stage_batch_failures_total", {"stage": "unit-stage"})
    dead = ("hub_dead_letters_total", {"stage": "unit-stage", "reason": UNPROCESSABLE})
    assert registry.get_sample_value(*failures) is None and registry.get_sample_value(*dead) is None
    StageRunner(_Stage(), KafkaClients({"bootstrap.servers": "127.0.0.1:1"}), metrics=metrics)
    assert registry.get_sample_value(*failures) == 0.0 and registry.get_sample_value(*dead) == 0.0


def test_dead_letters_are_counted_by_stage_and_reason() -> None:
    registry = CollectorRegistry()
    runner = StageRunner(
        _Stage(), KafkaClients({"bootstrap.servers": "127.0.0.1:1"}), metrics=HubMetrics(registry)
    )
    batch = [Message(topic="lgsp.unit", partition=0, offset=i, value=b"x") for i in range(4)]
    why = [("hub.agency", b"STP"), ("__hub.errors.reason", b"NOT_AVRO")]
    outputs = Outputs(
        [
            OutMessage("lgsp.unit.out", None, b"ok"),
            OutMessage("lgsp.unit.dead-letters", None, b"x", why),
            OutMessage("lgsp.unit.dead-letters", None, b"y", why),
            OutMessage(
                "lgsp.unit.dead-letters", None, b"z", [("__hub.errors.reason", b"UNPROCESSABLE_RECORD")]
            ),
        ]
    )
    runner._count(batch, outputs)
    sample = registry.get_sample_value
    assert sample("hub_dead_letters_total", {"stage": "unit-stage", "reason": "NOT_AVRO"}) == 2
    assert sample("hub_dead_letters_total", {"stage": "unit-stage", "reason": UNPROCESSABLE}) == 1
    assert sample("hub_stage_records_produced_total", {"stage": "unit-stage", "topic": "lgsp.unit.out"}) == 1


class _Consumer:
    """What the lag report asks of a consumer: its assignment, positions and cached ends."""

    def assignment(self) -> list[object]:
        from confluent_kafka import TopicPartition

        return [TopicPartition("lgsp.unit", 0), TopicPartition("lgsp.unit", 1)]

    def position(self, partitions: list[object]) -> list[object]:
        from confluent_kafka import TopicPartition

        return [TopicPartition("lgsp.unit", 0, 40), TopicPartition("lgsp.unit", 1, -1001)]  # 1: not read yet

    def get_watermark_offsets(self, tp: object, cached: bool = False) -> tuple[int, int]:
        assert cached  # never a call to the broker
        return 0, 100


def test_lag_is_the_end_the_last_fetch_saw_minus_the_position() -> None:
    registry = CollectorRegistry()
    runner = StageRunner(
        _Stage(), KafkaClients({"bootstrap.servers": "127.0.0.1:1"}), metrics=HubMetrics(registry)
    )
    runner._report_lag(_Consumer())  # type: ignore[arg-type]
    lag = "hub_consumer_lag_records"
    assert registry.get_sample_value(lag, {"group": "hub.unit", "topic": "lgsp.unit", "partition": "0"}) == 60
    assert (
        registry.get_sample_value(lag, {"group": "hub.unit", "topic": "lgsp.unit", "partition": "1"}) is None
    )
