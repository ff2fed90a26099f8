"""Faults against real servers: MLflow down or restarted, the GCS emulator down, SIGTERM and SIGKILL
half-way, and an Airflow retry of the same task (same AIRFLOW_CTX_* env).

Servers that a test kills and restarts are its own (same port and store after the restart); the
session's gcs_emulator / mlflow_server are only used where nothing is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import servers
from tests.fixtures.servers import DATA_BUCKET, GcsEmulator, MlflowServer
from tests.helpers.stages import CENSUS_CSV_GZ, assert_bad_input, run_stage
from tests.reliability import bad_inputs as bad
from tests.reliability.conftest import FIT_TIMEOUT, TINY_GRID


def _gcs_env(gcs: GcsEmulator) -> dict[str, str]:
    return {"STORAGE_EMULATOR_HOST": gcs.url, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}


def _task_env(task_id: str, run_id: str, try_number: int = 1) -> dict[str, str]:
    """What the DAG sets on a pod (names of Airflow's own context variables)."""
    return {
        "AIRFLOW_CTX_DAG_ID": "mlflow-dag",
        "AIRFLOW_CTX_DAG_RUN_ID": run_id,
        "AIRFLOW_CTX_TASK_ID": task_id,
        "AIRFLOW_CTX_TRY_NUMBER": str(try_number),
        "PIPELINE_CPUS": "1",
    }


def _fit_args(features: dict[str, Any], experiment: str) -> list[str]:
    return [
        "train", "--model", "lgbm", "--features-uri", features["features_uri"], "--experiment", experiment,
        "--grid", features["grid"], "--cv", "2",
    ]  # fmt: skip


def _popen_stage(module: str, args: list[str], xcom: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    xcom.mkdir(parents=True, exist_ok=True)
    full = {**os.environ, "XCOM_DIR": str(xcom), "PYTHONUNBUFFERED": "1", **env}
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
    )


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 300) -> list[str]:
    """Read stderr until a line holds `needle`; returns the lines read."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never logged (rc={proc.poll()}):\n{''.join(lines)[-3000:]}")


def _wait_for_run(client: Any, experiment: str, timeout: float = 300) -> Any:
    """The first run of the experiment once it exists (the fit started its MLflow run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            runs = client.search_runs([found.experiment_id])
            if runs:
                return runs[0]
        time.sleep(0.2)
    raise AssertionError(f"no run appeared in experiment {experiment!r} within {timeout} s")


def _runs_of(client: Any, experiment: str) -> list[Any]:
    found = client.get_experiment_by_name(experiment)
    return client.search_runs([found.experiment_id]) if found else []


# --------------------------------------------------------------------------- MLflow


def test_mlflow_down_at_start_fails_after_bounded_backoff(features: dict[str, Any], tmp_path: Path) -> None:
    """3 retries with backoff 0.5 s doubling (0.5 + 1 + 2 = 3.5 s of waiting), then one clear line."""
    url = f"http://127.0.0.1:{servers.free_port()}"
    env = {"MLFLOW_TRACKING_URI": url, "TRAINER_MLFLOW_RETRIES": "3", "TRAINER_MLFLOW_BACKOFF": "0.5"}
    started = time.monotonic()
    run = run_stage("trainer", _fit_args(features, "rel-down"), xcom_dir=tmp_path / "xcom", env=env)
    seconds = time.monotonic() - started
    assert_bad_input(
        run, "MLFLOW_TRACKING_URI", url, "unreachable after 4 attempt(s)", "start the MLflow server"
    )
    assert run.stderr.count("not reachable") == 3, run.stderr
    assert 3.5 <= seconds < 120, f"{seconds:.1f} s"
    print(f"\nMLflow down: failed after 4 attempts in {seconds:.1f} s (3.5 s of backoff)")


@pytest.fixture
def own_mlflow(gcs_emulator: GcsEmulator, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An MLflow server this test may kill: port and SQLite store survive restarts."""
    port, workdir = servers.free_port(), tmp_path / "mlflow"
    state = {"port": port, "workdir": workdir, "gcs": gcs_emulator}
    state["server"] = servers.start_mlflow(gcs_emulator, workdir, port=port)
    try:
        yield state
    finally:
        state["server"].stop()


def _restart(state: dict[str, Any], down_seconds: float) -> None:
    proc = state["server"].process.proc
    os.killpg(proc.pid, signal.SIGKILL)  # abrupt, like a pod evicted mid-request
    proc.wait(timeout=30)
    time.sleep(down_seconds)
    state["server"] = servers.start_mlflow(state["gcs"], state["workdir"], port=state["port"])


def test_mlflow_restarted_mid_fit_never_leaves_the_run_running(
    own_mlflow: dict[str, Any], features: dict[str, Any], tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    url = own_mlflow["server"].url
    client = MlflowClient(url)
    env = {"MLFLOW_TRACKING_URI": url, **_task_env("train", f"manual__{uuid.uuid4().hex[:8]}")}
    proc = _popen_stage("trainer", _fit_args(features, "rel-restart"), tmp_path / "xcom", env)
    try:
        run = _wait_for_run(client, "rel-restart")
        assert run.info.status == "RUNNING"
        _restart(own_mlflow, down_seconds=2.0)
        _, err = proc.communicate(timeout=FIT_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
    status = MlflowClient(own_mlflow["server"].url).get_run(run.info.run_id).info.status
    print(f"\nMLflow restarted mid-fit: stage rc {proc.returncode}, run {status}")
    assert status in ("FINISHED", "FAILED"), f"run left {status}\n{err[-3000:]}"
    if proc.returncode == 0:
        result = json.loads((tmp_path / "xcom" / "return.json").read_text())
        assert status == "FINISHED" and result["run_id"] == run.info.run_id
    else:
        assert status == "FAILED" and len([x for x in err.splitlines() if x.startswith("ERROR [")]) == 1, err


def test_sigterm_mid_fit_ends_the_run_failed(
    mlflow_server: MlflowServer, features: dict[str, Any], tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.url)
    experiment = f"rel-sigterm-{uuid.uuid4().hex[:8]}"
    env = {"MLFLOW_TRACKING_URI": mlflow_server.url, **_task_env("train", "manual__sigterm")}
    proc = _popen_stage("trainer", _fit_args(features, experiment), tmp_path / "xcom", env)
    try:
        run = _wait_for_run(client, experiment)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    errors = [x for x in err.splitlines() if x.startswith("ERROR [")]
    assert errors == ["ERROR [train] terminated by SIGTERM; partial outputs removed | fix: re-run the task"]
    assert client.get_run(run.info.run_id).info.status == "FAILED"
    assert not (tmp_path / "xcom" / "return.json").exists()


def test_retry_after_sigkill_marks_the_leftover_killed_and_trains_once(
    mlflow_server: MlflowServer, features: dict[str, Any], tmp_path: Path
) -> None:
    """SIGKILL (node lost) cannot end a run; the retry of the same task does, then trains."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_server.url)
    experiment = f"rel-sigkill-{uuid.uuid4().hex[:8]}"
    dag_run = f"manual__{uuid.uuid4().hex[:8]}"
    env = {"MLFLOW_TRACKING_URI": mlflow_server.url, **_task_env("train", dag_run)}
    proc = _popen_stage("trainer", _fit_args(features, experiment), tmp_path / "xcom", env)
    try:
        leftover = _wait_for_run(client, experiment)
        proc.kill()
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert client.get_run(leftover.info.run_id).info.status == "RUNNING"
    retry = run_stage(
        "trainer", _fit_args(features, experiment), xcom_dir=tmp_path / "xcom2",
        env={**env, "AIRFLOW_CTX_TRY_NUMBER": "2"}, timeout=FIT_TIMEOUT,
    )  # fmt: skip
    assert retry.rc == 0, retry.stderr[-3000:]
    statuses = sorted(r.info.status for r in _runs_of(client, experiment))
    assert statuses == ["FINISHED", "KILLED"], statuses
    assert client.get_run(leftover.info.run_id).info.status == "KILLED"


# --------------------------------------------------------------------------- GCS


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "census.csv"
    path.write_text("".join(bad.csv_lines()))
    return path


def test_gcs_down_fails_clearly_and_a_retry_after_restart_succeeds(small_csv: Path, tmp_path: Path) -> None:
    port = servers.free_port()
    gcs = servers.start_gcs(port=port)
    gcs.create_bucket(DATA_BUCKET)
    out = f"gs://{DATA_BUCKET}/reliability/gcs-down/raw/census.parquet"
    args = ["--source", str(small_csv), "--output", out]
    try:
        gcs.stop()
        started = time.monotonic()
        down = run_stage("extractor", args, xcom_dir=tmp_path / "xcom", env=_gcs_env(gcs), timeout=300)
        seconds = time.monotonic() - started
        # gcsfs' per-retry tracebacks stay out of the stage log (pipeline_common.logs): exit 2 and
        # the contract's one line, no traceback.
        line = assert_bad_input(down, "storage endpoint unreachable", out)
        assert line.split(" | fix: ")[1].count("STORAGE_EMULATOR_HOST") == 1, line
        assert seconds < 120, f"{seconds:.1f} s"
        print(f"\nGCS emulator down: one clear failure in {seconds:.1f} s")

        gcs = servers.start_gcs(port=port)  # same endpoint; the memory backend starts empty
        gcs.create_bucket(DATA_BUCKET)
        again = run_stage("extractor", args, xcom_dir=tmp_path / "xcom", env=_gcs_env(gcs), timeout=300)
        assert again.rc == 0, again.stderr[-3000:]
        assert gcs.list_blobs(DATA_BUCKET, "reliability/gcs-down/") == {
            "reliability/gcs-down/raw/census.parquet": again.xcom["bytes"]
        }
    finally:
        gcs.stop()


def test_sigterm_half_way_exits_143_and_leaves_no_object(
    gcs_emulator: GcsEmulator, big_csv_gz: Path, tmp_path: Path
) -> None:
    prefix = f"reliability/sigterm-{uuid.uuid4().hex[:8]}/"
    out = f"gs://{DATA_BUCKET}/{prefix}raw/census.parquet"
    proc = _popen_stage(
        "extractor", ["--source", str(big_csv_gz), "--output", out], tmp_path / "xcom", _gcs_env(gcs_emulator)
    )
    try:
        _wait_for_line(proc, "read census_x10.csv.gz")  # the first progress line: half-way through reading
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert [x for x in err.splitlines() if x.startswith("ERROR [")] == [
        "ERROR [extract] terminated by SIGTERM; partial outputs removed | fix: re-run the task"
    ]
    assert gcs_emulator.list_blobs(DATA_BUCKET, prefix) == {}
    assert not (tmp_path / "xcom" / "return.json").exists()


# --------------------------------------------------------------------------- Airflow retry


def _generations(gcs: GcsEmulator, prefix: str) -> dict[str, tuple[int, str]]:
    return {b.name: (b.generation, b.md5_hash) for b in gcs.client().list_blobs(DATA_BUCKET, prefix=prefix)}


def test_same_task_twice_reuses_outputs_runs_and_versions(
    gcs_emulator: GcsEmulator, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """An Airflow retry (same dag run and task ids): extract and preprocess are cached at the same
    keys (faster; --force rewrites the same keys, nothing else), fit returns the run of the first
    attempt, promote returns the same version and leaves the alias where it was."""
    from mlflow.tracking import MlflowClient

    dag_run = f"manual__{uuid.uuid4().hex[:8]}"
    prefix = f"runs/mlflow-dag/{dag_run}/"
    base = f"gs://{DATA_BUCKET}/{prefix}"
    gcs_emulator.upload(DATA_BUCKET, f"{prefix}inputs/census.csv.gz", CENSUS_CSV_GZ)
    env = {**_gcs_env(gcs_emulator), "MLFLOW_TRACKING_URI": mlflow_server.url}
    experiment, model_name = f"rel-retry-{dag_run[-8:]}", f"rel-retry-{dag_run[-8:]}"
    raw = f"{base}extract/census.parquet"
    stages = {
        "extract": ("extractor", ["--source", f"{base}inputs/census.csv.gz", "--output", raw]),
        "preprocess": ("preprocessor", ["--input", raw, "--output-prefix", f"{base}preprocess"]),
    }

    def attempt(task: str, module: str, args: list[str], try_number: int) -> dict[str, Any]:
        run = run_stage(
            module, args, xcom_dir=tmp_path / f"{task}-{try_number}",
            env={**env, **_task_env(task, dag_run, try_number)}, timeout=FIT_TIMEOUT,
        )  # fmt: skip
        assert run.rc == 0, run.stderr[-3000:]
        return run.xcom

    timings = {}
    for task, (module, args) in stages.items():
        first = attempt(task, module, args, 1)
        before = _generations(gcs_emulator, prefix)
        again = attempt(task, module, args, 2)
        assert first["cached"] is False and again["cached"] is True
        assert _generations(gcs_emulator, prefix) == before, "a cached retry rewrote an object"
        forced = attempt(task, module, [*args, "--force"], 3)
        after = _generations(gcs_emulator, prefix)
        assert forced["cached"] is False and sorted(after) == sorted(before), "a forced retry added objects"
        rewritten = {k for k in after if after[k][0] != before[k][0]}
        assert rewritten and all(k.startswith(f"{prefix}{task}/") for k in rewritten)
        assert all(after[k][1] == before[k][1] for k in rewritten), "same input, same bytes"
        timings[task] = (first["seconds"], again["seconds"])
        assert again["seconds"] < first["seconds"], timings
    print(
        "\ncache (first s, cached s): " + ", ".join(f"{k} {a:.2f}/{b:.2f}" for k, (a, b) in timings.items())
    )

    features_uri = f"{base}preprocess/features.json"
    grid = tmp_path / "grid.yaml"
    grid.write_text(TINY_GRID)
    fit_args = ["train", "--model", "lgbm", "--features-uri", features_uri, "--experiment", experiment,
                "--grid", str(grid), "--cv", "2"]  # fmt: skip
    fit1 = attempt("train_lgbm", "trainer", fit_args, 1)
    fit2 = attempt("train_lgbm", "trainer", fit_args, 2)
    assert fit2["run_id"] == fit1["run_id"], "the retry trained again instead of returning the first run"
    client = MlflowClient(mlflow_server.url)
    runs = _runs_of(client, experiment)
    assert [r.info.run_id for r in runs] == [fit1["run_id"]], "a retry created a second MLflow run"

    promote_args = ["promote", "--experiment", experiment, "--model-name", model_name,
                    "--candidates", json.dumps([fit1])]  # fmt: skip
    p1 = attempt("promote", "trainer", promote_args, 1)
    alias_before = client.get_model_version_by_alias(model_name, "champion").version
    p2 = attempt("promote", "trainer", promote_args, 2)
    assert p2["registered_version"] == p1["registered_version"] and p2["promoted"] == p1["promoted"]
    volatile = ("seconds", "timings")
    assert {k: v for k, v in p2.items() if k not in volatile} == {
        k: v for k, v in p1.items() if k not in volatile
    }
    assert client.get_model_version_by_alias(model_name, "champion").version == alias_before
    assert len(client.search_model_versions(f"name = '{model_name}'")) == 1
