"""Whole DAG runs through dag.test(), as a kind deployment runs them: real templating, real XCom
passing, real stage containers, the operator's real clean-up.

Each run gets exactly the Airflow environment helm/airflow/values.yaml + values-kind.yaml declare
(parsed from those files; only the two in-cluster service URLs are replaced, explicitly, by the
local fake-gcs-server and MLflow server) and the CONF `make trigger` sends by default (parsed from
mk/kind.mk). So the default source is the deployment's: the CSV the seed Job uploads, read from the
GCS emulator. KubernetesPodOperator.execute is swapped (here only) for PodRunner, which runs each
rendered pod's stage container (tests/dags/pod_runner.py) and then the operator's own clean-up.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.dags.dagtools import (
    LoadedDags,
    arg_after,
    in_cluster_stand_ins,
    run_dag,
    task_states,
    trigger_defaults,
)
from tests.dags.pod_runner import PodRunner
from tests.helpers.airflow_env import values_env

REGISTERED_MODEL = "census-never-married"
MLFLOW_IN_CLUSTER = "http://mlflow.mlflow.svc.cluster.local:5000"  # docs/contract.md
GCS_IN_CLUSTER = "http://fake-gcs-server.ml-pipeline.svc.cluster.local:4443"


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def champion(mlflow_url: str, model_name: str = REGISTERED_MODEL) -> dict[str, Any]:
    """The model version holding @champion, from MLflow's REST API."""
    query = urllib.parse.urlencode({"name": model_name, "alias": "champion"})
    return _get_json(f"{mlflow_url}/api/2.0/mlflow/registered-models/alias?{query}")["model_version"]


def bucket_objects(gcs_url: str, bucket: str, prefix: str) -> list[str]:
    query = urllib.parse.urlencode({"prefix": prefix})
    return [item["name"] for item in _get_json(f"{gcs_url}/storage/v1/b/{bucket}/o?{query}").get("items", [])]


@pytest.fixture(scope="module")
def kind_env(pipeline_services: dict[str, str]) -> dict[str, str]:
    """The kind deployment's Airflow env, the two in-cluster service URLs pointed at the local servers."""
    declared = values_env("kind")
    local = {MLFLOW_IN_CLUSTER: pipeline_services["mlflow_url"], GCS_IN_CLUSTER: pipeline_services["gcs_url"]}
    env = in_cluster_stand_ins(declared, local)
    assert {k for k in env if env[k] != declared[k]} == {
        "AIRFLOW_VAR_MLFLOW_TRACKING_URI",
        "AIRFLOW_VAR_GCS_EMULATOR_HOST",
    }, "only the in-cluster service URLs are replaced"
    return env


def _run(dags: LoadedDags, env: dict[str, str], tmp_path: Path, dag_id: str, conf: dict, **kw: Any):
    runner = PodRunner(tmp_path)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        dag_run = run_dag(dags.dag(dag_id), runner.execute, run_conf=conf, **kw)
    print(f"{dag_id} pods:", ", ".join(f"{r.task_id} {r.seconds:.0f}s ({r.mode})" for r in runner.runs))
    return dag_run, runner


def _succeeded(dag_run: Any, runner: PodRunner) -> dict[str, Any]:
    states = task_states(dag_run)
    failed = {r.task_id: r.log_tail for r in runner.runs if r.rc != 0}
    # Trainers of models the run did not select are skipped (no pod); everything else succeeds.
    ran = {r.task_id for r in runner.runs}
    assert {s for t, s in states.items() if t in ran or not t.startswith("train.")} == {"success"}, (
        states,
        failed,
    )
    assert {s for t, s in states.items() if t not in ran} <= {"skipped"}, states
    assert runner.api.pods == {}, "every succeeded pod was deleted by the operator's clean-up"
    assert sorted(runner.api.deleted) == sorted(r.pod_name for r in runner.runs)
    return {r.task_id: r for r in runner.runs}


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


def test_make_trigger_default_run_on_the_kind_settings(
    dags: LoadedDags,
    pipeline_services: dict[str, str],
    kind_env: dict[str, str],
    stage_pod_mode: str,
    tmp_path: Path,
) -> None:
    """`make trigger` with no arguments, as on kind: its DAG and CONF, over REST (no logical date)."""
    dag_id, conf = trigger_defaults()
    dag_run, runner = _run(dags, kind_env, tmp_path, dag_id, conf, logical_date=None)
    runs = _succeeded(dag_run, runner)
    assert dag_run.logical_date is None
    assert {r.mode for r in runs.values()} == {"docker" if stage_pod_mode == "containers" else "process"}
    # The CONF names no source: the run extracts the deployment's default, the seeded CSV.
    assert "source" not in conf
    assert arg_after(runs["extract"].argv, "--source") == kind_env["AIRFLOW_VAR_DEFAULT_SOURCE_CENSUS"]
    assert runs["extract"].result["read_api"] == "file" and runs["extract"].result["rows"] == 32561
    assert "GOOGLE_CLOUD_PROJECT" not in runs["extract"].env, "no BigQuery project on kind"
    trainers = [f"train.{m}" for m in conf["models"]]
    assert sorted(runs) == sorted(["extract", "preprocess", *trainers, "promote"])
    _assert_xcom_chain(runs, trainers)
    assert {runs[t].result["model"] for t in trainers} == set(conf["models"])
    for tid, run in runs.items():
        assert run.env["AIRFLOW_CTX_DAG_RUN_ID"] == dag_run.run_id
        assert run.env["AIRFLOW_CTX_TASK_ID"] == tid
        assert "PIPELINE_CPUS" not in run.env, "the stage derives its budget from its CPU limit and the node"
    _assert_champion(pipeline_services["mlflow_url"], runs["promote"].result)
    # The promote task's log ends with the run summary it returned (what trigger_dag.py prints).
    summary = runs["promote"].result["summary"]
    assert runs["promote"].log_tail.rstrip().endswith(summary.rstrip()), runs["promote"].log_tail
    assert all(f"model card {m}: runs:/" in summary for m in conf["models"])
    # Outputs sit under runs/<dag id>/<sanitised run id>/<task>/ in the data bucket.
    raw_uri = runs["extract"].result["raw_uri"]
    bucket = kind_env["AIRFLOW_VAR_DATA_BUCKET"]
    prefix = raw_uri.removeprefix(f"gs://{bucket}/").removesuffix("extract/census.parquet")
    assert prefix.startswith(f"runs/{dag_id}/") and prefix.count("/") == 3, prefix
    names = bucket_objects(pipeline_services["gcs_url"], bucket, prefix)
    pre = runs["preprocess"].result
    for part in (
        "extract/census.parquet",
        # Splits are content-addressed (preprocessor/outputs.py).
        f"preprocess/train-{pre['train_sha256'][:12]}.parquet",
        f"preprocess/test-{pre['test_sha256'][:12]}.parquet",
        "preprocess/features.json",
    ):
        assert prefix + part in names, names


def test_single_model_dag_with_the_default_conf_on_the_kind_settings(
    dags: LoadedDags,
    pipeline_services: dict[str, str],
    kind_env: dict[str, str],
    stage_pod_mode: str,
    tmp_path: Path,
) -> None:
    """`make trigger DAG=mlflow-dag`: the same CONF; `models` is not this DAG's param, `model` defaults."""
    _, conf = trigger_defaults()
    dag_run, runner = _run(dags, kind_env, tmp_path, "mlflow-dag", {**conf, "force_refresh": True})
    runs = _succeeded(dag_run, runner)
    assert sorted(runs) == ["extract", "preprocess", "promote", "train"]
    _assert_xcom_chain(runs, ["train"])
    assert runs["train"].result["model"] == "lgbm" and arg_after(runs["train"].argv, "--grid") == "demo"
    assert runs["extract"].argv[-1] == "--force"
    _assert_champion(pipeline_services["mlflow_url"], runs["promote"].result)


def test_bad_input_fails_at_once_without_retries_and_keeps_the_pod(
    dags: LoadedDags, kind_env: dict[str, str], stage_pod_mode: str, tmp_path: Path
) -> None:
    """A source that does not exist: the extractor exits 2 (bad input), the task fails on its first
    try (retries=2 would otherwise re-run it twice), downstream tasks never run, the pod stays."""
    bucket = kind_env["AIRFLOW_VAR_DATA_BUCKET"]
    conf = {"source": f"gs://{bucket}/no/such/census.csv", "grid": "demo"}
    dag_run, runner = _run(dags, kind_env, tmp_path, "mlflow-dag", conf)
    states = task_states(dag_run)
    assert states["extract"] == "failed", states
    assert {states[t] for t in ("preprocess", "train", "promote")} == {"upstream_failed"}, states
    (run,) = runner.runs
    assert (run.task_id, run.rc, run.try_number, run.error) == ("extract", 2, 1, "AirflowFailException")
    assert "ERROR [extract]" in run.log_tail and " | fix: " in run.log_tail
    ti = next(t for t in dag_run.get_task_instances() if t.task_id == "extract")
    assert ti.try_number == 1 and ti.max_tries == 2, "retries are configured, yet none was used"
    assert runner.api.phase(run.pod_name) == "Failed", "the failed pod stays for kubectl logs/describe"


def test_a_second_dataset_runs_through_the_same_images_with_only_its_spec(
    dags: LoadedDags,
    pipeline_services: dict[str, str],
    kind_env: dict[str, str],
    stage_pod_mode: str,
    tmp_path: Path,
) -> None:
    """penguins on the kind settings: its seeded CSV (Variable default_source_penguins), its target,
    its experiment and its own registered model, through the same stage images as census."""
    conf = {"dataset": "penguins", "target": "adelie", "model": "hgb", "grid": "demo"}
    dag_run, runner = _run(dags, kind_env, tmp_path, "mlflow-dag", conf)
    runs = _succeeded(dag_run, runner)
    assert arg_after(runs["extract"].argv, "--dataset") == "penguins"
    assert arg_after(runs["extract"].argv, "--source") == kind_env["AIRFLOW_VAR_DEFAULT_SOURCE_PENGUINS"]
    assert runs["extract"].result["rows"] == 344 and runs["extract"].result["dataset"] == "penguins"
    assert runs["extract"].result["raw_uri"].endswith("/extract/penguins.parquet")
    assert arg_after(runs["preprocess"].argv, "--target") == "adelie"
    assert runs["preprocess"].result["target"] == "adelie" and runs["preprocess"].result["n_features"] == 10
    assert runs["train"].result["model"] == "hgb" and runs["train"].result["experiment"] == "penguins"
    promote = runs["promote"].result
    assert arg_after(runs["promote"].argv, "--model-name") == promote["model_name"] == "penguins-adelie"
    current = champion(pipeline_services["mlflow_url"], "penguins-adelie")
    assert current["run_id"] == runs["train"].result["run_id"] and promote["promoted"] is True
