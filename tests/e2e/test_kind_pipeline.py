"""The whole pipeline on kind: one multi-model DAG run, checked where its results live.

Airflow (REST API v2) says the run succeeded and hands back each stage's return.json (XCom);
MLflow's REST API must hold one finished run per model with the contract's metrics and plot
artifacts, and the registered model's `champion` alias; the GCS emulator must hold the stage
outputs the return.json files point at.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.e2e.conftest import MLFLOW_URL, DagRun

MODEL_NAME = "census-never-married"  # docs/contract.md
ALIAS = "champion"
# What every fit logs (docs/contract.md): the handful people compare, nothing else.
METRICS = ("roc_auc", "pr_auc", "log_loss", "cv_roc_auc_mean", "cv_roc_auc_std", "fit_seconds")
MODELS = tuple(os.environ.get("E2E_MODELS", "lgbm,logreg").split(","))


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _mlflow(path: str, **params: Any) -> Any:
    return _get(f"{MLFLOW_URL}/api/2.0/mlflow/{path}?{urllib.parse.urlencode(params)}")


def _returns(dag_run: DagRun, stage: str) -> list[dict[str, Any]]:
    found = [v for v in dag_run.returns.values() if v["stage"] == stage]
    assert found, (
        f"no task of {dag_run.dag_id} returned a {stage!r} return.json; got {sorted(dag_run.returns)}"
    )
    return found


def _artifact_files(run_id: str, path: str = "", depth: int = 3) -> list[str]:
    listing = (
        _mlflow("artifacts/list", run_id=run_id, path=path)
        if path
        else _mlflow("artifacts/list", run_id=run_id)
    )
    files = []
    for entry in listing.get("files", []):
        if entry.get("is_dir") and depth > 0:
            files += _artifact_files(run_id, entry["path"], depth - 1)
        elif not entry.get("is_dir"):
            files.append(entry["path"])
    return files


def test_multi_model_dag_run_succeeds(dag_run: DagRun):
    result = dag_run.result
    assert result.state == "success", (
        f"run {result.run_id} ended {result.state}; failed: {result.failed_tasks}"
    )
    assert {"extract", "preprocess", "train", "promote"} <= {v["stage"] for v in dag_run.returns.values()}


def test_one_mlflow_run_per_model_with_metrics_and_plots(dag_run: DagRun):
    fits = _returns(dag_run, "train")
    by_model: dict[str, list[dict[str, Any]]] = {}
    for fit in fits:
        by_model.setdefault(fit["model"], []).append(fit)
    assert set(MODELS) <= set(by_model), f"models trained: {sorted(by_model)}, expected {MODELS}"
    for model, runs in by_model.items():
        assert len(runs) == 1, f"{model}: {len(runs)} fits in one DAG run"
        run = _mlflow("runs/get", run_id=runs[0]["run_id"])["run"]
        assert run["info"]["status"] == "FINISHED", f"{model}: MLflow run {run['info']['status']}"
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        assert set(metrics) == set(METRICS), f"{model}: MLflow metrics {sorted(metrics)}, expected {METRICS}"
        for name in ("roc_auc", "pr_auc", "log_loss"):
            assert metrics[name] == pytest.approx(runs[0]["metrics"][name], rel=1e-6)
        files = _artifact_files(runs[0]["run_id"])
        assert [f for f in files if f.startswith("plots/") and f.endswith(".png")], f"{model}: no plots"
        assert "model_card.html" in files, f"{model}: run {runs[0]['run_id']} has no model card"


def test_registered_model_has_a_champion(dag_run: DagRun):
    (promote,) = _returns(dag_run, "promote")
    assert promote["model_name"] == MODEL_NAME and promote["alias"] == ALIAS
    version = _mlflow("registered-models/alias", name=MODEL_NAME, alias=ALIAS)["model_version"]
    assert version["name"] == MODEL_NAME
    if promote["promoted"]:
        assert str(version["version"]) == str(promote["registered_version"])
        assert version["run_id"] in {fit["run_id"] for fit in _returns(dag_run, "train")}
    else:  # a reused cluster whose earlier champion still scores better
        assert str(version["version"]) == str(promote["champion_version"])


def test_stage_outputs_are_in_the_gcs_emulator(dag_run: DagRun, gcs_emulator: str):
    uris = [r["raw_uri"] for r in _returns(dag_run, "extract")]
    for prep in _returns(dag_run, "preprocess"):
        uris += [prep["features_uri"], prep["train_uri"], prep["test_uri"]]
    for uri in uris:
        parsed = urllib.parse.urlsplit(uri)
        assert parsed.scheme == "gs", f"{uri}: stage outputs go to GCS on kind"
        obj = urllib.parse.quote(parsed.path.lstrip("/"), safe="")
        meta = _get(f"{gcs_emulator}/storage/v1/b/{parsed.netloc}/o/{obj}")
        assert int(meta["size"]) > 0, f"{uri} is empty"
        assert f"/{dag_run.dag_id}/" in uri, f"{uri} is not under runs/<dag_id>/<run_id>/ (docs/contract.md)"


def test_every_task_reports_its_timeline(dag_run: DagRun):
    """Pod created -> container started -> first work -> result -> pod deleted, for each stage pod."""
    from tests.e2e.timeline import POINTS

    ran = [row for row in dag_run.timeline if row["state"] == "success"]
    assert ran, "no task of the run produced a timeline row"
    for row in ran:
        missing = [p for p in POINTS if row[p] is None]
        assert not missing, f"{row['task']}: no {missing} in the timeline"
        # The cluster's timestamps have 1 s resolution; the stage's are exact.
        assert row["pod created"] <= row["container started"] + 1 <= row["first work"] + 2, row
        assert row["first work"] <= row["result"] <= row["pod deleted"] + 1, row


def test_no_stage_pod_outlives_a_successful_run(dag_run: DagRun):
    """Succeeded pods are deleted, nothing is left Pending or Running (census_pipeline/pod_lifecycle.py)."""
    assert dag_run.result.state == "success"
    assert dag_run.leftover == {}, f"stage pods left after the run: {dag_run.leftover}"
