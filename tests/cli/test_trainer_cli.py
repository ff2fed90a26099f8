"""`python -m trainer train|promote` as processes against a real (sqlite) MLflow store, checked
through return.json and the MLflow client."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.figures import page_images, page_links
from tests.helpers.stages import assert_bad_input, run_stage

FIT_KEYS = {
    "stage",
    "version",
    "model",
    "run_id",
    "experiment_id",
    "experiment",
    "model_uri",
    "metrics",
    "cv_roc_auc",
    "cv_roc_auc_std",
    "run_name",
    "card_uri",
    "best_params",
    "n_candidates",
    "n_fits",
    "features_uri",
    "test_sha256",
    "seconds",
    "timings",
}
PROMOTE_KEYS = {
    "stage",
    "version",
    "model_name",
    "alias",
    "best_model",
    "run_id",
    "model_uri",
    "registered_version",
    "champion_version",
    "champion_run_id",
    "roc_auc",
    "champion_roc_auc",
    "delta",
    "delta_ci",
    "p_value",
    "detectable_delta",
    "holdout",
    "slices",
    "gate",
    "promoted",
    "rule",
    "reason",
    "forced",
    "trigger",
    "decided_at",
    "decision_id",
    "decision_key",
    "ledger_seq",
    "report_uri",
    "rounds",
    "gate_seconds",
    "summary",
    "seconds",
    "timings",
}
AIRFLOW_ENV = (
    "AIRFLOW_CTX_DAG_ID",
    "AIRFLOW_CTX_DAG_RUN_ID",
    "AIRFLOW_CTX_TASK_ID",
    "AIRFLOW_CTX_TRY_NUMBER",
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A sqlite tracking store shared by this module (each test uses its own experiment/model)."""
    base = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{base / 'mlflow.db'}"
    env = {k: "" for k in AIRFLOW_ENV} | {"MLFLOW_TRACKING_URI": uri, "PIPELINE_CPUS": "2"}
    return {"uri": uri, "base": base, "env": env, "client": MlflowClient(uri)}


@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("grid") / "tiny.yaml"
    path.write_text(
        "lgbm: {n_estimators: [40], num_leaves: [15, 31], learning_rate: [0.1]}\n"
        "logreg: {solver: [lbfgs], l1_ratio: [0.0], C: [0.1]}\n"
    )
    return str(path)


def _experiment(client: MlflowClient, name: str, base: Path) -> None:
    # Artifacts under the test's tmp dir, not ./mlruns of the working directory.
    if client.get_experiment_by_name(name) is None:
        client.create_experiment(name, artifact_location=(base / "artifacts" / name).as_uri())


def fit(
    store: dict,
    features: dict,
    xcom: Path,
    experiment: str,
    *args: str,
    env: dict | None = None,
    model: str = "lgbm",
):
    _experiment(store["client"], experiment, store["base"])
    return run_stage(
        "trainer",
        [
            "train",
            "--model",
            model,
            "--features-uri",
            features["features_uri"],
            "--experiment",
            experiment,
            "--cv",
            "3",
            *args,
        ],
        xcom_dir=xcom,
        env={**store["env"], **(env or {})},
    )


AIRFLOW = {
    "AIRFLOW_CTX_DAG_ID": "census",
    "AIRFLOW_CTX_DAG_RUN_ID": "manual__t1",
    "AIRFLOW_CTX_TASK_ID": "fit_logreg",
    "AIRFLOW_CTX_TRY_NUMBER": "1",
    "STAGE_IMAGE": "census-pipeline/trainer:0.1.0",
}


@pytest.fixture(scope="module")
def lgbm_fit(store: dict, features_census: dict, tiny_grid: str, tmp_path_factory: pytest.TempPathFactory):
    return fit(store, features_census, tmp_path_factory.mktemp("lgbm"), "cli-fit", "--grid", tiny_grid)


@pytest.fixture(scope="module")
def logreg_fit(store: dict, features_census: dict, tiny_grid: str, tmp_path_factory: pytest.TempPathFactory):
    """logreg as the Airflow task fit_logreg, try 1."""
    xcom = tmp_path_factory.mktemp("logreg")
    return fit(store, features_census, xcom, "cli-fit", "--grid", tiny_grid, env=AIRFLOW, model="logreg")


def test_fit_logs_a_complete_run(
    store: dict,
    features_census: dict,
    lgbm_fit: Any,
    tiny_grid: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    run = lgbm_fit
    assert run.rc == 0, run.stderr
    result = run.xcom
    assert set(result) == FIT_KEYS, set(result) ^ FIT_KEYS
    assert result["stage"] == "train" and result["model"] == "lgbm"
    assert result["n_candidates"] == 2 and result["n_fits"] == 6
    assert set(result["metrics"]) == {"roc_auc", "pr_auc", "log_loss"}
    assert 0.85 < result["metrics"]["roc_auc"] < 1
    assert result["test_sha256"] == features_census["test_sha256"]
    assert "cv fits: 6/6 (100%)" in run.stderr

    client: MlflowClient = store["client"]
    mlrun = client.get_run(result["run_id"])
    assert mlrun.info.status == "FINISHED"
    assert mlrun.data.metrics["roc_auc"] == pytest.approx(result["metrics"]["roc_auc"], abs=1e-6)
    # The handful people compare, nothing else: the runs list shows every metric as a column.
    assert set(mlrun.data.metrics) == {
        "roc_auc", "pr_auc", "log_loss", "cv_roc_auc_mean", "cv_roc_auc_std", "fit_seconds"
    }  # fmt: skip
    assert mlrun.data.metrics["cv_roc_auc_std"] == pytest.approx(result["cv_roc_auc_std"], abs=1e-6)
    # Runs of one experiment are told apart by name: model, grid, data version, time.
    assert mlrun.info.run_name == result["run_name"]
    assert re.fullmatch(r"lgbm custom · data [0-9a-f]{6} · \d\d-\d\d \d\d:\d\dZ", result["run_name"])
    assert (
        mlrun.data.params["grid"] == tiny_grid
        and mlrun.data.params["cv"] == "3"
        and mlrun.data.params["search"] == "grid"
    )
    assert "best.num_leaves" in mlrun.data.params
    tags = mlrun.data.tags
    assert tags["pipeline.features_uri"] == features_census["features_uri"]
    assert tags["pipeline.train_sha256"] == features_census["train_sha256"]
    assert tags["pipeline.test_uri"] == features_census["test_uri"]
    artifacts = {a.path for a in client.list_artifacts(result["run_id"], "plots")}
    assert artifacts == {
        f"plots/{n}.png"
        for n in ("roc_curve", "precision_recall_curve", "confusion_matrix", "feature_importance")
    }
    assert {a.path for a in client.list_artifacts(result["run_id"], "cv")} >= {"cv/cv_results.csv"}
    assert {a.path for a in client.list_artifacts(result["run_id"], "evaluation")} == {
        "evaluation/classification_report.json",
        "evaluation/slices.csv",
    }
    assert result["card_uri"] == f"runs:/{result['run_id']}/model_card.html"
    # The model card as a person downloads it: every image decodes, the classes have their names.
    page = Path(client.download_artifacts(result["run_id"], "model_card.html", str(tmp_path)))
    assert len(page_images(page)) == 4 and page_links(page) == []
    assert "predicting never married" in page.read_text() and "ever married" in page.read_text()

    model = client.get_logged_model(result["model_uri"].removeprefix("models:/"))
    assert model.source_run_id == result["run_id"]
    import mlflow.models

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    info = mlflow.models.get_model_info(result["model_uri"])
    assert [c.name for c in info.signature.inputs.inputs][:3] == json.loads(
        Path(features_census["features_uri"].removeprefix("file://")).read_text()
    )["features"][:3]
    assert info.flavors["sklearn"]["serialization_format"] == "skops"


def test_retry_reuses_the_finished_run_of_the_same_task(
    store: dict, features_census: dict, logreg_fit: Any, tiny_grid: str, tmp_path: Path
) -> None:
    first = logreg_fit
    assert first.rc == 0, first.stderr
    retry = {**AIRFLOW, "AIRFLOW_CTX_TRY_NUMBER": "2"}
    second = fit(
        store, features_census, tmp_path / "b", "cli-fit", "--grid", tiny_grid, env=retry, model="logreg"
    )
    assert second.rc == 0, second.stderr
    assert second.xcom["run_id"] == first.xcom["run_id"]
    assert second.xcom["metrics"] == first.xcom["metrics"]
    assert "without training again" in second.stderr
    client: MlflowClient = store["client"]
    exp = client.get_experiment_by_name("cli-fit")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.`pipeline.model` = 'logreg'")
    assert len(runs) == 1
    tags = runs[0].data.tags
    assert tags["pipeline.task_key"] == "census/manual__t1/fit_logreg"
    assert tags["airflow.try_number"] == "1" and tags["stage_image"] == "census-pipeline/trainer:0.1.0"


def test_sigterm_marks_the_run_failed(store: dict, features_census: dict, tmp_path: Path) -> None:
    _experiment(store["client"], "cli-sigterm", store["base"])
    slow = tmp_path / "slow.yaml"
    slow.write_text(
        "lgbm: {n_estimators: [400], num_leaves: [63, 127, 255], learning_rate: [0.01, 0.02, 0.05]}\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainer",
            "train",
            "--model",
            "lgbm",
            "--features-uri",
            features_census["features_uri"],
            "--experiment",
            "cli-sigterm",
            "--grid",
            str(slow),
        ],
        env={**os.environ, **store["env"], "XCOM_DIR": str(tmp_path / "x")},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "training lgbm" in line:
            break
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)
    assert proc.returncode == 143, rest
    assert "ERROR [train] terminated by SIGTERM" in rest
    assert not (tmp_path / "x" / "return.json").exists()
    exp = store["client"].get_experiment_by_name("cli-sigterm")
    assert [r.info.status for r in store["client"].search_runs([exp.experiment_id])] == ["FAILED"]


def promote(store: dict, workdir: Path, experiment: str, name: str, step: str, *results: dict):
    """`trainer promote` of `results` (fit return.json objects) from an @file, as the DAG passes them."""
    candidates = workdir / f"{step}.json"
    candidates.write_text(json.dumps(list(results)))
    args = ["promote", "--experiment", experiment, "--model-name", name, "--candidates", f"@{candidates}"]
    return run_stage("trainer", args, xcom_dir=workdir / f"xcom-{step}", env=store["env"])


def test_promote_registers_moves_the_alias_and_is_idempotent(
    store: dict, features_census: dict, lgbm_fit: Any, logreg_fit: Any, tmp_path: Path
) -> None:
    client: MlflowClient = store["client"]
    weak = tmp_path / "weak.yaml"
    weak.write_text("lgbm: {n_estimators: [5], num_leaves: [4], learning_rate: [0.05]}\n")
    lgbm, logreg = lgbm_fit, logreg_fit
    stump = fit(store, features_census, tmp_path / "f3", "cli-fit", "--grid", str(weak))
    assert lgbm.rc == logreg.rc == stump.rc == 0, lgbm.stderr + logreg.stderr + stump.stderr
    name = "cli-census-model"
    experiment = "cli-fit"

    first = promote(store, tmp_path, experiment, name, "c1", logreg.xcom, lgbm.xcom)
    assert first.rc == 0, first.stderr
    r1 = first.xcom
    assert set(r1) == PROMOTE_KEYS, set(r1) ^ PROMOTE_KEYS
    best = max((lgbm.xcom, logreg.xcom), key=lambda r: r["metrics"]["roc_auc"])
    assert r1["best_model"] == best["model"] and r1["run_id"] == best["run_id"]
    assert r1["promoted"] is True and r1["rule"] == "no_champion" and r1["champion_version"] is None
    assert r1["registered_version"] == 1 and r1["ledger_seq"] == 1
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    # The version links its decision report, and the link opens.
    link = client.get_model_version(name, "1").tags["promote.report"]
    assert link == r1["report_uri"] and link.startswith(f"runs:/{r1['run_id']}/promote/")
    opened = Path(
        client.download_artifacts(
            r1["run_id"], link.removeprefix(f"runs:/{r1['run_id']}/"), str(tmp_path / "v1")
        )
    )
    assert len(page_images(opened)) == 2  # no champion yet: ROC and PR of the candidate alone

    again = promote(store, tmp_path, experiment, name, "c2", lgbm.xcom, logreg.xcom)
    assert again.rc == 0, again.stderr
    assert "decided before" in again.stderr
    assert {k: v for k, v in again.xcom.items() if k not in ("seconds", "timings")} == {
        k: v for k, v in r1.items() if k not in ("seconds", "timings")
    }
    assert len(client.search_model_versions(f"name = '{name}'")) == 1

    # A weaker model is compared with the champion on the same holdout and kept out; it stays a
    # run (no version) that carries the decision.
    loser = promote(store, tmp_path, experiment, name, "c3", stump.xcom)
    assert loser.rc == 0, loser.stderr
    r3 = loser.xcom
    assert r3["promoted"] is False and r3["registered_version"] is None and r3["champion_version"] == 1
    assert r3["champion_roc_auc"] == pytest.approx(best["metrics"]["roc_auc"], abs=1e-6)
    assert r3["rule"] == "gain_below_min_delta" and r3["reason"].startswith("champion v1 stays")
    assert r3["delta"] < 0 and r3["delta_ci"][1] < 0 and r3["p_value"] > 0.99
    assert r3["holdout"]["source"] == "candidate" and r3["holdout"]["rows"] == 6508
    assert {(s["attribute"], s["value"]) for s in r3["slices"]} >= {("sex", "Female"), ("race", "Black")}
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    assert len(client.search_model_versions(f"name = '{name}'")) == 1
    tags = client.get_run(stump.xcom["run_id"]).data.tags
    assert tags["promote.promoted"] == "false" and tags["promote.reason"] == r3["reason"]
    assert tags["promote.report"] == r3["report_uri"]
    artifacts = {a.path for a in client.list_artifacts(stump.xcom["run_id"], f"promote/{r3['decision_id']}")}
    assert {p.rsplit("/", 1)[-1] for p in artifacts} == {"report.html", "decision.json", "slices.csv"}
    # The report the version's tag links to opens, with all three plots (ROC, PR, slices).
    report = Path(
        client.download_artifacts(
            stump.xcom["run_id"],
            tags["promote.report"].removeprefix(f"runs:/{stump.xcom['run_id']}/"),
            str(tmp_path),
        )
    )
    assert len(page_images(report)) == 3 and page_links(report) == []
    # The run summary ends promote's log and is its return.json's `summary`.
    assert r3["summary"].splitlines()[0].split()[:3] == ["model", "cv", "roc_auc"]
    assert loser.stderr.rstrip().endswith(r3["summary"].rstrip())
    assert "already exists" not in first.stderr + loser.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["train", "--model", "xgb", "--features-uri", "/x.json", "--experiment", "e"],
            ["unknown model 'xgb'", "lgbm"],
        ),
        (
            ["train", "--model", "lgbm", "--features-uri", "/nonexistent/features.json", "--experiment", "e"],
            ["does not exist"],
        ),
        (["train", "--model", "lgbm"], ["required"]),
        (["promote", "--experiment", "e", "--model-name", "m", "--candidates", "[]"], ["no candidates"]),
        (["promote", "--experiment", "e", "--model-name", "m", "--candidates", "{oops"], ["not valid JSON"]),
        (
            ["promote", "--experiment", "e", "--model-name", "m", "--candidates", '[{"model": "lgbm"}]'],
            ["lacks", "run_id"],
        ),
        (
            ["promote", "--experiment", "e", "--model-name", "m", "--candidates", "[]", "--alpha", "0"],
            ["--alpha 0.0 is out of range"],
        ),
        (
            ["promote", "--experiment", "e", "--model-name", "m", "--candidates", "[]", "--slice-by", "a;b"],
            ["--slice-by", "a;b"],
        ),
        (["rollback", "--model-name", "m", "--to-version", "0"], ["--to-version 0"]),
    ],
)
def test_bad_input_gives_one_clear_line(
    store: dict, tmp_path: Path, args: list[str], words: list[str]
) -> None:
    run = run_stage("trainer", args, xcom_dir=tmp_path / "x", env=store["env"])
    assert_bad_input(run, *words)


def test_unknown_grid_name(store: dict, features_census: dict, tmp_path: Path) -> None:
    run = fit(store, features_census, tmp_path / "x", "cli-bad", "--grid", "huge")
    assert_bad_input(run, "--grid", "huge")


def test_invalid_grid_file(store: dict, features_census: dict, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("logreg: {solver: [lbfgs], l1_ratio: [1.0]}\n")
    run = fit(store, features_census, tmp_path / "x", "cli-bad", "--grid", str(bad), model="logreg")
    assert_bad_input(run, "lbfgs", "does not support", "remove it from the grid")


def test_single_class_train_split(store: dict, features_census: dict, tmp_path: Path) -> None:
    import pandas as pd
    from pipeline_common.storage import sha256_file

    manifest = json.loads(Path(features_census["features_uri"].removeprefix("file://")).read_text())
    train = pd.read_parquet(manifest["train_uri"].removeprefix("file://"))
    one = tmp_path / "train.parquet"
    train[train[manifest["target"]] == 1].to_parquet(one)
    manifest.update(train_uri=one.as_uri(), train_sha256=sha256_file(one))
    (tmp_path / "features.json").write_text(json.dumps(manifest))
    run = fit(store, {"features_uri": str(tmp_path / "features.json")}, tmp_path / "x", "cli-bad")
    assert_bad_input(run, "single class", "train")


def test_unreachable_tracking_server_fails_after_bounded_retries(
    features_census: dict, tmp_path: Path
) -> None:
    env = {
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
        "TRAINER_MLFLOW_RETRIES": "2",
        "TRAINER_MLFLOW_BACKOFF": "0.2",
    }
    started = time.monotonic()
    run = run_stage(
        "trainer",
        ["train", "--model", "lgbm", "--features-uri", features_census["features_uri"], "--experiment", "e"],
        xcom_dir=tmp_path / "x",
        env=env,
    )
    line = assert_bad_input(run, "MLFLOW_TRACKING_URI=http://127.0.0.1:9", "unreachable after 3 attempt(s)")
    assert "start the MLflow server" in line
    assert run.stderr.count("not reachable") == 2  # one warning per retry
    assert time.monotonic() - started < 60


def test_missing_tracking_uri(features_census: dict, tmp_path: Path) -> None:
    run = run_stage(
        "trainer",
        ["train", "--model", "lgbm", "--features-uri", features_census["features_uri"], "--experiment", "e"],
        xcom_dir=tmp_path / "x",
        env={"MLFLOW_TRACKING_URI": ""},
    )
    assert_bad_input(run, "MLFLOW_TRACKING_URI is not set")


def test_a_champion_from_another_split_is_scored_on_the_candidates_holdout(
    store: dict, features_census: dict, raw_census: dict, tiny_grid: str, tmp_path: Path
) -> None:
    """Its logged roc_auc is for another test set: promote loads the champion and scores it again."""
    name = "cli-split-model"
    experiment = "cli-split"
    champion = fit(store, features_census, tmp_path / "f1", "cli-split", "--grid", tiny_grid)
    assert champion.rc == 0, champion.stderr
    first = promote(store, tmp_path, experiment, name, "c1", champion.xcom)
    assert first.rc == 0 and first.xcom["promoted"] is True, first.stderr

    other = run_stage(
        "preprocessor",
        ["--input", raw_census["raw_uri"], "--output-prefix", str(tmp_path / "other"), "--test-size", "0.25"],
        xcom_dir=tmp_path / "x-other",
    )
    assert other.rc == 0, other.stderr
    candidate = fit(store, other.xcom, tmp_path / "f2", "cli-split", "--grid", tiny_grid, model="logreg")
    assert candidate.rc == 0, candidate.stderr
    assert candidate.xcom["test_sha256"] != champion.xcom["test_sha256"]

    second = promote(store, tmp_path, experiment, name, "c2", candidate.xcom)
    assert second.rc == 0, second.stderr
    r2 = second.xcom
    # Same columns, another split: the champion is loaded and scored on the candidate's holdout.
    assert r2["holdout"]["source"] == "candidate" and r2["holdout"]["sha256"] == candidate.xcom["test_sha256"]
    assert r2["champion_version"] == 1 and r2["champion_roc_auc"] is not None
    # Another holdout, another score: close to the one it logged, but not that number.
    logged = champion.xcom["metrics"]["roc_auc"]
    assert r2["champion_roc_auc"] != logged
    assert abs(r2["champion_roc_auc"] - logged) < 0.02
    assert r2["promoted"] is (r2["rule"] == "gate_passed")


def test_a_catalogue_entry_missing_a_trusted_type_is_one_line_naming_it(
    store: dict, features_census: dict, tmp_path: Path
) -> None:
    """A user's new model (models/forest.yaml) whose trusted_types lack what skops needs."""
    import shutil

    from tests.helpers.stages import ROOT

    config = tmp_path / "config"
    shutil.copytree(ROOT / "datasets", config / "datasets")
    shutil.copytree(ROOT / "models", config / "models")
    (config / "models" / "forest.yaml").write_text(
        "name: forest\n"
        "description: scikit-learn RandomForestClassifier\n"
        "estimator: {class: sklearn.ensemble.RandomForestClassifier, params: {n_jobs: 1}}\n"
        "grids: {full: {n_estimators: [5]}, demo: {n_estimators: [5]}}\n"
    )
    run = fit(
        store,
        features_census,
        tmp_path / "xcom",
        "forest-untrusted",
        "--grid",
        "demo",
        model="forest",
        env={"PIPELINE_CONFIG_DIR": str(config)},
    )
    assert_bad_input(run, "model forest needs skops to trust", "sklearn.tree._tree.Tree", "trusted_types in")


def test_the_trainer_leaves_nothing_in_its_temp_dir(
    store: dict, features_census: dict, tiny_grid: str, tmp_path: Path
) -> None:
    """Every scratch download (the last run's fit costs, a retried task's result, a recorded
    decision) and matplotlib's cache go when the stage ends: `make demo`, the bench and a long-lived
    pod's /tmp would otherwise gather one directory per run."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**AIRFLOW, "TMPDIR": str(scratch), "AIRFLOW_CTX_TASK_ID": "fit_tmp"}
    runs = [
        fit(store, features_census, tmp_path / "x1", "cli-tmp", "--grid", tiny_grid, env=env),
        # the same task retried: its result is downloaded from the finished run
        fit(
            store,
            features_census,
            tmp_path / "x2",
            "cli-tmp",
            "--grid",
            tiny_grid,
            env={**env, "AIRFLOW_CTX_TRY_NUMBER": "2"},
        ),
        # another task of the same model and grid: the last run's fit costs are downloaded
        fit(
            store,
            features_census,
            tmp_path / "x3",
            "cli-tmp",
            "--grid",
            tiny_grid,
            env={"TMPDIR": str(scratch)},
        ),
    ]
    assert [r.rc for r in runs] == [0, 0, 0], "\n".join(r.stderr for r in runs)
    assert "without training again" in runs[1].stderr
    assert "progress weighs each fit by its cost" in runs[2].stderr
    candidates = tmp_path / "candidates.json"
    candidates.write_text(json.dumps([runs[0].xcom]))
    args = [
        "promote",
        "--experiment",
        "cli-tmp",
        "--model-name",
        "cli-tmp-model",
        "--candidates",
        f"@{candidates}",
    ]
    for step in ("p1", "p2"):  # the second finds the first's recorded decision and downloads it
        done = run_stage(
            "trainer", args, xcom_dir=tmp_path / step, env={**store["env"], "TMPDIR": str(scratch)}
        )
        assert done.rc == 0, done.stderr
    assert sorted(p.name for p in scratch.iterdir()) == []
