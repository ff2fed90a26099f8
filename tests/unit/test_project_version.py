"""One project version: VERSION. Every place that repeats it is read from it or held to it here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.helpers.stages import PROJECT_VERSION, ROOT

PYPROJECTS = sorted([ROOT / "pyproject.toml", *ROOT.glob("images/*/pyproject.toml")])


def test_version_file_is_a_plain_semantic_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", PROJECT_VERSION), PROJECT_VERSION


@pytest.mark.parametrize("path", PYPROJECTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_distribution_has_the_project_version(path: Path) -> None:
    project = tomllib.loads(path.read_text())["project"]
    assert project["version"] == PROJECT_VERSION
    for dependency in project.get("dependencies", []):
        if dependency.startswith("census-pipeline-common"):
            assert dependency == f"census-pipeline-common=={PROJECT_VERSION}", path


def test_packages_report_the_installed_project_version() -> None:
    import extractor
    import pipeline_common
    import preprocessor
    import trainer

    assert {m.__version__ for m in (pipeline_common, extractor, preprocessor, trainer)} == {PROJECT_VERSION}


def test_images_tags_and_charts_use_the_project_version() -> None:
    for dockerfile in ROOT.glob("images/*/Dockerfile"):
        text = dockerfile.read_text()
        declared = re.findall(r"(?m)^ARG VERSION=(\S+)$", text)
        labelled = re.findall(r'org\.opencontainers\.image\.version="([^"$]+)"', text)
        assert declared + labelled, dockerfile
        assert set(declared + labelled) == {PROJECT_VERSION}, dockerfile
        for tag in re.findall(r"census-pipeline/\w+:(\S+)", text):
            assert tag == PROJECT_VERSION, (dockerfile, tag)
    skaffold = [d for d in yaml.safe_load_all((ROOT / "skaffold.yaml").read_text()) if d]
    templates = [d["build"]["tagPolicy"]["envTemplate"]["template"] for d in skaffold if "build" in d]
    assert templates == [PROJECT_VERSION]
    profiles = [p for d in skaffold for p in d.get("profiles", []) if "build" in p]
    for profile in profiles:
        assert profile["build"]["tagPolicy"]["customTemplate"]["template"].startswith(f"{PROJECT_VERSION}-")
    assert yaml.safe_load((ROOT / "helm/mlflow/values.yaml").read_text())["image"]["tag"] == PROJECT_VERSION
    airflow = yaml.safe_load((ROOT / "helm/airflow/values.yaml").read_text())
    assert airflow["images"]["airflow"]["tag"] == airflow["defaultAirflowTag"] == PROJECT_VERSION
    for path in (
        ROOT / "helm/airflow/values.yaml",
        ROOT / "helm/airflow/values-kind.yaml",
        *ROOT.glob("k8s/*.yaml"),
    ):
        for tag in re.findall(r"census-pipeline/\w+:([\w.-]+)", path.read_text()):
            assert tag == PROJECT_VERSION, (path, tag)
    assert yaml.safe_load((ROOT / "helm/mlflow/Chart.yaml").read_text())["version"] == PROJECT_VERSION
    script = (ROOT / "scripts" / "build_images.sh").read_text()
    assert 'tag=${TAG:-$(cat "${root}/VERSION")}' in script
