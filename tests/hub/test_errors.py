"""Unit tests for hub.errors: every error class is a HubError, exported, and in the drawn hierarchy."""

from __future__ import annotations

import inspect
import re

import pytest

import hub.errors

DEFINED = [
    cls for _, cls in inspect.getmembers(hub.errors, inspect.isclass) if cls.__module__ == hub.errors.__name__
]


def test_the_module_defines_errors() -> None:
    assert hub.errors.HubError in DEFINED and len(DEFINED) > 1


@pytest.mark.parametrize("cls", DEFINED, ids=lambda cls: cls.__name__)
def test_error_derives_from_hub_error(cls: type) -> None:
    assert issubclass(cls, hub.errors.HubError)


@pytest.mark.parametrize("cls", DEFINED, ids=lambda cls: cls.__name__)
def test_error_is_exported(cls: type) -> None:
    assert cls.__name__ in hub.errors.__all__


def _drawn_parents() -> dict[str, str | None]:
    """Class name → its parent's name, as the module docstring's hierarchy draws them."""
    drawing = (hub.errors.__doc__ or "").split("Hierarchy::", 1)[1].split("\n\n")[1]
    parents: dict[str, str | None] = {}
    path: list[str] = []  # the names drawn at depth 0, 1, 2… above the current line
    for line in drawing.splitlines():
        match = re.match(r"([\s│├└─]*)(\w+)", line)
        assert match, line
        depth = (len(match[1]) - 4) // 4
        del path[depth:]
        parents[match[2]] = path[-1] if path else None
        path.append(match[2])
    return parents


@pytest.mark.parametrize("cls", DEFINED, ids=lambda cls: cls.__name__)
def test_error_is_in_the_docstring_hierarchy_under_its_base(cls: type) -> None:
    parents = _drawn_parents()
    assert cls.__name__ in parents
    base = cls.__bases__[0]
    assert parents[cls.__name__] == (None if base is Exception else base.__name__)


def test_all_names_only_defined_errors() -> None:
    assert sorted(hub.errors.__all__) == sorted(cls.__name__ for cls in DEFINED)
