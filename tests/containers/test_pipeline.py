"""The whole pipeline as containers, each run exactly as the DAG's KubernetesPodOperator runs it.

extract (CSV in the GCS emulator) -> preprocess -> fit lgbm and logreg (demo grid) -> promote,
every stage with the DAG's arguments, a read-only root, UID 10001, no capabilities and the
DAG's memory limit; each stage's return.json is read after its container exits and feeds the
next one's arguments, like `ti.xcom_pull(...)` in the DAG templates.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.containers.kpo import PodRun, run_pod
from tests.fixtures.servers import DATA_BUCKET, GcsEmulator, MlflowServer, census_csv_path

MODELS = ("lgbm", "logreg")
REGISTERED_MODEL = "census-never-married"
ALIAS = "champion"


def _ok(run: PodRun) -> dict[str, Any]:
    assert run.returncode == 0, run.describe()
    assert run.result is not None, "no /airflow/xcom/return.json\n" + run.describe()
    return run.result


@pytest.fixture(scope="module")
def pipeline(
    built_images: dict[str, str],
    gcs_emulator: GcsEmulator,
    mlflow_server: MlflowServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    run_id = f"containers-{uuid.uuid4().hex[:8]}"
    prefix = f"gs://{DATA_BUCKET}/runs/census_containers/{run_id}"
    source_name = f"sources/{run_id}/census_adult_income.csv.gz"
    gcs_emulator.upload(DATA_BUCKET, source_name, census_csv_path())
    experiment = f"census-containers-{run_id}"
    xcom = tmp_path_factory.mktemp("xcom")
    env = {
        "STORAGE_EMULATOR_HOST": gcs_emulator.url,
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        "AIRFLOW_CTX_DAG_ID": "census_containers",
        "AIRFLOW_CTX_DAG_RUN_ID": run_id,
        "AIRFLOW_CTX_TRY_NUMBER": "1",
    }
    mlflow_env = {**env, "MLFLOW_TRACKING_URI": mlflow_server.url}
    runs: dict[str, PodRun] = {}

    runs["extract"] = run_pod(
        built_images["extractor"],
        ["--source", f"gs://{DATA_BUCKET}/{source_name}", "--output", f"{prefix}/extract/census.parquet"],
        stage="extract", xcom_parent=xcom, env={**env, "AIRFLOW_CTX_TASK_ID": "extract"},
    )  # fmt: skip
    extract = _ok(runs["extract"])
    runs["preprocess"] = run_pod(
        built_images["preprocessor"],
        ["--input", extract["raw_uri"], "--output-prefix", f"{prefix}/preprocess", "--test-size", "0.2",
         "--seed", "55"],
        stage="preprocess", xcom_parent=xcom, env={**env, "AIRFLOW_CTX_TASK_ID": "preprocess"},
    )  # fmt: skip
    preprocess = _ok(runs["preprocess"])
    fits = []
    for model in MODELS:
        runs[model] = run_pod(
            built_images["trainer"],
            ["train", "--model", model, "--features-uri", preprocess["features_uri"],
             "--experiment", experiment, "--grid", "demo", "--search", "grid"],
            stage="train", xcom_parent=xcom, env={**mlflow_env, "AIRFLOW_CTX_TASK_ID": model},
        )  # fmt: skip
        fits.append(_ok(runs[model]))
    runs["promote"] = run_pod(
        built_images["trainer"],
        ["promote", "--experiment", experiment, "--model-name", REGISTERED_MODEL,
         "--candidates", json.dumps(fits), "--alias", ALIAS],
        stage="promote", xcom_parent=xcom, env={**mlflow_env, "AIRFLOW_CTX_TASK_ID": "promote"},
    )  # fmt: skip
    promote = _ok(runs["promote"])
    for name, run in runs.items():
        print(f"{name:10s} exit {run.returncode} in {run.seconds:6.1f} s")
    return {
        "runs": runs,
        "extract": extract,
        "preprocess": preprocess,
        "fits": fits,
        "promote": promote,
        "prefix": prefix,
        "experiment": experiment,
        "xcom": xcom,
    }


def test_extract_wrote_parquet_in_the_bucket(pipeline: dict[str, Any], gcs_emulator: GcsEmulator) -> None:
    extract = pipeline["extract"]
    assert extract["stage"] == "extract" and extract["read_api"] == "file" and extract["cached"] is False
    assert extract["raw_uri"] == f"{pipeline['prefix']}/extract/census.parquet"
    assert extract["rows"] > 30000 and "marital_status" in extract["columns"]
    name = extract["raw_uri"].removeprefix(f"gs://{DATA_BUCKET}/")
    assert gcs_emulator.list_blobs(DATA_BUCKET, name) == {name: extract["bytes"]}


def test_preprocess_committed_its_manifest(pipeline: dict[str, Any], gcs_emulator: GcsEmulator) -> None:
    pre = pipeline["preprocess"]
    assert pre["stage"] == "preprocess" and pre["features_uri"].endswith("/preprocess/features.json")
    blobs = gcs_emulator.list_blobs(
        DATA_BUCKET, pipeline["prefix"].removeprefix(f"gs://{DATA_BUCKET}/") + "/preprocess/"
    )
    # Content-addressed: train-, test- and row_ids-<sha12>.parquet (preprocessor/outputs.py).
    names = {Path(name).name for name in blobs}
    expected = {f"{s}-{pre[f'{s}_sha256'][:12]}.parquet" for s in ("train", "test")} | {"features.json"}
    row_ids = names - expected
    assert (
        expected <= names
        and len(row_ids) == 1
        and re.fullmatch(r"row_ids-[0-9a-f]{12}\.parquet", row_ids.pop())
    )
    # Cleaning may drop rows (e.g. duplicates), never add any.
    assert (
        0.9 * pipeline["extract"]["rows"]
        < pre["rows_train"] + pre["rows_test"]
        <= pipeline["extract"]["rows"]
    )


def test_each_trainer_logged_a_run(pipeline: dict[str, Any]) -> None:
    assert [fit["model"] for fit in pipeline["fits"]] == list(MODELS)
    for fit in pipeline["fits"]:
        assert (
            fit["stage"] == "train"
            and fit["run_id"]
            and fit["features_uri"] == pipeline["preprocess"]["features_uri"]
        )
        assert 0.5 < fit["metrics"]["roc_auc"] <= 1.0, fit["metrics"]


def test_promote_moved_the_champion_alias(pipeline: dict[str, Any], mlflow_server: MlflowServer) -> None:
    from mlflow import MlflowClient

    promote = pipeline["promote"]
    best = max(pipeline["fits"], key=lambda fit: fit["metrics"]["roc_auc"])
    assert promote["best_model"] == best["model"] and promote["run_id"] == best["run_id"]
    client = MlflowClient(tracking_uri=mlflow_server.url)
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, ALIAS)
    if promote["promoted"]:
        assert str(champion.version) == str(promote["registered_version"])
        assert champion.run_id == best["run_id"]
    else:  # an earlier champion in this server still wins on the same holdout
        assert str(champion.version) == str(promote["champion_version"]), promote["reason"]


def test_stages_ran_locked_down(pipeline: dict[str, Any]) -> None:
    """Guard the harness itself: every run really used the pod's restrictions."""
    for run in pipeline["runs"].values():
        flags = " ".join(run.argv)
        for flag in (
            "--read-only",
            "--user 10001:10001",
            "--cap-drop ALL",
            "--security-opt no-new-privileges",
            "--memory ",
            "/airflow/xcom",
        ):
            assert flag in flags


def test_stage_logs_carry_no_traceback_or_library_warning(pipeline: dict[str, Any]) -> None:
    """Clean logs in the slim images: e.g. loky's worker shutdown must not need pgrep/psutil, and
    GitPython must not complain that the image has no git."""
    for name, run in pipeline["runs"].items():
        for marker in ("Traceback", "Exception in thread", "Failed to import Git", "Please install"):
            assert marker not in run.stderr, f"{name}: {marker!r} in its log\n{run.describe()}"
