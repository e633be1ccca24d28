"""The house, as tests: import-linter's contracts (pyproject.toml), no import circles, one stage list."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

import hub.stages
from hub.service import STAGES

ROOT = Path(__file__).resolve().parent.parent


def circles(imports: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Groups of modules that import each other in a loop (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in imports.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1 or module in imports.get(module, ()):
                found.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return found


def test_circles_finds_a_loop_and_nothing_else() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_import_linter_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert lint_imports(config_filename="pyproject.toml", no_cache=True) == 0


def test_no_import_circles_anywhere() -> None:
    graph = grimp.build_graph("hub", "producers", "consumers", cache_dir=None)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    assert circles(imports) == []


def test_every_stage_folder_is_built_from_the_one_list() -> None:
    folders = {info.name for info in pkgutil.iter_modules(hub.stages.__path__) if info.ispkg}
    listed = {
        spec.build.__module__.split(".")[2] for spec in STAGES if spec.build.__module__.startswith("hub.")
    }
    assert folders == listed
    for spec in STAGES:
        package = importlib.import_module(spec.build.__module__.rsplit(".", 1)[0])
        assert package.build is spec.build  # each folder exposes one way to build its stage
