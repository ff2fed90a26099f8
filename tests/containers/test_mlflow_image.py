"""The MLflow server image run as helm/mlflow runs it: `mlflow db upgrade` (init container), then
`mlflow server` proxying artifacts to GCS, read-only root, UID 10002, no capabilities."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers.kpo import MLFLOW_UID, docker
from tests.fixtures.servers import MLFLOW_BUCKET, GcsEmulator, free_port, http_ok


def _pod_flags(data_dir: Path) -> list[str]:
    return [
        "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=256m",
        "--user", f"{MLFLOW_UID}:{MLFLOW_UID}", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--memory", "2g", "--network", "host", "--volume", f"{data_dir}:/mlflow/data",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def mlflow_container(
    built_images: dict[str, str], gcs_emulator: GcsEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    data_dir = tmp_path_factory.mktemp("mlflow-data")
    if os.geteuid() == 0:
        os.chown(data_dir, MLFLOW_UID, MLFLOW_UID)  # what the chart's fsGroup does for the PVC
    store = "sqlite:////mlflow/data/mlflow.db"
    image = built_images["mlflow"]
    upgrade = docker(
        "run", "--rm", *_pod_flags(data_dir), image, "db", "upgrade", store, check=False, timeout=300
    )
    assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
    port = free_port()
    destination = f"gs://{MLFLOW_BUCKET}/image-test-{uuid.uuid4().hex[:8]}"
    name = f"census-test-mlflow-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "-d", "--name", name, *_pod_flags(data_dir),
        "--env", f"STORAGE_EMULATOR_HOST={gcs_emulator.url}", "--env", "GOOGLE_CLOUD_PROJECT=local-emulator",
        "--env", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false", "--env", f"MLFLOW_BACKEND_STORE_URI={store}",
        "--entrypoint", "mlflow", image,
        "server", "--host=127.0.0.1", f"--port={port}", "--workers=1", "--serve-artifacts",
        f"--artifacts-destination={destination}",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 150
        while not http_ok(f"{url}/health"):
            state = docker("inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip()
            if state != "true" or time.monotonic() > deadline:
                pytest.fail(
                    "MLflow image did not become healthy:\n"
                    + docker("logs", name, check=False).stderr[-3000:]
                )
            time.sleep(1)
        yield url, destination
    finally:
        with contextlib.suppress(Exception):
            docker("rm", "-f", name, check=False)


def test_server_logs_a_run_with_artifacts_proxied_to_gcs(
    mlflow_container: tuple[str, str], gcs_emulator: GcsEmulator, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    url, destination = mlflow_container
    client = MlflowClient(tracking_uri=url)
    experiment_id = client.create_experiment(f"image-test-{uuid.uuid4().hex[:8]}")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "roc_auc", 0.9)
    note = tmp_path / "note.txt"
    note.write_text("hello from the container test\n")
    client.log_artifact(run.info.run_id, str(note))
    client.set_terminated(run.info.run_id)
    assert client.get_run(run.info.run_id).data.metrics == {"roc_auc": 0.9}
    prefix = destination.removeprefix(f"gs://{MLFLOW_BUCKET}/")
    blobs = gcs_emulator.list_blobs(MLFLOW_BUCKET, prefix)
    assert any(name.endswith(f"{run.info.run_id}/artifacts/note.txt") for name in blobs), blobs


def test_image_has_the_chart_mount_points_and_drivers(built_images: dict[str, str]) -> None:
    out = docker(
        "run", "--rm", "--read-only", "--entrypoint", "python", built_images["mlflow"], "-c",
        "import os, psycopg2, google.cloud.storage; "
        "print(*(f'{p}:{os.stat(p).st_uid}' for p in ('/mlflow/data', '/mlflow/artifacts')))",
    ).stdout.split()  # fmt: skip
    assert out == [f"/mlflow/data:{MLFLOW_UID}", f"/mlflow/artifacts:{MLFLOW_UID}"]
