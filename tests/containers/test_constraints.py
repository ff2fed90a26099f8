"""images/*/constraints.txt: pinned closures that stay in sync with the packages' pyproject deps.

Regenerate with `make lock-images` (scripts/lock_images.sh). The image tests check the other
direction: what is installed in each image is exactly what its constraints file pins.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.containers.kpo import ROOT

STAGES = ("extractor", "preprocessor", "trainer")
MLFLOW_PINS = {"mlflow": "3.17.2"}


def pins(image: str) -> dict[str, Version]:
    path = ROOT / "images" / image / "constraints.txt"
    assert path.is_file(), f"{path} missing: run `make lock-images`"
    result = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path}: '{line}' is not pinned with =="
            result[canonicalize_name(name)] = Version(version)
    return result


def dependencies(package_dir: Path) -> list[Requirement]:
    project = tomllib.loads((package_dir / "pyproject.toml").read_text())["project"]
    return [Requirement(dep) for dep in project.get("dependencies", [])]


@pytest.mark.parametrize("stage", STAGES)
def test_constraints_pin_every_dependency_within_its_range(stage: str) -> None:
    pinned = pins(stage)
    problems = []
    for package in ("common", stage):
        for req in dependencies(ROOT / "images" / package):
            name = canonicalize_name(req.name)
            if name.startswith("census-"):
                continue  # the project's own packages are installed from the build context
            if name not in pinned:
                problems.append(f"{req} (from images/{package}) is not pinned")
            elif not req.specifier.contains(pinned[name], prereleases=True):
                problems.append(f"{req} (from images/{package}) excludes the pin {name}=={pinned[name]}")
    assert not problems, "\n".join(problems) + "\nfix: run `make lock-images`"


@pytest.mark.parametrize("stage", STAGES)
def test_constraints_hold_no_local_package(stage: str) -> None:
    assert not [name for name in pins(stage) if name.startswith("census-")]


def test_mlflow_image_pins() -> None:
    pinned = pins("mlflow")
    assert pinned[canonicalize_name("mlflow")] == Version("3.17.2")
    assert {"google-cloud-storage", "psycopg2-binary"} <= set(pinned)
