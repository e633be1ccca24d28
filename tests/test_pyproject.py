"""pyproject.toml: every dependency, runtime and dev, has an upper bound on its version."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
UPPER_BOUNDS = {"<", "<=", "~=", "==", "==="}


def _requirements() -> list[Requirement]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    texts = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        texts += group
    return [Requirement(text) for text in texts]


REQUIREMENTS = _requirements()


def test_dependencies_are_found() -> None:
    names = {r.name for r in REQUIREMENTS}
    assert {"confluent-kafka", "numpy", "pytest", "ruff"} <= names


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=str)
def test_dependency_has_an_upper_bound(requirement: Requirement) -> None:
    operators = {spec.operator for spec in requirement.specifier}
    assert operators & UPPER_BOUNDS, f"{requirement}: no upper bound on the version"


@pytest.mark.parametrize("requirement", REQUIREMENTS, ids=str)
def test_installed_version_is_allowed(requirement: Requirement) -> None:
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        pytest.skip(f"{requirement.name} is not installed here")
    assert requirement.specifier.contains(installed, prereleases=True), f"{requirement}: have {installed}"
