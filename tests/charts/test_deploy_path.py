"""The deploy path creates everything the deployed objects use, before they use it; twice is safe.

Runs what `skaffold run -p kind|gke` runs, with a stand-in kubectl that keeps objects in a
directory (tests/helpers/fake_kubectl.py): the hooks parsed from skaffold.yaml (executed, including
scripts/ensure_airflow_secrets.sh and scripts/delete_airflow_jobs.sh), the k8s/ manifests the
profile lists, the MLflow chart rendered by Helm's engine with the profile's values, and the Airflow
release's objects modelled from its values (tests/helpers/airflow_release.py: the remote chart
cannot be rendered offline). Then every Secret, ConfigMap, ServiceAccount, PVC and image any pod
references must have been created by an earlier (or the same) step, Secrets with the keys read.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.render import render_chart
from tests.helpers import fake_kubectl
from tests.helpers.airflow_release import over_chart_defaults, release_pods
from tests.helpers.chart_reads import ChartReads
from tests.helpers.pss import pod_template
from tests.helpers.schemas import schema_path
from tests.helpers.skaffold_config import (
    BASE,
    GKE_ENV,
    GKE_REPO,
    MAIN,
    ROOT,
    built_refs,
    effective,
    load_configs,
    release_values,
)

ENSURE = ROOT / "scripts" / "ensure_airflow_secrets.sh"
DELETE_JOBS = ROOT / "scripts" / "delete_airflow_jobs.sh"
DEPLOYMENT_DOC = ROOT / "docs" / "deployment.md"
CONTEXT = "kind-census"
# Objects every cluster has without anyone creating them.
BUILTIN = {("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")}


# -- the stand-in cluster ------------------------------------------------------------------------
@dataclass
class Cluster:
    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state(self) -> fake_kubectl.State:
        return fake_kubectl.State(self.root / "state")

    def run(self, command: list[str], extra_env: dict[str, str] | None = None, stdin: str | None = None):
        env = {**self.env, **(extra_env or {})}
        return subprocess.run(
            command, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
        )

    def kubectl(self, *args: str, stdin: str | None = None):
        return self.run(["kubectl", "--context", CONTEXT, *args], stdin=stdin)

    def secret(self, name: str, namespace: str = "airflow") -> dict[str, str] | None:
        obj = self.state.get("Secret", namespace, name)
        if obj is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in obj.get("data", {}).items()}

    def calls(self) -> list[list[str]]:
        path = self.root / "state" / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _new_cluster(root: Path) -> Cluster:
    bin_dir = root / "bin"
    fake_kubectl.install(bin_dir)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(root),
        "FAKE_KUBECTL_STATE": str(root / "state"),
        "SKAFFOLD_KUBE_CONTEXT": CONTEXT,
    }
    return Cluster(root, env)


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    return _new_cluster(tmp_path)


def _ensure(cluster: Cluster, **env: str) -> subprocess.CompletedProcess[str]:
    return cluster.run(["bash", str(ENSURE)], env)


# -- scripts/ensure_airflow_secrets.sh ------------------------------------------------------------
def test_secrets_script_is_strict_bash() -> None:
    for script in (ENSURE, DELETE_JOBS):
        text = script.read_text()
        assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text, script.name
        assert os.access(script, os.X_OK), f"{script.name} is not executable"


def test_secrets_are_the_ones_the_chart_reads_with_the_keys_it_reads(cluster: Cluster) -> None:
    done = _ensure(cluster)
    assert done.returncode == 0, done.stderr
    reads = ChartReads.load()
    values = yaml.safe_load((ROOT / "helm" / "airflow" / "values.yaml").read_text())
    expected = {
        values["fernetKeySecretName"]: reads.secret_key("fernetKeySecretName"),
        values["jwtSecretName"]: reads.secret_key("jwtSecretName"),
        values["apiSecretKeySecretName"]: reads.secret_key("apiSecretKeySecretName"),
        values["data"]["metadataSecretName"]: reads.secret_key("data.metadataSecretName"),
        values["postgresql"]["auth"]["existingSecret"]: reads.secret_key("postgresql.auth.existingSecret"),
    }
    for ref in (e["valueFrom"]["secretKeyRef"] for e in values["createUserJob"]["env"] if "valueFrom" in e):
        expected[ref["name"]] = ref["key"]
    created = {o["metadata"]["name"]: o for o in cluster.state.all() if o["kind"] == "Secret"}
    assert set(created) == set(expected)
    for name, key in expected.items():
        assert set(created[name]["data"]) == {key}, name
        assert created[name]["metadata"]["namespace"] == "airflow"


def test_secret_values_are_usable_and_one_password_feeds_both(cluster: Cluster) -> None:
    assert _ensure(cluster).returncode == 0
    fernet = cluster.secret("airflow-fernet-key")["fernet-key"]
    assert len(base64.urlsafe_b64decode(fernet)) == 32, "a Fernet key is 32 url-safe base64 bytes"
    assert re.fullmatch(r"[0-9a-f]{64}", cluster.secret("airflow-jwt-secret")["jwt-secret"])
    assert re.fullmatch(r"[0-9a-f]{64}", cluster.secret("airflow-api-secret-key")["api-secret-key"])
    assert re.fullmatch(r"[0-9a-f]{32}", cluster.secret("airflow-admin")["password"])
    password = cluster.secret("airflow-postgresql")["postgres-password"]
    assert re.fullmatch(r"[0-9a-f]{48}", password)
    host = ChartReads.load().postgresql_host(release="airflow", namespace="airflow")
    assert cluster.secret("airflow-metadata")["connection"] == (
        f"postgresql://postgres:{password}@{host}:5432/postgres?sslmode=disable"
    )


def test_a_redeploy_rotates_nothing(cluster: Cluster) -> None:
    assert _ensure(cluster).returncode == 0
    first = {o["metadata"]["name"]: o["data"] for o in cluster.state.all() if o["kind"] == "Secret"}
    again = _ensure(cluster)
    assert again.returncode == 0, again.stderr
    assert {o["metadata"]["name"]: o["data"] for o in cluster.state.all() if o["kind"] == "Secret"} == first
    assert again.stdout.count("exists, kept") == 6
    creates = [c for c in cluster.calls() if "create" in c]
    assert len(creates) == 6, "the second run created nothing"


def test_no_secret_value_reaches_output_or_a_command_line(cluster: Cluster) -> None:
    done = _ensure(cluster)
    values = [v for o in cluster.state.all() if o["kind"] == "Secret" for v in o["data"].values()]
    plain = [base64.b64decode(v).decode() for v in values]
    for secret in plain:
        assert secret not in done.stdout + done.stderr
        assert not any(secret in arg for call in cluster.calls() for arg in call)


def test_postgres_secret_alone_gives_the_connection_its_password(cluster: Cluster) -> None:
    cluster.kubectl(
        "-n",
        "airflow",
        "create",
        "-f",
        "-",
        stdin=json.dumps(_secret("airflow-postgresql", "postgres-password", "keptpw")),
    )
    assert _ensure(cluster).returncode == 0
    assert cluster.secret("airflow-postgresql") == {"postgres-password": "keptpw"}
    assert ":keptpw@airflow-postgresql.airflow:5432/" in cluster.secret("airflow-metadata")["connection"]


def test_connection_alone_gives_postgres_its_password(cluster: Cluster) -> None:
    uri = "postgresql://postgres:oldpw@airflow-postgresql.airflow:5432/postgres?sslmode=disable"
    cluster.kubectl(
        "-n", "airflow", "create", "-f", "-", stdin=json.dumps(_secret("airflow-metadata", "connection", uri))
    )
    assert _ensure(cluster).returncode == 0
    assert cluster.secret("airflow-postgresql") == {"postgres-password": "oldpw"}
    assert cluster.secret("airflow-metadata") == {"connection": uri}


def test_disagreeing_secrets_stop_the_deploy_with_one_line(cluster: Cluster) -> None:
    cluster.kubectl(
        "-n",
        "airflow",
        "create",
        "-f",
        "-",
        stdin=json.dumps(_secret("airflow-postgresql", "postgres-password", "a")),
    )
    uri = "postgresql://postgres:b@airflow-postgresql.airflow:5432/postgres?sslmode=disable"
    cluster.kubectl(
        "-n", "airflow", "create", "-f", "-", stdin=json.dumps(_secret("airflow-metadata", "connection", uri))
    )
    done = _ensure(cluster)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("ERROR [airflow-secrets] ") and " | fix: " in line
    assert "a" != "b" and "b@" not in line, "no password in the message"


def test_the_script_uses_the_context_and_namespace_it_is_given(cluster: Cluster) -> None:
    assert (
        _ensure(cluster, SKAFFOLD_KUBE_CONTEXT="", KUBE_CONTEXT="other", AIRFLOW_NAMESPACE="af").returncode
        == 0
    )
    calls = cluster.calls()
    assert all(c[:4] == ["--context", "other", "-n", "af"] for c in calls), calls[:2]
    assert {o["metadata"]["namespace"] for o in cluster.state.all()} == {"af"}


def _secret(name: str, key: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {key: value}}


# -- scripts/delete_airflow_jobs.sh ---------------------------------------------------------------
def test_finished_jobs_are_deleted_before_the_upgrade(cluster: Cluster) -> None:
    reads = ChartReads.load()
    names = [reads.job_name(job, release="airflow") for job in ("migrateDatabaseJob", "createUserJob")]
    for name in [*names, "unrelated"]:
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}}
        assert cluster.kubectl("-n", "airflow", "create", "-f", "-", stdin=json.dumps(job)).returncode == 0
    done = cluster.run(["bash", str(DELETE_JOBS)])
    assert done.returncode == 0, done.stderr
    assert [o["metadata"]["name"] for o in cluster.state.all() if o["kind"] == "Job"] == ["unrelated"]
    (call,) = [c for c in cluster.calls() if "delete" in c]
    assert "--ignore-not-found" in call and "--wait=true" in call
    assert any(a.startswith("--timeout=") for a in call), "every wait is bounded"
    again = cluster.run(["bash", str(DELETE_JOBS)])
    assert again.returncode == 0, "nothing to delete is fine (first install)"


# -- skaffold.yaml wiring --------------------------------------------------------------------------
@pytest.mark.parametrize("profile", ["kind", "gke"])
def test_skaffold_runs_both_scripts_before_the_helm_releases(profile: str) -> None:
    config = effective(load_configs()[MAIN], [profile])
    hooks = [h["host"]["command"] for h in config["deploy"]["helm"]["hooks"]["before"]]
    assert hooks == [
        ["bash", "scripts/ensure_airflow_secrets.sh"],
        ["bash", "scripts/delete_airflow_jobs.sh"],
    ]
    airflow = next(r for r in config["deploy"]["helm"]["releases"] if r["name"] == "airflow")
    # The scripts' defaults are the release skaffold installs.
    for script in (ENSURE, DELETE_JOBS):
        text = script.read_text()
        assert f"release=${{AIRFLOW_RELEASE:-{airflow['name']}}}" in text
        assert f"ns=${{AIRFLOW_NAMESPACE:-{airflow['namespace']}}}" in text


# -- deploy-path closure --------------------------------------------------------------------------
@dataclass
class Deployed:
    created: dict[tuple[str, str, str], int]  # (kind, namespace, name) -> step that created it
    objects: dict[tuple[str, str, str], dict[str, Any]]
    users: list[tuple[int, str, dict[str, Any]]]  # (step, what, pod spec holder)
    bindings: list[dict[str, Any]]
    steps: list[str]


def _key(obj: dict[str, Any]) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def _deploy(cluster: Cluster, profile: str) -> Deployed:
    env = dict(GKE_ENV) if profile == "gke" else {}
    configs = load_configs()
    base, main = effective(configs[BASE], [profile]), effective(configs[MAIN], [profile])
    steps: list[str] = []
    created: dict[tuple[str, str, str], int] = {}
    objects: dict[tuple[str, str, str], dict[str, Any]] = {}
    users: list[tuple[int, str, dict[str, Any]]] = []

    def snapshot(step: str) -> None:
        steps.append(step)
        for obj in cluster.state.all():
            objects[_key(obj)] = obj
            created.setdefault(_key(obj), len(steps) - 1)

    def run_hooks(hooks: list[dict[str, Any]], step: str) -> None:
        for hook in hooks:
            done = cluster.run(hook["host"]["command"], env)
            assert done.returncode == 0, f"{step}: {hook['host']['command']} failed:\n{done.stderr}"
        snapshot(step)

    kubectl_hooks = base["deploy"]["kubectl"].get("hooks", {})
    run_hooks(kubectl_hooks.get("before", []), "census-pipeline kubectl before-hooks")
    for path in base["manifests"]["rawYaml"]:
        done = cluster.kubectl("apply", "-f", path)
        assert done.returncode == 0, done.stderr
        for doc in yaml.safe_load_all((ROOT / path).read_text()):
            if doc and (template := pod_template(doc)) is not None:
                users.append(
                    (len(steps), f"{path}: {doc['kind']}/{doc['metadata']['name']}", _ns(template, doc))
                )
        snapshot(f"kubectl apply {path}")
    run_hooks(kubectl_hooks.get("after", []), "census-pipeline kubectl after-hooks")
    run_hooks(main["deploy"]["helm"].get("hooks", {}).get("before", []), "helm before-hooks")

    # Release mlflow: Helm's engine renders the local chart with the values Skaffold passes.
    step = len(steps)
    for obj in render_chart(release_values(main, "mlflow", profile, env or None), namespace="mlflow"):
        obj = copy.deepcopy(obj)
        obj["metadata"].setdefault("namespace", "mlflow")
        if "helm.sh/hook" in (obj["metadata"].get("annotations") or {}):
            continue  # `helm test` pods run on demand, not in the deploy
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
        if (template := pod_template(obj)) is not None:
            users.append((step, f"mlflow: {obj['kind']}/{obj['metadata']['name']}", _ns(template, obj)))
    snapshot("helm release mlflow")

    # Release airflow: the chart's objects, modelled from the values Skaffold passes.
    step = len(steps)
    reads = ChartReads.load()
    user = release_values(main, "airflow", profile, env or None)
    values = over_chart_defaults(user, schema_path("airflow-chart-values.yaml"))
    for account in reads.service_accounts("airflow").values():
        sa = {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": account, "namespace": "airflow"},
        }
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps(sa))
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "airflow-config", "namespace": "airflow"},
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(config_map))
    pvc = {  # the subchart StatefulSet's volumeClaimTemplate `data`
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-airflow-postgresql-0", "namespace": "airflow"},
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pvc))
    for name, pod in release_pods(values, reads).items():
        users.append((step, f"airflow: {name}", pod))
    snapshot("helm release airflow")

    # The stage pods the DAGs start (KubernetesPodOperator), after the deploy.
    airflow_env = {e["name"]: e["value"] for e in user["env"]}
    connection = json.loads(airflow_env["AIRFLOW_CONN_KUBERNETES_DEFAULT"])["extra"]
    for stage in ("EXTRACTOR", "PREPROCESSOR", "TRAINER"):
        pod = {
            "metadata": {"namespace": airflow_env["AIRFLOW_VAR_PIPELINE_NAMESPACE"]},
            "spec": {
                "serviceAccountName": _dag_constant("pods.py", "SERVICE_ACCOUNT"),
                "containers": [
                    {"name": "base", "image": airflow_env[f"AIRFLOW_VAR_{stage}_IMAGE"]},
                    {"name": "airflow-xcom-sidecar", "image": connection["xcom_sidecar_container_image"]},
                ],
            },
        }
        users.append((len(steps), f"stage pod ({stage.lower()})", pod))
    bindings = [o for o in objects.values() if o["kind"] == "RoleBinding"]
    return Deployed(created, objects, users, bindings, steps)


def _ns(template: dict[str, Any], owner: dict[str, Any]) -> dict[str, Any]:
    pod = copy.deepcopy(template)
    pod.setdefault("metadata", {})["namespace"] = owner["metadata"].get("namespace", "")
    return pod


def _dag_constant(module: str, name: str) -> str:
    """A string constant of a dags/census_pipeline module, parsed (the charts tier has no Airflow)."""
    import ast

    tree = ast.parse((ROOT / "dags" / "census_pipeline" / module).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError(name)


def _references(pod: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """(kind, name, key or None) of every object a pod spec needs."""
    spec = pod["spec"]
    refs: list[tuple[str, str, str | None]] = [
        ("ServiceAccount", spec.get("serviceAccountName") or "default", None)
    ]
    for volume in spec.get("volumes") or []:
        if "configMap" in volume:
            refs.append(("ConfigMap", volume["configMap"]["name"], None))
        if "secret" in volume:
            refs.append(("Secret", volume["secret"]["secretName"], None))
        if "persistentVolumeClaim" in volume:
            refs.append(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"], None))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                refs.append(("ConfigMap", source["configMap"]["name"], None))
            if "secret" in source:
                refs.append(("Secret", source["secret"]["name"], None))
    for ctr in [*spec.get("initContainers", []), *spec["containers"]]:
        for env in ctr.get("env") or []:
            source = env.get("valueFrom") or {}
            if "secretKeyRef" in source:
                refs.append(("Secret", source["secretKeyRef"]["name"], source["secretKeyRef"]["key"]))
            if "configMapKeyRef" in source:
                refs.append(
                    ("ConfigMap", source["configMapKeyRef"]["name"], source["configMapKeyRef"]["key"])
                )
        for source in ctr.get("envFrom") or []:
            if "secretRef" in source:
                refs.append(("Secret", source["secretRef"]["name"], None))
            if "configMapRef" in source:
                refs.append(("ConfigMap", source["configMapRef"]["name"], None))
    for secret in spec.get("imagePullSecrets") or []:
        refs.append(("Secret", secret["name"], None))
    return refs


@pytest.fixture(scope="module", params=["kind", "gke"])
def deployed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Deployed]:
    """The whole deploy path of one profile, run once against a fresh stand-in cluster."""
    profile = request.param
    return profile, _deploy(_new_cluster(tmp_path_factory.mktemp(f"deploy-{profile}")), profile)


def test_every_referenced_object_is_created_before_use(deployed: tuple[str, Deployed]) -> None:
    profile, deployed = deployed
    problems = []
    for step, what, pod in deployed.users:
        namespace = pod["metadata"]["namespace"]
        for kind, name, key in _references(pod):
            if (kind, name) in BUILTIN:
                continue
            made = deployed.created.get((kind, namespace, name))
            if made is None:
                problems.append(f"{what}: {kind} {namespace}/{name} is never created")
            elif made > step:
                problems.append(
                    f"{what}: {kind} {namespace}/{name} is created later ({deployed.steps[made]})"
                )
            elif key is not None:
                obj = deployed.objects[(kind, namespace, name)]
                keys = set(obj.get("data") or {}) | set(obj.get("binaryData") or {})
                if key not in keys:
                    problems.append(
                        f"{what}: {kind} {namespace}/{name} has no key {key!r} (has {sorted(keys)})"
                    )
    for binding in deployed.bindings:
        for subject in binding["subjects"]:
            if subject["kind"] == "ServiceAccount" and (
                ("ServiceAccount", subject["namespace"], subject["name"]) not in deployed.created
            ):
                problems.append(
                    f"RoleBinding {binding['metadata']['name']}: ServiceAccount "
                    f"{subject['namespace']}/{subject['name']} is never created"
                )
    assert not problems, f"{profile}:\n" + "\n".join(dict.fromkeys(problems))
    assert len(deployed.users) >= 10


def _documented_external_images() -> dict[str, set[str]]:
    """docs/deployment.md, table 'Images pulled from registries': image -> profiles."""
    text = DEPLOYMENT_DOC.read_text()
    section = text.split("## Images pulled from registries", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \|[^|]*\| ([a-z, ]+) \|$", section, re.MULTILINE)
    assert rows, "docs/deployment.md has no 'Images pulled from registries' table"
    return {image: {p.strip() for p in profiles.split(",")} for image, profiles in rows}


def test_every_image_is_built_by_skaffold_or_a_documented_pinned_pull(deployed: tuple[str, Deployed]) -> None:
    profile, deployed = deployed
    built = set(built_refs(profile).values())
    external = set()
    for _, what, pod in deployed.users:
        for ctr in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]:
            image = ctr["image"]
            repository = image.split("@")[0].rsplit(":", 1)[0].removeprefix(GKE_REPO + "/")
            if image in built or (
                repository in {r.split(":")[0] for r in built_refs("kind")} and profile == "kind"
            ):
                continue  # skaffold builds it (and rewrites k8s/ manifests to the built reference)
            assert not image.endswith(":latest") and (":" in image.rsplit("/", 1)[-1] or "@" in image), (
                what,
                image,
            )
            external.add(image)
    documented = {image for image, profiles in _documented_external_images().items() if profile in profiles}
    assert external == documented, (
        f"{profile}: pulled images {sorted(external)} != documented {sorted(documented)}"
    )
