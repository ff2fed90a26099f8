"""helm/mlflow rendered by Helm's engine: Kubernetes schema, restricted PSS, and what each value does."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest

from tests.charts.conftest import PRODUCTION_VALUES
from tests.charts.render import (
    K8S_VERSION,
    MLFLOW_CHART,
    container,
    env_map,
    find,
    find_all,
    helm_merge,
    load_values,
    notes,
    render_chart,
    validate_k8s,
)
from tests.helpers.pss import WORKLOAD_KINDS, object_violations

TRACKING_URI = "http://mlflow.mlflow.svc.cluster.local:5000"  # docs/contract.md
EMULATOR = "http://fake-gcs-server.ml-pipeline.svc.cluster.local:4443"  # docs/contract.md


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def _args(ctr: dict[str, Any]) -> dict[str, str]:
    """`--flag=value` args as a dict (bare flags map to "")."""
    parsed = {}
    for arg in ctr.get("args") or []:
        key, _, value = arg.partition("=")
        parsed[key] = value
    return parsed


# --- every scenario ---------------------------------------------------------------------------


def test_lint_is_clean(scenario: tuple[str, dict[str, Any]]) -> None:
    name, values = scenario
    if shutil.which("helm"):
        proc = subprocess.run(
            ["helm", "lint", "--strict", str(MLFLOW_CHART), "--kube-version", K8S_VERSION, "-f", "-"],
            input=__import__("yaml").safe_dump(values),
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return
    import helm_python

    report = helm_python.lint(MLFLOW_CHART, values, strict=True, kube_version=f"v{K8S_VERSION}")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # 2 warning, 3 error
    assert not problems and not report["errors"], f"{name}: {problems or report['errors']}"


def test_every_object_is_valid_kubernetes(scenario: tuple[str, dict[str, Any]]) -> None:
    _, values = scenario
    objects = render_chart(values)
    assert objects
    for obj in objects:
        validate_k8s(obj)
        assert obj["metadata"]["namespace"] == "mlflow", f"{obj['kind']}/{obj['metadata']['name']}"


def test_every_pod_meets_restricted_pss_and_has_resources(scenario: tuple[str, dict[str, Any]]) -> None:
    name, values = scenario
    objects = render_chart(values)
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    assert {"Deployment", "Pod"} <= {o["kind"] for o in workloads}, name
    problems = [p for o in workloads for p in object_violations(o)]
    assert not problems, "\n".join(problems)


def test_every_mlflow_container_is_read_only_and_runs_as_10002(scenario: tuple[str, dict[str, Any]]) -> None:
    _, values = scenario
    for obj in render_chart(values):
        if (
            obj["kind"] not in WORKLOAD_KINDS
            or obj["metadata"]["labels"].get("app.kubernetes.io/component") == "postgresql"
        ):
            continue
        spec = _pod_spec(obj)
        assert spec["securityContext"]["runAsUser"] == 10002
        assert spec["automountServiceAccountToken"] is False
        for ctr in spec.get("initContainers", []) + spec["containers"]:
            assert ctr["securityContext"]["readOnlyRootFilesystem"] is True, ctr["name"]
            assert ":latest" not in ctr["image"] and ":" in ctr["image"], ctr["image"]
            mounts = {m["mountPath"] for m in ctr.get("volumeMounts", [])}
            assert "/tmp" in mounts or ctr["name"] == "wait-for-postgresql", ctr["name"]


def test_allowed_hosts_list_every_service_name_with_and_without_port(
    scenario: tuple[str, dict[str, Any]],
) -> None:
    _, values = scenario
    deployment = find(render_chart(values), "Deployment", "mlflow")
    hosts = set(_args(container(_pod_spec(deployment), "mlflow"))["--allowed-hosts"].split(","))
    for base in (
        "mlflow",
        "mlflow.mlflow",
        "mlflow.mlflow.svc",
        "mlflow.mlflow.svc.cluster.local",
        "localhost",
    ):
        assert {base, f"{base}:5000"} <= hosts, base
    assert "*" not in hosts


def test_db_upgrade_runs_before_the_server(scenario: tuple[str, dict[str, Any]]) -> None:
    _, values = scenario
    spec = _pod_spec(find(render_chart(values), "Deployment", "mlflow"))
    init = container(spec, "db-upgrade", init=True)
    assert init["command"] == ["mlflow", "db", "upgrade", "$(MLFLOW_BACKEND_STORE_URI)"]
    assert "MLFLOW_BACKEND_STORE_URI" in env_map(init)
    server = container(spec, "mlflow")
    assert server["command"] == ["mlflow", "server"]
    # Same URI definition in both containers: the upgrade migrates the database the server opens.
    assert env_map(init)["MLFLOW_BACKEND_STORE_URI"] == env_map(server)["MLFLOW_BACKEND_STORE_URI"]
    assert env_map(server)["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"]["value"] == "false"


def test_probes_hit_health(scenario: tuple[str, dict[str, Any]]) -> None:
    _, values = scenario
    server = container(_pod_spec(find(render_chart(values), "Deployment", "mlflow")), "mlflow")
    for probe in ("livenessProbe", "readinessProbe"):
        assert server[probe]["httpGet"] == {"path": "/health", "port": "http"}


def test_service_matches_the_contract_tracking_uri(scenario: tuple[str, dict[str, Any]]) -> None:
    _, values = scenario
    objects = render_chart(values)
    service = find(objects, "Service", "mlflow")
    assert [(p["name"], p["port"]) for p in service["spec"]["ports"]] == [("http", 5000)]
    deployment = find(objects, "Deployment", "mlflow")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    test_pod = find(objects, "Pod", "mlflow-test-log-run")
    assert env_map(test_pod["spec"]["containers"][0])["MLFLOW_TRACKING_URI"]["value"] == TRACKING_URI
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert TRACKING_URI in notes(values)


def test_no_secret_value_is_rendered(scenario: tuple[str, dict[str, Any]]) -> None:
    _, values = scenario
    objects = render_chart(values)
    assert not find_all(objects, "Secret"), "the chart only references existing Secrets"
    for obj in objects:
        text = str(obj)
        assert not re.search(r"postgresql(\+\w+)?://[^:$]+:[^$@]+@", text), obj["metadata"]["name"]
        assert "password1234" not in text


# --- default and kind ---------------------------------------------------------------------------


def test_default_is_sqlite_on_a_pvc_with_proxied_gcs_artifacts() -> None:
    objects = render_chart({})
    deployment = find(objects, "Deployment", "mlflow")
    spec = _pod_spec(deployment)
    server = container(spec, "mlflow")
    args = _args(server)
    assert "--serve-artifacts" in args
    assert args["--artifacts-destination"] == "gs://census-pipeline-mlflow/"
    assert "--app-name" not in args
    env = env_map(server)
    assert env["MLFLOW_BACKEND_STORE_URI"]["value"] == "sqlite:////mlflow/data/mlflow.db"
    assert "STORAGE_EMULATOR_HOST" not in env and "GOOGLE_APPLICATION_CREDENTIALS" not in env
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "mlflow-data"
    assert find(objects, "PersistentVolumeClaim", "mlflow-data")["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert deployment["spec"]["strategy"]["type"] == "Recreate", "RWO volume: old and new pod cannot share it"
    assert deployment["spec"]["replicas"] == 1
    assert not find_all(objects, "StatefulSet") and not find_all(objects, "NetworkPolicy")
    assert not find_all(objects, "PodDisruptionBudget")
    assert find(objects, "ServiceAccount", "mlflow")["automountServiceAccountToken"] is False


def test_kind_overlay_points_artifacts_at_the_emulator() -> None:
    server = container(
        _pod_spec(find(render_chart(load_values(MLFLOW_CHART / "values-kind.yaml")), "Deployment", "mlflow")),
        "mlflow",
    )
    env = env_map(server)
    assert env["STORAGE_EMULATOR_HOST"]["value"] == EMULATOR
    assert _args(server)["--artifacts-destination"] == "gs://census-pipeline-mlflow/"
    assert _args(server)["--workers"] == "1"


def test_workload_identity_annotation_lands_on_the_service_account() -> None:
    annotation = {"iam.gke.io/gcp-service-account": "mlflow@proj.iam.gserviceaccount.com"}
    objects = render_chart({"serviceAccount": {"annotations": annotation}})
    assert find(objects, "ServiceAccount", "mlflow")["metadata"]["annotations"] == annotation
    assert _pod_spec(find(objects, "Deployment", "mlflow"))["serviceAccountName"] == "mlflow"


def test_pvc_artifact_store() -> None:
    objects = render_chart({"artifacts": {"destination": "pvc"}})
    spec = _pod_spec(find(objects, "Deployment", "mlflow"))
    assert _args(container(spec, "mlflow"))["--artifacts-destination"] == "/mlflow/artifacts"
    assert (
        find(objects, "PersistentVolumeClaim", "mlflow-artifacts")["spec"]["resources"]["requests"]["storage"]
        == "10Gi"
    )
    assert "STORAGE_EMULATOR_HOST" not in env_map(container(spec, "mlflow"))


def test_external_database_uri_comes_from_a_secret() -> None:
    values = {
        "replicaCount": 2,
        "backendStore": {"type": "external", "external": {"existingSecret": "mlflow-db"}},
    }
    objects = render_chart(values)
    spec = _pod_spec(find(objects, "Deployment", "mlflow"))
    ref = env_map(container(spec, "mlflow"))["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "mlflow-db", "key": "uri"}
    assert not find_all(objects, "StatefulSet") and not find_all(objects, "PersistentVolumeClaim")
    assert find(objects, "Deployment", "mlflow")["spec"]["strategy"]["type"] == "RollingUpdate"


# --- production-like ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def production() -> list[dict[str, Any]]:
    return render_chart(PRODUCTION_VALUES)


def test_production_postgresql_statefulset(production: list[dict[str, Any]]) -> None:
    sts = find(production, "StatefulSet", "mlflow-postgresql")
    spec = sts["spec"]["template"]["spec"]
    pg = container(spec, "postgresql")
    assert re.fullmatch(r"postgres:\d+\.\d+-bookworm", pg["image"]), pg["image"]
    assert spec["securityContext"]["runAsUser"] == 999 and spec["securityContext"]["fsGroup"] == 999
    assert env_map(pg)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "mlflow-postgresql",
        "key": "postgres-password",
    }
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert find(production, "Service", "mlflow-postgresql")["spec"]["ports"][0]["port"] == 5432


def test_production_server_builds_the_uri_from_the_password_secret(production: list[dict[str, Any]]) -> None:
    spec = _pod_spec(find(production, "Deployment", "mlflow"))
    env = env_map(container(spec, "mlflow"))
    assert env["MLFLOW_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-postgresql"
    assert env["MLFLOW_BACKEND_STORE_URI"]["value"] == (
        "postgresql+psycopg2://mlflow:$(MLFLOW_DB_PASSWORD)@mlflow-postgresql:5432/mlflow"
    )
    # Kubernetes expands $(VAR) only from variables defined earlier in the list.
    order = [e["name"] for e in container(spec, "mlflow")["env"]]
    assert order.index("MLFLOW_DB_PASSWORD") < order.index("MLFLOW_BACKEND_STORE_URI")
    assert [c["name"] for c in spec["initContainers"]] == ["wait-for-postgresql", "db-upgrade", "auth-config"]
    assert find(production, "Deployment", "mlflow")["spec"]["strategy"]["type"] == "RollingUpdate"


def test_production_basic_auth_takes_the_admin_password_from_a_secret(
    production: list[dict[str, Any]],
) -> None:
    spec = _pod_spec(find(production, "Deployment", "mlflow"))
    server = container(spec, "mlflow")
    assert _args(server)["--app-name"] == "basic-auth"
    env = env_map(server)
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "mlflow-auth",
        "key": "admin-password",
    }
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "flask-secret-key"
    assert env["MLFLOW_AUTH_CONFIG_PATH"]["value"] == "/etc/mlflow/auth/basic_auth.ini"
    mounts = {m["name"]: m for m in server["volumeMounts"]}
    assert mounts["auth-config"]["readOnly"] is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["auth-config"]["emptyDir"]["medium"] == "Memory"
    config = find(production, "ConfigMap", "mlflow-auth")
    assert "password" not in config["data"]["basic_auth.ini"].replace("admin_password", "")
    test_env = env_map(find(production, "Pod", "mlflow-test-log-run")["spec"]["containers"][0])
    assert test_env["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-auth"
    assert (
        "checksum/auth-config"
        in find(production, "Deployment", "mlflow")["spec"]["template"]["metadata"]["annotations"]
    )


def test_production_gcs_key_is_mounted_read_only(production: list[dict[str, Any]]) -> None:
    spec = _pod_spec(find(production, "Deployment", "mlflow"))
    server = container(spec, "mlflow")
    env = env_map(server)
    assert env["GOOGLE_APPLICATION_CREDENTIALS"]["value"] == "/var/secrets/google/key.json"
    assert "STORAGE_EMULATOR_HOST" not in env
    assert {m["name"]: m for m in server["volumeMounts"]}["gcs-key"]["readOnly"] is True
    assert {v["name"]: v for v in spec["volumes"]}["gcs-key"]["secret"]["secretName"] == "mlflow-gcs-key"
    assert _args(server)["--artifacts-destination"] == "gs://census-pipeline-mlflow/prod"
    assert "mlflow.example.com" in _args(server)["--allowed-hosts"].split(",")


def test_production_network_policies_and_pdb(production: list[dict[str, Any]]) -> None:
    server_policy = find(production, "NetworkPolicy", "mlflow")
    peers = server_policy["spec"]["ingress"][0]["from"]
    allowed = {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in peers
        if "namespaceSelector" in p
    }
    assert allowed == {"airflow", "ml-pipeline"}
    assert {"podSelector": {}} in peers, "the helm test pod in the release namespace must get through"
    db_policy = find(production, "NetworkPolicy", "mlflow-postgresql")
    assert db_policy["spec"]["ingress"][0]["from"] == [
        {
            "podSelector": {
                "matchLabels": find(production, "Deployment", "mlflow")["spec"]["selector"]["matchLabels"]
            }
        }
    ]
    pdb = find(production, "PodDisruptionBudget", "mlflow")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert find(production, "Deployment", "mlflow")["spec"]["replicas"] == 2


def test_auth_on_sqlite_keeps_users_next_to_mlflow_db() -> None:
    objects = render_chart({"auth": {"enabled": True, "existingSecret": "mlflow-auth"}})
    init = container(_pod_spec(find(objects, "Deployment", "mlflow")), "auth-config", init=True)
    assert env_map(init)["MLFLOW_AUTH_DATABASE_URI"]["value"] == "sqlite:////mlflow/data/basic_auth.db"


def test_values_overlay_merges_like_helm() -> None:
    merged = helm_merge({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"c": [3]}, "d": None})
    assert merged == {"a": {"b": 1, "c": [3]}}
