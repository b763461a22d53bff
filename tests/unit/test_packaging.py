"""The dependency ranges: no exact pins, and CI's lowest cell installs exactly their floors."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[2]


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    texts = project["dependencies"] + extras["postgres"] + extras["example"] + extras["kafka"]
    return [Requirement(text) for text in texts]


def _pins(name: str) -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints" / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            [spec] = requirement.specifier
            assert spec.operator == "==", line
            pins[requirement.name] = Version(spec.version)
    return pins


def test_no_dependency_is_pinned_exactly() -> None:
    for requirement in _requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert ">=" in operators, f"{requirement} has no floor"
        assert not operators & {"==", "===", "~="}, f"{requirement} is pinned"


def test_the_lowest_cell_installs_every_floor() -> None:
    floors = {
        r.name: Version(next(s.version for s in r.specifier if s.operator == ">="))
        for r in _requirements()
    }
    assert _pins("lowest.txt") == floors


def test_the_development_versions_are_inside_the_ranges() -> None:
    ranges = {r.name: r.specifier for r in _requirements()}
    for name, version in _pins("dev.txt").items():
        assert version in ranges[name], f"{name}=={version} is outside {ranges[name]}"
