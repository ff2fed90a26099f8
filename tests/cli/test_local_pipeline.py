"""The whole local pipeline (`make demo`'s scripts/demo.py): extract -> preprocess -> fit lgbm and
logreg -> promote, each stage a process; then MLflow is checked through its client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.stages import ROOT

pytestmark = pytest.mark.slow
AIRFLOW_ENV = (
    "AIRFLOW_CTX_DAG_ID",
    "AIRFLOW_CTX_DAG_RUN_ID",
    "AIRFLOW_CTX_TASK_ID",
    "AIRFLOW_CTX_TRY_NUMBER",
)


def run_demo(workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in AIRFLOW_ENV and k != "MLFLOW_TRACKING_URI"}
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--workdir", str(workdir), "--grid", "demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )


def test_local_pipeline_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "demo"
    proc = run_demo(workdir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())

    # The run summary (promote's, printed once) names both models, the champion and the pages.
    assert "cv roc_auc" in proc.stdout and "best candidate" in proc.stdout
    assert (proc.stdout + proc.stderr).count("* best candidate: ") == 1
    # Named as runs:/ URIs in the summary, then as files to open in a browser.
    cards = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("model card ")]
    assert len(cards) == 4 and sum(": runs:/" in line for line in cards) == 2, cards
    assert "decision report: runs:/" in proc.stdout
    assert "(1.0x fewer)" not in proc.stderr and "already exists" not in proc.stderr
    fits = {f["model"]: f for f in summary["fits"]}
    assert set(fits) == {"lgbm", "logreg"}
    assert summary["extract"]["rows"] == 32561
    assert (
        summary["preprocess"]["features_uri"]
        == fits["lgbm"]["features_uri"]
        == fits["logreg"]["features_uri"]
    )
    promote = summary["promote"]
    assert promote["promoted"] is True and promote["registered_version"] == 1
    best = max(fits.values(), key=lambda f: f["metrics"]["roc_auc"])
    assert promote["best_model"] == best["model"]

    client = MlflowClient(summary["tracking_uri"])
    experiment = client.get_experiment_by_name(summary["experiment"])
    assert experiment.artifact_location.startswith((workdir / "artifacts").as_uri())
    runs = {r.data.tags["pipeline.model"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"lgbm", "logreg"}
    for model, run in runs.items():
        assert run.info.status == "FINISHED"
        assert run.info.run_id == fits[model]["run_id"]
        assert run.data.metrics["roc_auc"] == pytest.approx(fits[model]["metrics"]["roc_auc"], abs=1e-6)
        assert 0.85 < run.data.metrics["roc_auc"] < 1
        assert run.data.tags["pipeline.test_sha256"] == summary["preprocess"]["test_sha256"]
        plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
        assert "plots/roc_curve.png" in plots and len(plots) == 4
        assert (workdir / "artifacts").is_dir()

    champion = client.get_model_version_by_alias("census-never-married", "champion")
    assert str(champion.version) == "1" and champion.run_id == best["run_id"]
    assert champion.tags["promote.promoted"] == "true"
    assert client.get_run(best["run_id"]).data.tags["promote.reason"] == promote["reason"]

    # The champion loads back as a scikit-learn model (skops; MLflow 3 asks for explicit consent
    # to deserialise any model) and predicts probabilities for the input columns.
    import mlflow.sklearn
    import pandas as pd

    monkeypatch.setenv("MLFLOW_TRACKING_URI", summary["tracking_uri"])
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    model = mlflow.sklearn.load_model("models:/census-never-married@champion")
    test = pd.read_parquet(summary["preprocess"]["test_uri"].removeprefix("file://"))
    proba = model.predict_proba(test[list(model.feature_names_in_)].astype("float64"))
    assert proba.shape == (summary["preprocess"]["rows_test"], 2)

    # A second demo in the same workdir adds runs but keeps one champion; promote decides on the
    # same holdout against it.
    again = run_demo(workdir)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    second = json.loads((workdir / "summary.json").read_text())["promote"]
    assert second["champion_version"] == 1
    assert second["champion_roc_auc"] == pytest.approx(promote["roc_auc"], abs=1e-6)
    # Same data, same seeds: the candidate ties the champion, and a tie keeps the champion; the
    # loser is not registered, and the table says why.
    assert second["promoted"] is False and second["rule"] == "gain_below_min_delta"
    assert second["delta"] == 0 and second["registered_version"] is None
    assert len(client.search_model_versions("name = 'census-never-married'")) == 1
    assert "not promoted: v1 keeps census-never-married@champion" in again.stdout
    # The second logreg search knows its fits' costs from the first: its ETA weighs them.
    assert "progress weighs each fit by its cost in run " + fits["logreg"]["run_id"] in again.stderr
    assert "why (gain_below_min_delta): champion v1 stays" in again.stdout


def test_the_penguins_dataset_runs_to_its_own_champion(tmp_path: Path) -> None:
    """`make demo DATASET=penguins`: the same stages, only its spec, its own registered model."""
    env = {k: v for k, v in os.environ.items() if k not in AIRFLOW_ENV and k != "MLFLOW_TRACKING_URI"}
    workdir = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            "--workdir",
            str(workdir),
            "--dataset",
            "penguins",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    assert (summary["dataset"], summary["target"], summary["experiment"]) == (
        "penguins",
        "male",
        "penguins-demo",
    )
    assert summary["extract"]["rows"] == 344 and summary["preprocess"]["rows_test"] == 67
    assert summary["champion"]["model_name"] == "penguins-male" and summary["promote"]["promoted"] is True
    client = MlflowClient(summary["tracking_uri"])
    champion = client.get_model_version_by_alias("penguins-male", "champion")
    assert champion.run_id == summary["promote"]["run_id"]


@pytest.mark.parametrize(
    ("variable", "value", "words"),
    [
        ("DATASET", "iris", ["DATASET (--dataset): unknown dataset 'iris'", "penguins"]),
        ("TARGET", "married", ["TARGET (--target): dataset 'census' has no target 'married'"]),
        ("DEMO_MODELS", "lgbm,xgb", ["DEMO_MODELS (--models): unknown model(s) ['xgb']", "hgb"]),
        ("DEMO_GRID", "huge", ["DEMO_GRID (--grid)", "neither a grid of model 'lgbm'"]),
        ("DEMO_SEARCH", "random", ["DEMO_SEARCH (--search): unknown search 'random'"]),
        (
            "DEMO_SOURCE",
            "/nowhere/census.csv",
            ["DEMO_SOURCE (--source): /nowhere/census.csv does not exist"],
        ),
        ("STORE", "cloud", ["STORE (--store): unknown store 'cloud'"]),
    ],
)
def test_make_demo_checks_every_variable_before_any_stage(
    variable: str, value: str, words: list[str]
) -> None:
    proc = subprocess.run(
        ["make", "--no-print-directory", "-s", "demo", f"{variable}={value}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    for word in words:
        assert word in output, output[-2000:]
    assert "--- extract" not in output, "a stage ran before the variables were checked"
