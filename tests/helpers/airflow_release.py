"""The pods the Airflow chart 1.19.0 (+ its PostgreSQL subchart) makes from our values, modelled.

The official chart is a remote chart this repository cannot render offline (no chart archive, no
registry), so its pods are rebuilt here from the merged values with the logic of the templates
read for helm/airflow/chart-reads.yaml: templates/_helpers.yaml airflowPodSecurityContext and
containerSecurityContext, each deployment's containers (main, wait-for-airflow-migrations init
container with the component's resources, log groomer sidecar) and the subchart's
primary/statefulset.yaml (securityContexts = the values minus `enabled`). Only what Pod Security,
scheduling and the closure checks need is modelled: names, images, security contexts, resources,
env secretKeyRefs, service accounts and volume kinds.

    values = merged_values(profile="kind")     # chart defaults + values.yaml (+ values-kind.yaml)
    pods = release_pods(values)                # {"scheduler": pod dict, ...}
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from tests.charts.render import helm_merge
from tests.helpers.chart_reads import ChartReads

ROOT = Path(__file__).resolve().parents[2]
VALUES = ROOT / "helm" / "airflow" / "values.yaml"
VALUES_KIND = ROOT / "helm" / "airflow" / "values-kind.yaml"
RELEASE, NAMESPACE = "airflow", "airflow"
DEFAULT_CONTAINER_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def values_files(profile: str) -> list[Path]:
    return [VALUES, VALUES_KIND] if profile == "kind" else [VALUES]


def user_values(profile: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for path in values_files(profile):
        merged = helm_merge(merged, yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return merged


def over_chart_defaults(user: dict[str, Any], chart_defaults: Path) -> dict[str, Any]:
    """User values coalesced over the chart's default values.yaml, as Helm does."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    defaults = yaml.load(chart_defaults.read_text(encoding="utf-8"), Loader=loader)
    return helm_merge(defaults, user)


def merged_values(profile: str, chart_defaults: Path) -> dict[str, Any]:
    """Chart defaults + helm/airflow/values.yaml (+ values-kind.yaml on kind)."""
    return over_chart_defaults(user_values(profile), chart_defaults)


def _pod_security_context(component: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    for scope in (component, values):  # airflowPodSecurityContext (list .Values.<c> .Values)
        if (scope.get("securityContexts") or {}).get("pod"):
            return copy.deepcopy(scope["securityContexts"]["pod"])
        if scope.get("securityContext"):
            return copy.deepcopy(scope["securityContext"])
    return {"runAsUser": values["uid"], "fsGroup": values["gid"]}


def _container_security_context(component: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    if ((component or {}).get("securityContexts") or {}).get("container"):
        return copy.deepcopy(component["securityContexts"]["container"])
    if (values.get("securityContexts") or {}).get("containers"):
        return copy.deepcopy(values["securityContexts"]["containers"])
    return copy.deepcopy(DEFAULT_CONTAINER_SC)


def airflow_image(values: dict[str, Any]) -> str:
    image = values["images"]["airflow"]
    repository = image.get("repository") or values["defaultAirflowRepository"]
    if image.get("digest"):
        return f"{repository}@{image['digest']}"
    return f"{repository}:{image.get('tag') or values['defaultAirflowTag']}"


def _env_secret_refs(values: dict[str, Any], reads: ChartReads) -> list[dict[str, Any]]:
    """The env every Airflow container gets from Secrets (standard_airflow_environment)."""
    builtin = values.get("enableBuiltInSecretEnvVars") or {}
    refs = []
    for env_name, values_key in (
        ("AIRFLOW__CORE__FERNET_KEY", "fernetKeySecretName"),
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "data.metadataSecretName"),
        ("AIRFLOW_CONN_AIRFLOW_DB", "data.metadataSecretName"),
        ("AIRFLOW__API__SECRET_KEY", "apiSecretKeySecretName"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", "jwtSecretName"),
    ):
        if builtin.get(env_name, True):
            node: Any = values
            for part in values_key.split("."):
                node = node[part]
            refs.append(
                {
                    "name": env_name,
                    "valueFrom": {"secretKeyRef": {"name": node, "key": reads.secret_key(values_key)}},
                }
            )
    return refs


def _airflow_env(values: dict[str, Any], reads: ChartReads) -> list[dict[str, Any]]:
    plain = [{"name": e["name"], "value": str(e.get("value", ""))} for e in values.get("env") or []]
    return [*plain, *_env_secret_refs(values, reads)]


def _container(name: str, values: dict[str, Any], component: dict[str, Any], resources: dict[str, Any], env):
    return {
        "name": name,
        "image": airflow_image(values),
        "imagePullPolicy": values["images"]["airflow"]["pullPolicy"],
        "securityContext": _container_security_context(component, values),
        "resources": copy.deepcopy(resources),
        "env": copy.deepcopy(env),
    }


def _deployment_pod(name: str, key: str, values: dict[str, Any], reads: ChartReads) -> dict[str, Any]:
    component = values[key]
    env = _airflow_env(values, reads)
    containers = [_container(name, values, component, component["resources"], env)]
    groomer = component.get("logGroomerSidecar") or {}
    if groomer.get("enabled"):
        containers.append(_container(f"{name}-log-groomer", values, groomer, groomer["resources"], []))
    init = []
    if (component.get("waitForMigrations") or {}).get("enabled", True):
        init.append(
            _container(
                "wait-for-airflow-migrations",
                values,
                component.get("waitForMigrations") or {},
                component["resources"],
                env,
            )
        )
    return _pod(name, key, values, reads, component, containers, init)


def _pod(name, key, values, reads, component, containers, init) -> dict[str, Any]:
    accounts = reads.service_accounts(RELEASE)
    spec: dict[str, Any] = {
        "serviceAccountName": accounts[key],
        "securityContext": _pod_security_context(component, values),
        "containers": containers,
        "volumes": [
            {"name": "config", "configMap": {"name": f"{RELEASE}-config"}},
            {"name": "logs", "emptyDir": {}},
        ],
    }
    if init:
        spec["initContainers"] = init
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{RELEASE}-{name}", "namespace": NAMESPACE},
        "spec": spec,
    }


def _job_pod(name: str, key: str, values: dict[str, Any], reads: ChartReads) -> dict[str, Any]:
    component = values[key]
    custom = (
        _airflow_env(values, reads)[: len(values.get("env") or [])] if component.get("applyCustomEnv") else []
    )
    env = [*custom, *_env_secret_refs(values, reads), *copy.deepcopy(component.get("env") or [])]
    container = _container(name, values, component, component["resources"], env)
    pod = _pod(name, key, values, reads, component, [container], [])
    pod["spec"]["restartPolicy"] = "OnFailure"
    return pod


def postgresql_pod(values: dict[str, Any], reads: ChartReads | None = None) -> dict[str, Any]:
    """primary/statefulset.yaml of Bitnami postgresql 13.2.24, as far as Pod Security needs it."""
    reads = reads or ChartReads.load()
    pg = helm_merge(reads.data["subchart_reads"]["postgresql"]["defaults"], values["postgresql"])
    primary = pg.get("primary") or {}
    image = pg["image"]
    container: dict[str, Any] = {
        "name": "postgresql",
        "image": f"{image['registry']}/{image['repository']}:{image['tag']}",
        "imagePullPolicy": image.get("pullPolicy", "IfNotPresent"),
        "resources": copy.deepcopy(primary.get("resources") or {}),
        "env": [
            {
                "name": "POSTGRES_PASSWORD",
                "valueFrom": {
                    "secretKeyRef": {"name": pg["auth"]["existingSecret"], "key": "postgres-password"}
                },
            }
        ],
        "volumeMounts": [
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "data", "mountPath": "/bitnami/postgresql"},
        ],
    }
    csc = primary.get("containerSecurityContext") or {}
    if csc.get("enabled"):
        container["securityContext"] = {k: v for k, v in csc.items() if k != "enabled"}
    spec: dict[str, Any] = {
        "serviceAccountName": "default",  # the subchart's serviceAccount.create defaults to false
        "containers": [container],
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": f"data-{RELEASE}-postgresql-0"}},
        ],
    }
    psc = primary.get("podSecurityContext") or {}
    if psc.get("enabled"):
        spec["securityContext"] = {k: v for k, v in psc.items() if k != "enabled"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{RELEASE}-postgresql-0", "namespace": NAMESPACE},
        "spec": spec,
    }


def release_pods(values: dict[str, Any], reads: ChartReads | None = None) -> dict[str, dict[str, Any]]:
    """Every pod the release runs with these values: long-running components and the two Jobs."""
    reads = reads or ChartReads.load()
    assert "Local" in values["executor"], "only LocalExecutor is modelled (no workers, no Redis)"
    pods = {
        "scheduler": _deployment_pod("scheduler", "scheduler", values, reads),
        "api-server": _deployment_pod("api-server", "apiServer", values, reads),
        "dag-processor": _deployment_pod("dag-processor", "dagProcessor", values, reads),
        "triggerer": _deployment_pod("triggerer", "triggerer", values, reads),
        "run-airflow-migrations": _job_pod("run-airflow-migrations", "migrateDatabaseJob", values, reads),
    }
    if values["webserver"]["defaultUser"].get("enabled", True) and values["createUserJob"].get(
        "enabled", True
    ):
        pods["create-user"] = _job_pod("create-user", "createUserJob", values, reads)
    if values["postgresql"]["enabled"]:
        pods["postgresql"] = postgresql_pod(values, reads)
    return pods


JOBS = ("run-airflow-migrations", "create-user")
