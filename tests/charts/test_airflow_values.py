"""helm/airflow values merged over the official chart's defaults like Helm does, validated by its schema."""

from __future__ import annotations

import copy
import functools
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.charts.render import ROOT, helm_merge, validate_k8s
from tests.helpers.pss import object_violations
from tests.helpers.schemas import schema_path

VALUES = ROOT / "helm" / "airflow" / "values.yaml"
VALUES_KIND = ROOT / "helm" / "airflow" / "values-kind.yaml"
CONTRACT = ROOT / "docs" / "contract.md"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"


def chart_defaults() -> Path:
    """The official chart's values.yaml (pinned in schemas/schemas.lock; `make schemas` fetches it)."""
    return schema_path("airflow-chart-values.yaml")


@functools.cache
def _parse(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def _load(path: Path) -> dict[str, Any]:
    """A private copy of a parsed values file (the chart defaults take seconds to parse)."""
    return copy.deepcopy(_parse(path))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(schema_path("airflow-chart-values.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, values: dict[str, Any]) -> list[str]:
    """Schema errors of `values` merged over the chart defaults, plus unknown top-level keys.

    The chart's schema leaves the root open (Helm would silently ignore `executer:`), so the
    top level is checked against the schema's property names here.
    """
    merged = helm_merge(_load(chart_defaults()), values)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator.iter_errors(merged)
    ]
    known = validator.schema["properties"].keys()
    errors += [
        f"<root>: {key!r} was unexpected (not a value of the Airflow chart)"
        for key in values
        if key not in known
    ]
    return errors


def _merged(*files: Path) -> dict[str, Any]:
    merged = _load(chart_defaults())
    for file in files:
        merged = helm_merge(merged, _load(file))
    return merged


@pytest.mark.parametrize("files", [(VALUES,), (VALUES, VALUES_KIND)], ids=["values", "values+kind"])
def test_values_validate_against_the_chart_schema(
    validator: jsonschema.Draft7Validator, files: tuple[Path, ...]
) -> None:
    overrides: dict[str, Any] = {}
    for file in files:
        overrides = helm_merge(overrides, _load(file))
    errors = _errors(validator, overrides)
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    ("typo", "where"),
    [
        ({"executer": "LocalExecutor"}, "'executer' was unexpected"),
        ({"scheduler": {"resouces": {}}}, "'resouces' was unexpected"),
        ({"migrateDatabaseJob": {"useHelmHook": False}}, "'useHelmHook' was unexpected"),
        ({"images": {"airflow": {"tags": "0.1.0"}}}, "'tags' was unexpected"),
    ],
    ids=["top-level", "scheduler", "migrate-job", "image"],
)
def test_a_misspelt_key_fails(
    validator: jsonschema.Draft7Validator, typo: dict[str, Any], where: str
) -> None:
    errors = _errors(validator, helm_merge(_load(VALUES), typo))
    assert any(where in e for e in errors), errors


def test_a_wrong_type_fails(validator: jsonschema.Draft7Validator) -> None:
    errors = _errors(validator, helm_merge(_load(VALUES), {"migrateDatabaseJob": {"useHelmHooks": "false"}}))
    assert any(e.startswith("migrateDatabaseJob/useHelmHooks") for e in errors), errors


def test_merge_follows_helm_semantics() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": "keep", "c": {"gone": True}}
    assert helm_merge(base, {"a": {"y": [3]}, "c": None}) == {"a": {"x": 1, "y": [3]}, "b": "keep"}
    assert base["a"]["y"] == [1, 2], "inputs are not modified"


def test_deployment_shape() -> None:
    merged = _merged(VALUES)
    assert merged["executor"] == "LocalExecutor"
    assert merged["images"]["airflow"] == {
        "repository": "census-pipeline/airflow",
        "tag": "0.1.0",
        "digest": None,
        "pullPolicy": "IfNotPresent",
    }
    assert merged["airflowVersion"].startswith("3.")
    assert merged["migrateDatabaseJob"]["useHelmHooks"] is False
    assert merged["createUserJob"]["useHelmHooks"] is False
    assert merged["jwtSecretName"] and merged["apiSecretKeySecretName"] and merged["fernetKeySecretName"]
    assert merged["dags"]["persistence"]["enabled"] is False and merged["dags"]["gitSync"]["enabled"] is False
    assert merged["redis"]["enabled"] is False
    assert merged["data"]["metadataSecretName"]


def test_no_password_in_values() -> None:
    merged = _merged(VALUES)
    assert "defaultUser" not in json.dumps(merged["createUserJob"]["args"]), (
        "password must not come from values"
    )
    assert merged["createUserJob"]["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "airflow-admin"
    assert "AIRFLOW_ADMIN_PASSWORD" in merged["createUserJob"]["args"][-1]
    assert merged["postgresql"]["auth"]["existingSecret"]
    text = VALUES.read_text(encoding="utf-8") + VALUES_KIND.read_text(encoding="utf-8")
    assert not re.search(r"(?i)^\s*[a-z]*password:\s*\S", text, re.MULTILINE)


def _env(merged: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in merged["env"]}


def _contract_variables() -> list[str]:
    row = next(
        line
        for line in CONTRACT.read_text(encoding="utf-8").splitlines()
        if line.startswith("| Airflow Variables")
    )
    return re.findall(r"`([a-z_]+)`", row.split("|")[2])


@pytest.mark.parametrize("files", [(VALUES,), (VALUES, VALUES_KIND)], ids=["values", "values+kind"])
def test_every_contract_variable_is_set(files: tuple[Path, ...]) -> None:
    env = _env(_merged(*files))
    variables = _contract_variables()
    assert "extractor_image" in variables and "gcs_emulator_host" in variables
    for name in variables:
        assert f"AIRFLOW_VAR_{name.upper()}" in env, name
    for stage in ("extractor", "preprocessor", "trainer"):
        assert env[f"AIRFLOW_VAR_{stage.upper()}_IMAGE"] == f"census-pipeline/{stage}:0.1.0"
    assert env["AIRFLOW_VAR_MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    assert env["AIRFLOW_VAR_PIPELINE_NAMESPACE"] == "ml-pipeline"
    assert env["AIRFLOW_VAR_DATA_BUCKET"] == "census-pipeline-data"


def _kind_sources() -> dict[str, str]:
    """AIRFLOW_VAR_DEFAULT_SOURCE_<DATASET> -> the object the seed Job uploads for that dataset."""
    from pipeline_common import dataset_spec

    from tests.helpers import seed_job

    return {
        f"AIRFLOW_VAR_DEFAULT_SOURCE_{name.upper()}": seed_job.seed_uri(dataset_spec.load(name).local_source)
        for name in dataset_spec.available()
    }


def test_kind_overlay_changes_only_the_emulator_host_and_adds_each_datasets_seeded_source() -> None:
    base, kind = _env(_merged(VALUES)), _env(_merged(VALUES, VALUES_KIND))
    assert base["AIRFLOW_VAR_GCS_EMULATOR_HOST"] == ""
    assert (
        kind["AIRFLOW_VAR_GCS_EMULATOR_HOST"] == "http://fake-gcs-server.ml-pipeline.svc.cluster.local:4443"
    )
    # kind extracts what the seed Job uploads, for every dataset; elsewhere each spec's
    # default_source decides (census: the public table), so the base values set none.
    sources = _kind_sources()
    assert {k: v for k, v in kind.items() if k.startswith("AIRFLOW_VAR_DEFAULT_SOURCE")} == sources
    assert not [k for k in base if k.startswith("AIRFLOW_VAR_DEFAULT_SOURCE")]
    assert base["AIRFLOW_VAR_BIGQUERY_PROJECT"] == kind["AIRFLOW_VAR_BIGQUERY_PROJECT"] == ""
    assert {k: v for k, v in kind.items() if k not in {*sources, "AIRFLOW_VAR_GCS_EMULATOR_HOST"}} == {
        k: v for k, v in base.items() if k != "AIRFLOW_VAR_GCS_EMULATOR_HOST"
    }
    assert [k for k in kind if k not in sources] == list(base), "the base variables in the same order"
    assert list(kind)[:3] == list(base)[:3], "skaffold sets the three images by position"


def _kubernetes_extra(files: tuple[Path, ...]) -> dict[str, Any]:
    conn = json.loads(_env(_merged(*files))["AIRFLOW_CONN_KUBERNETES_DEFAULT"])
    assert conn["conn_type"] == "kubernetes"
    return conn["extra"]


@pytest.mark.parametrize("files", [(VALUES,), (VALUES, VALUES_KIND)], ids=["values", "values+kind"])
def test_kubernetes_connection_runs_in_cluster_with_a_pinned_sidecar_image(files: tuple[Path, ...]) -> None:
    extra = _kubernetes_extra(files)
    assert extra["in_cluster"] is True
    assert extra["namespace"] == "ml-pipeline"
    assert re.fullmatch(r"alpine:\d+\.\d+\.\d+", extra["xcom_sidecar_container_image"])


@pytest.mark.parametrize("files", [(VALUES,), (VALUES, VALUES_KIND)], ids=["values", "values+kind"])
def test_the_sidecar_is_defined_once_in_the_dags_not_in_the_connection(files: tuple[Path, ...]) -> None:
    # The operator passes its own xcom_sidecar_container_security_context, which wins over the
    # connection's; resources set here would silently replace the DAGs' (docs/dags.md). One
    # definition: dags/census_pipeline/ops.py (checked against the pods in tests/dags).
    extra = _kubernetes_extra(files)
    assert "xcom_sidecar_container_security_context" not in extra
    assert "xcom_sidecar_container_resources" not in extra


def test_every_component_has_resources_and_security_context() -> None:
    merged = _merged(VALUES)
    components = [
        "scheduler",
        "apiServer",
        "dagProcessor",
        "triggerer",
        "migrateDatabaseJob",
        "createUserJob",
    ]
    sidecars = ["scheduler", "dagProcessor", "triggerer"]
    for name in components:
        res = merged[name]["resources"]
        assert {"cpu", "memory"} <= res["requests"].keys() and {"cpu", "memory"} <= res["limits"].keys(), name
    for name in sidecars:
        res = merged[name]["logGroomerSidecar"]["resources"]
        assert res["requests"] and res["limits"], f"{name}.logGroomerSidecar"
    assert merged["postgresql"]["primary"]["resources"]["limits"]
    # `containers` (plural): templates/_helpers.yaml containerSecurityContext reads that key only.
    assert "container" not in merged["securityContexts"]
    pod_sc, ctr_sc = merged["securityContexts"]["pod"], merged["securityContexts"]["containers"]
    assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] == 50000
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctr_sc["allowPrivilegeEscalation"] is False and ctr_sc["capabilities"] == {"drop": ["ALL"]}
    for disabled in ("triggerer", "workers"):
        assert merged[disabled]["persistence"]["enabled"] is False, disabled
    assert merged["statsd"]["enabled"] is False and merged["logs"]["persistence"]["enabled"] is False


def test_pinned_chart_version_is_documented_consistently() -> None:
    pinned = set(re.findall(r"--version (\d+\.\d+\.\d+)", VALUES.read_text(encoding="utf-8")))
    assert len(pinned) == 1
    version = pinned.pop()
    major, minor, _ = (int(p) for p in version.split("."))
    assert (major, minor) >= (1, 19)
    assert set(re.findall(r"--version (\d+\.\d+\.\d+)", VALUES_KIND.read_text(encoding="utf-8"))) == {version}
    assert set(
        re.findall(
            r"apache-airflow/airflow --version (\d+\.\d+\.\d+)", DEPLOYMENT_DOC.read_text(encoding="utf-8")
        )
    ) == {version}


# -- the pods the release runs (modelled from the templates: tests/helpers/airflow_release.py) ------
@pytest.fixture(scope="module", params=["gke", "kind"])
def release_pods(request: pytest.FixtureRequest) -> dict[str, dict[str, Any]]:
    from tests.helpers.airflow_release import merged_values
    from tests.helpers.airflow_release import release_pods as pods

    return pods(merged_values(request.param, chart_defaults()))


def test_every_release_pod_is_valid_kubernetes_and_restricted(release_pods) -> None:
    assert {"scheduler", "api-server", "dag-processor", "triggerer", "postgresql"} <= set(release_pods)
    assert {"run-airflow-migrations", "create-user"} <= set(release_pods)
    problems = []
    for name, pod in release_pods.items():
        validate_k8s(pod)
        problems += [f"{name}: {p}" for p in object_violations(pod)]
    assert not problems, "\n".join(problems)


def test_every_airflow_container_gets_our_container_security_context(release_pods) -> None:
    ours = _load(VALUES)["securityContexts"]["containers"]
    for name, pod in release_pods.items():
        if name == "postgresql":
            continue
        for ctr in [*pod["spec"]["containers"], *pod["spec"].get("initContainers", [])]:
            assert ctr["securityContext"] == ours, (name, ctr["name"])


def test_postgres_pulls_an_existing_pinned_image_and_runs_restricted(release_pods) -> None:
    pod = release_pods["postgresql"]
    (ctr,) = pod["spec"]["containers"]
    # docker.io/bitnami/postgresql's Debian tags were withdrawn in 2025; bitnamilegacy keeps them.
    assert ctr["image"] == "docker.io/bitnamilegacy/postgresql:16.1.0-debian-11-r15"
    sc, psc = ctr["securityContext"], pod["spec"]["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]} and sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert psc["fsGroup"] == sc["runAsUser"] == 1001 and psc["seccompProfile"] == {"type": "RuntimeDefault"}


def test_without_the_enabled_flags_postgres_would_break_restricted() -> None:
    # The subchart renders its securityContexts only when `enabled`: a guard that the model (and the
    # values) depend on the flag the template reads.
    from tests.helpers.airflow_release import merged_values, postgresql_pod

    values = merged_values("kind", chart_defaults())
    values["postgresql"]["primary"]["containerSecurityContext"]["enabled"] = False
    values["postgresql"]["primary"]["podSecurityContext"]["enabled"] = False
    assert object_violations(postgresql_pod(values))
