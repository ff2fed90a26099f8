"""Whole DAG runs through dag.test(): real templating, real XCom passing, real stages.

KubernetesPodOperator.execute is swapped (here only) for PodRunner, which runs each rendered
pod's stage container (Docker image if built, else a .venv process) against fake-gcs-server and
a real MLflow server. The demo grid and the census CSV in the emulator bucket keep it short.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.dags.dagtools import LoadedDags, arg_after, run_dag, task_states
from tests.dags.pod_runner import PodRunner

REGISTERED_MODEL = "census-never-married"


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def champion(mlflow_url: str) -> dict[str, Any]:
    """The model version holding @champion, from MLflow's REST API."""
    query = urllib.parse.urlencode({"name": REGISTERED_MODEL, "alias": "champion"})
    return _get_json(f"{mlflow_url}/api/2.0/mlflow/registered-models/alias?{query}")["model_version"]


def bucket_objects(gcs_url: str, bucket: str, prefix: str) -> list[str]:
    query = urllib.parse.urlencode({"prefix": prefix})
    return [item["name"] for item in _get_json(f"{gcs_url}/storage/v1/b/{bucket}/o?{query}").get("items", [])]


def _run(dags: LoadedDags, services: dict[str, str], tmp_path: Path, dag_id: str, conf: dict, **kw: Any):
    runner = PodRunner(tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_VAR_GCS_EMULATOR_HOST", services["gcs_url"])
        mp.setenv("AIRFLOW_VAR_MLFLOW_TRACKING_URI", services["mlflow_url"])
        dag_run = run_dag(dags.dag(dag_id), runner.execute, run_conf=conf, **kw)
    print(f"{dag_id} pods:", ", ".join(f"{r.task_id} {r.seconds:.0f}s ({r.mode})" for r in runner.runs))
    states = task_states(dag_run)
    failed = {r.task_id: r.log_tail for r in runner.runs if r.rc != 0}
    assert set(states.values()) == {"success"}, (states, failed)
    return dag_run, {r.task_id: r for r in runner.runs}


def _assert_xcom_chain(runs: dict[str, Any], trainers: list[str]) -> None:
    """Each downstream pod's arguments hold the upstream pod's return.json values."""
    raw_uri = runs["extract"].result["raw_uri"]
    assert arg_after(runs["preprocess"].argv, "--input") == raw_uri
    features_uri = runs["preprocess"].result["features_uri"]
    for tid in trainers:
        assert arg_after(runs[tid].argv, "--features-uri") == features_uri
    candidates = json.loads(arg_after(runs["promote"].argv, "--candidates"))
    assert sorted(c["run_id"] for c in candidates) == sorted(runs[t].result["run_id"] for t in trainers)


def _assert_champion(mlflow_url: str, promote: dict[str, Any]) -> None:
    current = champion(mlflow_url)
    assert promote["model_name"] == REGISTERED_MODEL and promote["alias"] == "champion"
    expected = promote["registered_version"] if promote["promoted"] else promote["champion_version"]
    assert int(current["version"]) == int(expected), (current, promote)
    if promote["promoted"]:
        assert current["run_id"] == promote["run_id"]


def test_multimodel_dag_end_to_end_without_logical_date(
    dags: LoadedDags, pipeline_services: dict[str, str], tmp_path: Path
) -> None:
    conf = {"source": pipeline_services["source"], "grid": "demo", "experiment": "dag-test-multimodel"}
    dag_run, runs = _run(dags, pipeline_services, tmp_path, "mlflow-multimodel-dag", conf, logical_date=None)
    assert dag_run.logical_date is None
    trainers = ["train.lgbm", "train.logreg"]
    assert sorted(runs) == sorted(["extract", "preprocess", *trainers, "promote"])
    _assert_xcom_chain(runs, trainers)
    assert {runs[t].result["model"] for t in trainers} == {"lgbm", "logreg"}
    for tid, run in runs.items():
        assert run.env["AIRFLOW_CTX_DAG_RUN_ID"] == dag_run.run_id
        assert run.env["AIRFLOW_CTX_TASK_ID"] == tid
    promote = runs["promote"].result
    assert promote["best_model"] in ("lgbm", "logreg")
    _assert_champion(pipeline_services["mlflow_url"], promote)
    # Outputs sit under runs/<dag id>/<sanitised run id>/<task>/ in the data bucket.
    raw_uri = runs["extract"].result["raw_uri"]
    prefix = raw_uri.removeprefix("gs://census-pipeline-data/").removesuffix("extract/census.parquet")
    assert prefix.startswith("runs/mlflow-multimodel-dag/") and prefix.count("/") == 3, prefix
    names = bucket_objects(pipeline_services["gcs_url"], "census-pipeline-data", prefix)
    for part in (
        "extract/census.parquet",
        "preprocess/train.parquet",
        "preprocess/test.parquet",
        "preprocess/features.json",
    ):
        assert prefix + part in names, names


def test_single_model_dag_end_to_end(
    dags: LoadedDags, pipeline_services: dict[str, str], tmp_path: Path
) -> None:
    conf = {
        "source": pipeline_services["source"],
        "grid": "demo",
        "model": "logreg",
        "experiment": "dag-test-single",
        "force_refresh": True,
    }
    _, runs = _run(dags, pipeline_services, tmp_path, "mlflow-dag", conf)
    assert sorted(runs) == ["extract", "preprocess", "promote", "train"]
    _assert_xcom_chain(runs, ["train"])
    assert runs["train"].result["model"] == "logreg"
    assert runs["extract"].argv[-1] == "--force"
    _assert_champion(pipeline_services["mlflow_url"], runs["promote"].result)
