"""Unit tests for hub.schema_store.compatibility: which pairs each level checks, and the messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.avro.catalog import get_catalog
from hub.errors import ConfigError, SchemaError
from hub.schema_store.compatibility import (
    LEVELS,
    Compatibility,
    check_compatibility,
    parse_avro,
    validate_level,
)


def record(*fields: dict[str, Any]) -> str:
    return json.dumps({"type": "record", "name": "Person", "namespace": "t", "fields": list(fields)})


NAME = {"name": "name", "type": "string"}
AGE = {"name": "age", "type": "int"}
V1 = record(NAME, AGE)
CANDIDATES = {
    "add_with_default": record(NAME, AGE, {"name": "nickname", "type": "string", "default": ""}),
    "add_without_default": record(NAME, AGE, {"name": "nickname", "type": "string"}),
    "remove_without_default": record(NAME),
    "change_type": record(NAME, {"name": "age", "type": "string"}),
    "widen_type": record(NAME, {"name": "age", "type": "long"}),
}
# Expected outcome against V1 alone, per level family: True compatible, False not.
EXPECTED = {
    "add_with_default": {"NONE": True, "BACKWARD": True, "FORWARD": True, "FULL": True},
    "add_without_default": {"NONE": True, "BACKWARD": False, "FORWARD": True, "FULL": False},
    "remove_without_default": {"NONE": True, "BACKWARD": True, "FORWARD": False, "FULL": False},
    "change_type": {"NONE": True, "BACKWARD": False, "FORWARD": False, "FULL": False},
    "widen_type": {"NONE": True, "BACKWARD": True, "FORWARD": False, "FULL": False},
}


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("candidate", sorted(CANDIDATES))
def test_every_level_against_one_version(level: str, candidate: str) -> None:
    outcome = check_compatibility(CANDIDATES[candidate], [(1, V1)], level)
    expected = EXPECTED[candidate][level.removesuffix("_TRANSITIVE")]
    assert outcome.is_compatible is expected, outcome.messages
    if not expected:
        assert outcome.messages[0].startswith(f"incompatible with version 1 under {level}: ")


def test_backward_message_names_the_field_and_the_rule() -> None:
    outcome = check_compatibility(CANDIDATES["add_without_default"], [(1, V1)], "BACKWARD")
    assert outcome.messages == (
        "incompatible with version 1 under BACKWARD: field 'nickname' (/fields/2) has no default value, "
        "so the new schema cannot read old records [READER_FIELD_MISSING_DEFAULT_VALUE]",
    )


def test_forward_message_names_the_removed_field() -> None:
    (message,) = check_compatibility(CANDIDATES["remove_without_default"], [(3, V1)], "FORWARD").messages
    assert (
        "field 'age' (/fields/1) is missing from the new schema and has no default value in version 3"
        in message
    )
    assert (
        "readers still on version 3 cannot read new records [READER_FIELD_MISSING_DEFAULT_VALUE]" in message
    )


def test_full_reports_both_directions_of_a_type_change() -> None:
    backward, forward = check_compatibility(CANDIDATES["change_type"], [(1, V1)], "FULL").messages
    assert (
        "field 'age' (/fields/1/type): reader type: string not compatible with writer type: int" in backward
    )
    assert "the new schema cannot read old records [TYPE_MISMATCH]" in backward
    assert "reader type: int not compatible with writer type: string" in forward


def test_a_field_made_required_is_located_inside_its_union() -> None:
    optional = record(NAME, {"name": "email", "type": ["null", "string"], "default": None})
    required = record(NAME, {"name": "email", "type": "string"})
    (message,) = check_compatibility(required, [(1, optional)], "BACKWARD").messages
    assert (
        "field 'email' (/fields/1/type): reader type: string not compatible with writer type: null" in message
    )
    assert check_compatibility(required, [(1, optional)], "FORWARD").is_compatible


def test_nested_fields_are_named_by_their_path() -> None:
    land = json.loads(get_catalog().text("vn.lgsp.LandRecord"))
    citizen = next(field for field in land["fields"] if field["name"] == "citizen")
    name = next(field for field in citizen["type"]["fields"] if field["name"] == "HoVaTen")
    old = json.dumps(land)
    name["type"] = "int"
    (message,) = check_compatibility(json.dumps(land), [(1, old)], "BACKWARD").messages
    assert "field 'citizen.HoVaTen' (/fields/3/type/fields/2/type)" in message


def test_several_problems_are_all_named() -> None:
    broken = record({"name": "name", "type": "int"}, AGE, {"name": "nickname", "type": "string"})
    (message,) = check_compatibility(broken, [(1, V1)], "BACKWARD").messages
    assert "field 'name' (/fields/0/type)" in message and "field 'nickname' (/fields/2)" in message
    assert "[READER_FIELD_MISSING_DEFAULT_VALUE, TYPE_MISMATCH]" in message


def test_transitive_levels_check_every_version_not_only_the_latest() -> None:
    v1 = record(NAME)
    v2 = record(NAME, {"name": "nickname", "type": "string", "default": ""})
    new = record(NAME, {"name": "nickname", "type": "string"})
    history = [(1, v1), (2, v2)]
    assert check_compatibility(new, history, "BACKWARD").is_compatible
    (message,) = check_compatibility(new, history, "BACKWARD_TRANSITIVE").messages
    assert message.startswith("incompatible with version 1 under BACKWARD_TRANSITIVE: field 'nickname'")
    assert not check_compatibility(new, history, "FULL_TRANSITIVE").is_compatible


def test_forward_transitive_checks_every_version() -> None:
    v1 = record(NAME, AGE)
    v2 = record(NAME, {"name": "age", "type": "int", "default": 0})
    new = record(NAME)
    assert check_compatibility(new, [(1, v1), (2, v2)], "FORWARD").is_compatible
    outcome = check_compatibility(new, [(1, v1), (2, v2)], "FORWARD_TRANSITIVE")
    assert (
        len(outcome.messages) == 1
        and "version 1 under FORWARD_TRANSITIVE: field 'age'" in outcome.messages[0]
    )


def test_no_previous_version_is_always_compatible() -> None:
    for level in LEVELS:
        assert check_compatibility(V1, [], level).is_compatible


def test_hub_schemas_are_compatible_with_themselves_at_every_level() -> None:
    catalog = get_catalog()
    for name in catalog.names():
        text = catalog.text(name)
        for level in LEVELS:
            assert check_compatibility(text, [(1, text)], level).is_compatible, (name, level)


def test_summary_counts_the_other_messages() -> None:
    assert Compatibility(("a", "b", "c")).summary() == "a (and 2 more)"
    assert Compatibility(("a",)).summary() == "a"
    assert Compatibility().is_compatible


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "schema is not JSON"),
        (
            '{"type": "record", "name": "P", "fields": [{"name": "a", "type": "nosuchtype"}]}',
            "not a valid Avro",
        ),
        ('{"type": "record", "name": "P"}', "not a valid Avro"),
        ('{"type": "enum", "name": "E", "symbols": ["A", "A"]}', "not a valid Avro"),
        (
            '{"type": "record", "name": "P", "fields": [{"name": "a", "type": "int", "default": "x"}]}',
            "not a valid",
        ),
    ],
)
def test_invalid_avro_is_a_schema_error(text: str, fragment: str) -> None:
    with pytest.raises(SchemaError, match=fragment):
        parse_avro(text)
    with pytest.raises(SchemaError):
        check_compatibility(text, [(1, V1)], "NONE")


def test_unknown_level_is_a_config_error() -> None:
    assert validate_level("FULL_TRANSITIVE") == "FULL_TRANSITIVE"
    with pytest.raises(ConfigError, match="unknown compatibility level 'SIDEWAYS'"):
        check_compatibility(V1, [(1, V1)], "SIDEWAYS")
