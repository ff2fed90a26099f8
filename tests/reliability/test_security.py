"""Security against a real server: MLflow basic auth (the chart's own auth config) refuses writes
without valid credentials, and a user with the default READ permission cannot write.

The restricted Pod Security Standard and RBAC checks of DAG pods, the MLflow chart and k8s/ live
in the dags and charts tiers (see docs/reliability.md, "Security"); this tier adds one sweep over
every RBAC object the chart and k8s/ render, so a Role added anywhere later is caught here too.
"""

from __future__ import annotations

import configparser
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.charts.conftest import PRODUCTION_VALUES, SCENARIOS
from tests.charts.render import find, render_chart
from tests.fixtures.servers import GcsEmulator
from tests.reliability.tracking_servers import MLFLOW_IMAGE, Tracking, mlflow_image_available, mlflow_tracking

API = "/api/2.0/mlflow"
PIPELINE_NAMESPACE = "ml-pipeline"
ALLOWED_RESOURCES = {"pods", "pods/log", "pods/exec", "events"}


@pytest.fixture(scope="module")
def auth_server(
    gcs_emulator: GcsEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """`mlflow server --app-name basic-auth` with the chart's basic_auth.ini (database_uri filled in
    as the chart's init container does) and the admin password from the environment (a Secret)."""
    workdir = tmp_path_factory.mktemp("auth")
    template = find(render_chart(PRODUCTION_VALUES), "ConfigMap", "mlflow-auth")["data"]["basic_auth.ini"]
    config = configparser.ConfigParser(interpolation=None)
    config.read_string(template)
    config["mlflow"]["database_uri"] = f"sqlite:///{workdir / 'basic_auth.db'}"
    ini = workdir / "basic_auth.ini"
    with ini.open("w") as fh:
        config.write(fh)
    password = secrets.token_urlsafe(24)
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
    }
    with mlflow_tracking(
        f"sqlite:///{workdir / 'mlflow.db'}", "sqlite", gcs_emulator, workdir,
        extra_args=("--app-name", "basic-auth"), extra_env=env, use_image=False,
    ) as server:  # fmt: skip
        yield {"server": server, "admin": (config["mlflow"]["admin_username"], password)}


def test_mlflow_image_can_serve_basic_auth() -> None:
    """The chart's auth.enabled runs the image with --app-name basic-auth, which imports Flask-WTF.

    The behaviour tests below run `mlflow server` from .venv (which has it), so this checks the image."""
    if not mlflow_image_available():
        return  # nothing built to check; the containers tier builds it
    probe = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "python", MLFLOW_IMAGE, "-c", "import flask_wtf"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert probe.returncode == 0, (
        f"{MLFLOW_IMAGE} cannot start basic auth: {probe.stderr.strip().splitlines()[-1:]} "
        "| fix: install mlflow[auth] (Flask-WTF) in images/mlflow"
    )


def _post(
    server: Tracking, path: str, body: dict[str, Any], auth: tuple[str, str] | None
) -> requests.Response:
    return requests.post(f"{server.url}{API}{path}", json=body, auth=auth, timeout=30)


def test_writes_without_valid_credentials_are_refused(auth_server: dict[str, Any]) -> None:
    server, admin = auth_server["server"], auth_server["admin"]
    body = {"name": "sec-unauthenticated"}
    assert _post(server, "/experiments/create", body, None).status_code == 401
    assert _post(server, "/experiments/create", body, (admin[0], "wrong-password")).status_code == 401
    assert _post(server, "/experiments/create", body, ("nobody", admin[1])).status_code == 401
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200, "probes need no credentials"


def test_admin_writes_and_a_default_user_only_reads(auth_server: dict[str, Any]) -> None:
    server, admin = auth_server["server"], auth_server["admin"]
    created = _post(server, "/experiments/create", {"name": "sec-admin"}, admin)
    assert created.status_code == 200, created.text
    experiment_id = created.json()["experiment_id"]
    run = _post(server, "/runs/create", {"experiment_id": experiment_id}, admin)
    assert run.status_code == 200, run.text

    user = ("reader", secrets.token_urlsafe(16))
    made = requests.post(
        f"{server.url}/api/2.0/mlflow/users/create",
        json={"username": user[0], "password": user[1]},
        auth=admin,
        timeout=30,
    )
    assert made.status_code == 200, made.text
    # default_permission = READ in the chart: another user may read the admin's experiment, not write it.
    assert (
        requests.get(
            f"{server.url}{API}/experiments/get",
            params={"experiment_id": experiment_id},
            auth=user,
            timeout=30,
        ).status_code
        == 200
    )
    assert _post(server, "/runs/create", {"experiment_id": experiment_id}, user).status_code == 403
    other = {"username": "x", "password": "y" * 12}
    made_by_user = requests.post(
        f"{server.url}/api/2.0/mlflow/users/create", json=other, auth=user, timeout=30
    )
    assert made_by_user.status_code == 403, "only the admin manages users"


# --------------------------------------------------------------------------- RBAC sweep


def _rbac_objects() -> list[tuple[str, dict[str, Any]]]:
    import yaml

    found: list[tuple[str, dict[str, Any]]] = []
    for name, values in SCENARIOS.items():
        found += [
            (f"helm/mlflow[{name}]", o) for o in render_chart(values()) if "rbac" in o.get("apiVersion", "")
        ]
    k8s = Path(__file__).resolve().parents[2] / "k8s"
    for path in sorted(k8s.glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            if obj and "rbac" in str(obj.get("apiVersion", "")):
                found.append((f"k8s/{path.name}", obj))
    return found


def test_rbac_grants_nothing_cluster_wide_and_only_pod_access_in_ml_pipeline() -> None:
    objects = _rbac_objects()
    assert objects, "k8s/ must hold the Role that lets Airflow start pods"
    for where, obj in objects:
        name = f"{where}: {obj['kind']} {obj['metadata']['name']}"
        assert obj["kind"] in ("Role", "RoleBinding"), f"{name} is cluster-wide"
        assert obj["metadata"].get("namespace") == PIPELINE_NAMESPACE, name
        if obj["kind"] == "Role":
            for rule in obj["rules"]:
                assert rule.get("apiGroups") == [""], f"{name}: {rule}"
                assert set(rule["resources"]) <= ALLOWED_RESOURCES, f"{name}: {rule}"
                assert "*" not in rule["verbs"] and rule.get("resourceNames") != ["*"], f"{name}: {rule}"
        else:
            assert obj["roleRef"]["kind"] == "Role", f"{name} binds a ClusterRole"
