"""Unit tests for hub.topics: the declared topics, departments and consumer groups."""

from __future__ import annotations

import pytest

from hub.errors import TopicError
from hub.topics import (
    ALL_TOPICS,
    DEPARTMENT_TOPICS,
    EXCHANGE_ACKS,
    FORWARD_DEAD_LETTERS,
    INDICATORS,
    INDICATORS_COUNTS,
    INDICATORS_DEAD_LETTERS,
    INDICATORS_LATE,
    POSITIONS,
    RECONCILED,
    REJECTED,
    Department,
    Group,
    Topic,
    department_of_topic,
    topic_by_name,
)


def test_topic_names_are_unique_and_prefixed() -> None:
    names = [topic.name for topic in ALL_TOPICS]
    assert len(names) == len(set(names)) == 13
    assert all(name.startswith("lgsp.") for name in names)


def test_every_department_has_a_topic() -> None:
    assert set(DEPARTMENT_TOPICS) == set(Department)
    assert all(topic in ALL_TOPICS for topic in DEPARTMENT_TOPICS.values())


def test_every_topic_has_partitions_and_a_description() -> None:
    for topic in ALL_TOPICS:
        assert topic.partitions >= 1
        assert topic.description
        assert topic.key


@pytest.mark.parametrize("topic", ALL_TOPICS, ids=lambda t: t.name)
def test_topic_by_name(topic: Topic) -> None:
    assert topic_by_name(topic.name) is topic


def test_topic_by_name_lists_known_topics_for_an_unknown_one() -> None:
    with pytest.raises(TopicError) as caught:
        topic_by_name("lgsp.nope")
    message = str(caught.value)
    assert "'lgsp.nope'" in message
    assert all(topic.name in message for topic in ALL_TOPICS)


@pytest.mark.parametrize("department", list(Department))
def test_department_of_topic(department: Department) -> None:
    assert department_of_topic(DEPARTMENT_TOPICS[department].name) is department


@pytest.mark.parametrize("topic", [RECONCILED, REJECTED, INDICATORS, EXCHANGE_ACKS], ids=lambda t: t.name)
def test_department_of_a_hub_topic_is_an_error(topic: Topic) -> None:
    with pytest.raises(TopicError, match="not a department topic"):
        department_of_topic(topic.name)


def test_subject_uses_topic_name_strategy() -> None:
    assert RECONCILED.subject == "lgsp.reconciled-value"
    assert DEPARTMENT_TOPICS[Department.LAND].subject == "lgsp.land.records-value"


def test_dead_letter_topics_keep_original_bytes() -> None:
    dead_letters = {REJECTED, INDICATORS_DEAD_LETTERS, INDICATORS_LATE, FORWARD_DEAD_LETTERS}
    assert all(topic.value_schema is None for topic in dead_letters)
    assert all(
        topic.value_schema
        for topic in ALL_TOPICS
        if topic not in dead_letters | {INDICATORS_COUNTS, POSITIONS}
    )


def test_department_agencies() -> None:
    assert {d: d.agency for d in Department} == {
        Department.CIVIL_STATUS: "STP",
        Department.LAND: "STNMT",
        Department.HEALTH: "SYT",
        Department.SOCIAL_INSURANCE: "BHXH",
    }


def test_department_values_are_snake_case() -> None:
    assert [d.value for d in Department] == ["civil_status", "land", "health", "social_insurance"]


def test_groups_are_distinct() -> None:
    values = [g.value for g in Group]
    assert len(values) == len(set(values)) == 4
    assert all(v.startswith("hub.") for v in values)
