"""kind end-to-end fixtures: probe, cluster, `skaffold run -p kind`, one multi-model DAG run.

Session-scoped and built in that order, each printing live progress past pytest's capture.
Where a requirement is missing (tools, Docker engine, registry or chart repository access) the
whole tier skips with a reason naming it (tests/e2e/probes.py). On the first failure everything
needed to debug is written to .artifacts/e2e/ (tests/e2e/diagnostics.py).

Knobs (all optional): E2E_DAG_ID and E2E_CONF (JSON run conf; default: what `make trigger` sends,
parsed from mk/kind.mk), E2E_MODELS (default lgbm,logreg), E2E_TIMEOUT (seconds the run may take,
default 3600), AIRFLOW_USERNAME / AIRFLOW_PASSWORD (default: the kind dev admin and its Secret).
While the run goes, the stage pods are watched; the per-task timeline (pod created, container
started, first work, result, pod deleted: tests/e2e/timeline.py) is printed and written to
.artifacts/e2e/timeline.txt and timeline.json.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from scripts import trigger_dag
from tests.e2e import diagnostics, timeline
from tests.e2e.probes import ROOT, probe
from tests.helpers.kind_make import trigger_defaults

ARTIFACTS = ROOT / ".artifacts" / "e2e"
AIRFLOW_URL = "http://localhost:8080"  # NodePort 30080, mapped by k8s/kind-config.yaml
MLFLOW_URL = "http://localhost:5000"  # NodePort 30500
_STATE: dict[str, Any] = {}


@dataclass(frozen=True)
class Cluster:
    name: str
    context: str

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            ["kubectl", "--context", self.context, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return done.stdout


@dataclass(frozen=True)
class DagRun:
    dag_id: str
    result: trigger_dag.RunResult
    returns: dict[str, dict[str, Any]]  # task key -> the stage's return.json
    timeline: list[dict[str, Any]]  # tests/e2e/timeline.py rows, one per task that ran a pod
    leftover: dict[str, str]  # stage pods of the DAG still there after the run: name -> phase


class Live:
    """Writes progress lines straight to the terminal while pytest captures the test output."""

    def __init__(self, config: pytest.Config) -> None:
        self._capman = config.pluginmanager.getplugin("capturemanager")

    def write(self, text: str) -> int:
        with self._capman.global_and_fixture_disabled():
            print(text, end="", flush=True)
        return len(text)

    def flush(self) -> None:
        pass

    def line(self, text: str) -> None:
        self.write(f"[e2e] {text}\n")

    def run(self, cmd: list[str], timeout: float) -> None:
        """Run a command, echoing its output line by line; raises on a non-zero exit."""
        self.line("$ " + " ".join(cmd))
        with subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                self.write("    " + line)
            rc = proc.wait(timeout=timeout)
        if rc != 0:
            raise AssertionError(f"`{' '.join(cmd)}` exited {rc}")


@pytest.fixture(scope="session")
def live(pytestconfig: pytest.Config) -> Live:
    return Live(pytestconfig)


@pytest.fixture(scope="session")
def kind_ready(live: Live) -> None:
    live.line("probing docker, kind, kubectl, helm, skaffold, registry and chart repository access ...")
    result = probe()
    if not result.ok:
        pytest.skip(result.reason())


@pytest.fixture(scope="session")
def cluster(kind_ready: None, live: Live) -> Cluster:
    config = ROOT / "k8s" / "kind-config.yaml"
    name = yaml.safe_load(config.read_text())["name"]
    existing = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True, check=False).stdout
    _STATE["cluster"] = Cluster(name, f"kind-{name}")
    if name in existing.split():
        live.line(f"reusing kind cluster {name!r}")
    else:
        live.run(
            ["kind", "create", "cluster", "--name", name, "--config", str(config), "--wait", "180s"], 900
        )
    return _STATE["cluster"]


@pytest.fixture(scope="session")
def deployed(cluster: Cluster, live: Live) -> Cluster:
    live.line(
        "skaffold run -p kind: build 5 images, load them into kind, apply k8s/, install MLflow and Airflow"
    )
    live.run(
        ["skaffold", "run", "-p", "kind", "--kube-context", cluster.context, "--status-check=true"], 3600
    )
    return cluster


def _airflow_client(cluster: Cluster) -> trigger_dag.AirflowClient:
    username = os.environ.get("AIRFLOW_USERNAME") or "admin"  # the kind dev user (helm/airflow/values.yaml)
    password = (
        os.environ.get("AIRFLOW_PASSWORD")
        or base64.b64decode(
            cluster.kubectl(
                "-n", "airflow", "get", "secret", "airflow-admin", "-o", "jsonpath={.data.password}"
            )
        ).decode()
    )
    return trigger_dag.AirflowClient(AIRFLOW_URL, username, password)


@pytest.fixture(scope="session")
def dag_run(deployed: Cluster, live: Live) -> DagRun:
    client = _airflow_client(deployed)
    default_dag, default_conf = trigger_defaults()
    dag_id = os.environ.get("E2E_DAG_ID", default_dag)
    conf = json.loads(os.environ["E2E_CONF"]) if os.environ.get("E2E_CONF") else default_conf
    timeout = float(os.environ.get("E2E_TIMEOUT", "3600"))
    live.line(f"triggering {dag_id} through {AIRFLOW_URL} (timeout {timeout:.0f} s), watching its pods")
    watch = timeline.PodWatch(deployed.context, "ml-pipeline", limit=timeout + 600).start()
    try:
        result = trigger_dag.trigger_and_follow(client, dag_id, conf, timeout=timeout, poll=10, out=live)  # type: ignore[arg-type]
        time.sleep(5)  # the last pod's DELETED event
    finally:
        watch.stop()
    returns: dict[str, dict[str, Any]] = {}
    instances = client.task_instances(dag_id, result.run_id)
    for ti in instances:
        if ti.get("state") == "success":
            value = client.return_value(dag_id, result.run_id, ti["task_id"], ti.get("map_index", -1))
            if isinstance(value, dict) and "stage" in value:
                returns[trigger_dag.task_key(ti)] = value
    rows = timeline.build(instances, returns, timeline.pod_points(watch.events, dag_id))
    pods = json.loads(
        deployed.kubectl("-n", "ml-pipeline", "get", "pods", "-l", f"dag_id={dag_id}", "-o", "json")
    )
    leftover = {p["metadata"]["name"]: p["status"].get("phase", "") for p in pods["items"]}
    table = timeline.render(rows)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timeline.txt").write_text(table + "\n")
    (ARTIFACTS / "timeline.json").write_text(json.dumps(rows, indent=2))
    live.line("per-task timeline (seconds since the first task started):\n" + table)
    return DagRun(dag_id, result, returns, rows, leftover)


@pytest.fixture(scope="session")
def gcs_emulator(deployed: Cluster, live: Live) -> Iterator[str]:
    """fake-gcs-server through `kubectl port-forward` on a free local port."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [
        "kubectl",
        "--context",
        deployed.context,
        "-n",
        "ml-pipeline",
        "port-forward",
        "svc/fake-gcs-server",
        f"{port}:4443",
    ]
    live.line("$ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/storage/v1/b", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(
                        f"port-forward to fake-gcs-server did not come up on {url}"
                    ) from None
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    cluster = _STATE.get("cluster")
    if report.failed and cluster is not None and not _STATE.get("dumped"):
        _STATE["dumped"] = True
        out = diagnostics.dump(cluster.context, cluster.name, ARTIFACTS)
        report.sections.append(("e2e diagnostics", f"kubectl describe, pod logs and kind logs in {out}"))
