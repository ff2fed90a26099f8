"""Every key we hand the Airflow chart is one its templates read (helm/airflow/chart-reads.yaml).

The chart's values.schema.json accepts keys no template reads (it took `securityContexts.container`
while the templates read `securityContexts.containers`), so schema validation alone lets such a
key be silently ignored. Here every leaf of helm/airflow/values*.yaml and of skaffold.yaml's airflow
release must sit at or below a read path, and its values comment must name the template.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.helpers.chart_reads import (
    ChartReads,
    comment_naming_template,
    key_comments,
    leaf_paths,
    set_key_path,
)
from tests.helpers.skaffold_config import ROOT, effective, load_configs

VALUES_FILES = sorted((ROOT / "helm" / "airflow").glob("values*.yaml"))


@pytest.fixture(scope="module")
def reads() -> ChartReads:
    return ChartReads.load()


def test_there_are_two_values_files() -> None:
    assert [p.name for p in VALUES_FILES] == ["values-kind.yaml", "values.yaml"]


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_every_key_of_the_values_files_is_read_by_a_template(reads: ChartReads, path: Path) -> None:
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = reads.uncovered(leaf_paths(values))
    assert not missing, f"{path.name}: keys no chart template reads (Helm ignores them): {missing}"


@pytest.mark.parametrize("profile", ["kind", "gke"])
def test_every_key_skaffold_sets_is_read_by_a_template(reads: ChartReads, profile: str) -> None:
    config = effective(load_configs()["census-releases"], [profile])
    release = next(r for r in config["deploy"]["helm"]["releases"] if r["name"] == "airflow")
    keys = [*release.get("setValues", {}), *release.get("setValueTemplates", {})]
    assert keys
    missing = reads.uncovered([set_key_path(k) for k in keys])
    assert not missing, f"skaffold.yaml ({profile}) sets keys no chart template reads: {missing}"


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: p.name)
def test_each_key_comment_names_the_template_that_reads_it(reads: ChartReads, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    comments = key_comments(text)
    problems = []
    for leaf in leaf_paths(yaml.safe_load(text)):
        read = reads.covering(leaf)
        assert read is not None
        template = Path(reads.reads[read][0]).name
        if template not in comment_naming_template(comments, read):
            problems.append(f"{read} (read by {reads.reads[read][0]})")
    assert not problems, f"{path.name}: comments that do not name the template: {sorted(set(problems))}"


@pytest.mark.parametrize(
    "typo",
    [
        "securityContexts.container.runAsNonRoot",  # the defect this file was written for
        "scheduler.resouces.requests.cpu",
        "postgresql.primary.securityContext.runAsUser",
        "images.airflow.tags",
        "apiServer.service.port",
    ],
)
def test_the_checker_rejects_keys_no_template_reads(reads: ChartReads, typo: str) -> None:
    assert reads.uncovered([typo]) == [typo]


def test_every_read_names_a_template_whose_version_is_recorded(reads: ChartReads) -> None:
    recorded = set(reads.data["stored_versions"])
    for path, (template, expression) in reads.reads.items():
        assert template in recorded, f"{path}: {template} has no stored version recorded"
        assert expression.strip(), path
    for sha in reads.data["stored_versions"].values():
        assert len(sha) == 40 and int(sha, 16) >= 0


def test_the_reads_are_for_the_chart_version_skaffold_deploys(reads: ChartReads) -> None:
    config = load_configs()["census-releases"]
    release = next(r for r in config["deploy"]["helm"]["releases"] if r["name"] == "airflow")
    assert str(release["version"]) == reads.data["chart"]["version"]
    assert (
        release["repo"] == reads.data["chart"]["repo"]
        and release["remoteChart"] == reads.data["chart"]["name"]
    )
