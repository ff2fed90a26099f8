"""Training logic on the real census split: data checks, search with progress, metrics, promote rules."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pipeline_common.errors import StageError
from trainer import data, grids, metrics, models, promote, search, train

from tests.helpers import trainer_data


@pytest.fixture(scope="module")
def census() -> data.Manifest:
    return data.load_manifest(trainer_data.census_features()["features_uri"])


@pytest.fixture(scope="module")
def train_sample(census: data.Manifest) -> tuple[pd.DataFrame, pd.Series]:
    X, y = data.read_split(census, "train")
    from sklearn.model_selection import train_test_split

    X_small, _, y_small, _ = train_test_split(X, y, train_size=3000, stratify=y, random_state=0)
    return X_small, y_small


def test_split_is_read_as_float_features_and_int_target(census: data.Manifest) -> None:
    X, y = data.read_split(census, "test")
    assert list(X.columns) == census.features
    assert set(X.dtypes.astype(str)) == {"float64"}
    assert set(np.unique(y)) == {0, 1}
    assert 0.25 < y.mean() < 0.40  # never_married is about a third of the census


def test_manifest_problems_are_named(tmp_path: Path, census: data.Manifest) -> None:
    with pytest.raises(StageError, match="does not exist"):
        data.load_manifest(str(tmp_path / "missing.json"))
    bad = tmp_path / "features.json"
    bad.write_text(json.dumps({"target": "never_married"}))
    with pytest.raises(StageError, match="lacks"):
        data.load_manifest(str(bad))
    # A manifest whose data changed after it was written is refused (sha256 check).
    raw = dict(census.raw, train_sha256="0" * 64)
    bad.write_text(json.dumps(raw))
    with pytest.raises(StageError, match="changed after"):
        data.read_split(data.load_manifest(str(bad)), "train")


def test_single_class_target_is_refused() -> None:
    with pytest.raises(StageError, match="single class"):
        data.require_two_classes(pd.Series([1, 1, 1]), "train")


def test_holdout_metrics_from_probabilities() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([0.1, 0.4, 0.35, 0.8])
    scores = metrics.holdout(y, proba)
    assert scores["roc_auc"] == pytest.approx(0.75)
    # Only what people compare across runs; the classification report is no run metric.
    assert set(scores) == set(metrics.HEADLINE) == {"roc_auc", "pr_auc", "log_loss"}
    report = metrics.at_threshold(y, proba, ("ever married", "never married"))
    assert report["accuracy"] == pytest.approx(0.75)  # 0.35 is below the 0.5 threshold
    assert report["classes"]["never married"]["recall"] == pytest.approx(0.5)
    assert report["averages"]["macro avg"]["f1-score"] > 0


def _assert_same_results(ours: Any, plain: Any) -> None:
    """Our search's cv_results_ and choice are GridSearchCV's (3 folds), not approximately: bit for bit."""
    assert ours.cv_results_["params"] == plain.cv_results_["params"]
    for key in (
        "mean_test_score",
        "std_test_score",
        "rank_test_score",
        "split0_test_score",
        "split2_test_score",
    ):
        np.testing.assert_array_equal(ours.cv_results_[key], plain.cv_results_[key], err_msg=key)
    assert (ours.best_index_, ours.best_params_) == (plain.best_index_, plain.best_params_)


def test_a_grid_of_a_whole_estimator_equals_gridsearchcv_and_learns_its_eta(
    train_sample: tuple[pd.DataFrame, pd.Series], caplog: pytest.LogCaptureFixture
) -> None:
    """A grid neither staged (no n_estimators) nor over a Pipeline's last step: the whole estimator
    fitted fold by fold in worker processes, GridSearchCV's cv_results_ bit for bit."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    X, y = (a.to_numpy() for a in train_sample)
    param_grid = [{"num_leaves": [7, 15], "learning_rate": [0.05, 0.1]}]
    cv = StratifiedKFold(3, shuffle=True, random_state=55)
    ours = search.make_search("grid", models.get("lgbm").build(55), param_grid, cv=cv, n_jobs=2, seed=55)
    assert type(ours).__name__ == "FoldwiseGridSearchCV"
    ours.progress_every = 0.0
    with caplog.at_level(logging.INFO, logger="trainer.foldwise_search"):
        ours.fit(X, y)
    plain = GridSearchCV(models.get("lgbm").build(55), param_grid, cv=cv, scoring="roc_auc", n_jobs=1).fit(
        X, y
    )
    _assert_same_results(ours, plain)
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cv fits:")]
    assert reports[-1].startswith("cv fits: 12/12 (100%)")
    counts = [int(m.split()[2].split("/")[0]) for m in reports]
    assert counts == sorted(counts) and counts[0] < 12  # seen while running
    # No ETA before every candidate ran once (the first fold: 4 of the 12 fits), then one.
    assert not any("ETA" in m for m, n in zip(reports, counts, strict=True) if n < 4)
    assert any("ETA" in m for m, n in zip(reports, counts, strict=True) if 4 <= n < 12)


def test_foldwise_search_of_the_logreg_pipeline_equals_gridsearchcv_score_for_score(
    train_sample: tuple[pd.DataFrame, pd.Series], caplog: pytest.LogCaptureFixture
) -> None:
    """The logreg pipeline's preprocessing fitted once per fold: GridSearchCV's cv_results_, bit for bit."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from trainer.foldwise_search import FoldwiseGridSearchCV

    X, y = (a.to_numpy() for a in train_sample)
    grid = grids.validate(
        "test",
        "logreg",
        [
            {"l1_ratio": [1.0], "solver": ["liblinear", "saga"], "C": [10, 0.1]},
            {"l1_ratio": [0.0], "solver": ["lbfgs", "sag", "liblinear"], "C": [1, 0.01]},
        ],
    )
    cv = StratifiedKFold(3, shuffle=True, random_state=55)
    estimator = models.get("logreg").build(55)
    ours = search.make_search("grid", estimator, grid.param_grid(), cv=cv, n_jobs=2, seed=55)
    assert type(ours).__name__ == "FoldwiseGridSearchCV"
    assert FoldwiseGridSearchCV.caches_steps(estimator, grid.param_grid())
    with caplog.at_level(logging.INFO, logger="trainer.foldwise_search"):
        ours.fit(X, y)
    plain = GridSearchCV(estimator, grid.param_grid(), cv=cv, scoring="roc_auc", n_jobs=2).fit(X, y)
    _assert_same_results(ours, plain)
    n_fits = grid.n_candidates * 3
    final = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cv fits:")][-1]
    assert final.startswith(f"cv fits: {n_fits}/{n_fits} (100%)")
    # Only grids over the last step share the preprocessing: a scaler parameter refits it per fit.
    assert not FoldwiseGridSearchCV.caches_steps(estimator, [{"scale__clip": [True], "clf__C": [1]}])
    assert not FoldwiseGridSearchCV.caches_steps(models.get("lgbm").build(55), [{"num_leaves": [7]}])


@pytest.mark.parametrize(
    "param_grid",
    [
        # max_depth 2 and 3 bind (leaves reach them), 16 and -1 (no limit) do not: shared fits.
        [
            {
                "learning_rate": [0.05, 0.2],
                "n_estimators": [5, 20, 40],
                "num_leaves": [6, 31],
                "max_depth": [2, 3, 16, -1],
            }
        ],
        # Sub-grids, and candidates without max_depth.
        [{"n_estimators": [10, 30], "num_leaves": [7]}, {"n_estimators": [15], "max_depth": [4, 24]}],
    ],
    ids=["product", "subgrids"],
)
def test_staged_search_equals_gridsearchcv_score_for_score(
    param_grid: list[dict], train_sample: tuple[pd.DataFrame, pd.Series], caplog: pytest.LogCaptureFixture
) -> None:
    """Fewer LightGBM fits, the very same cv_results_ (not approximately: bit for bit)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    X, y = (a.to_numpy() for a in train_sample)
    cv = StratifiedKFold(3, shuffle=True, random_state=55)
    ours = search.make_search(
        "grid", models.get("lgbm").build(55), param_grid, cv=cv, n_jobs=2, seed=55, staged=True
    )
    assert type(ours).__name__ == "StagedGridSearchCV"
    with caplog.at_level(logging.INFO, logger="trainer.staged_search"):
        ours.fit(X, y)
    plain = GridSearchCV(models.get("lgbm").build(55), param_grid, cv=cv, scoring="roc_auc", n_jobs=2).fit(
        X, y
    )
    _assert_same_results(ours, plain)
    n_fits = len(plain.cv_results_["params"]) * 3
    assert ours.n_model_fits_ < n_fits
    final = [r.getMessage() for r in caplog.records if "cv fits:" in r.getMessage()][-1]
    assert f"{n_fits}/{n_fits} (100%)" in final


@pytest.mark.parametrize(
    ("param_grid", "staged", "first_fold"),
    [
        # 4 candidates of a whole estimator, fold by fold: all four have run once after 4 fits.
        ([{"num_leaves": [7, 15], "learning_rate": [0.05, 0.1]}], False, 4),
        # 4 staged families of 2 candidates: all four have run once after 8 CV fits.
        ([{"n_estimators": [5, 10], "num_leaves": [7, 15], "learning_rate": [0.05, 0.1]}], True, 8),
    ],
    ids=["foldwise", "staged"],
)
def test_a_first_run_shows_its_eta_once_every_candidate_ran_on_one_fold(
    param_grid: list[dict],
    staged: bool,
    first_fold: int,
    train_sample: tuple[pd.DataFrame, pd.Series],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No earlier costs: the searches run fold by fold, so the ETA comes at the end of the first
    fold (one worker, fits in dispatch order), not after most of the grid as candidate by
    candidate (family by family) it would."""
    from sklearn.model_selection import StratifiedKFold

    X, y = (a.to_numpy() for a in train_sample)
    cv = StratifiedKFold(3, shuffle=True, random_state=55)
    ours = search.make_search(
        "grid", models.get("lgbm").build(55), param_grid, cv=cv, n_jobs=1, seed=55, staged=staged
    )
    ours.progress_every = 0.0
    with caplog.at_level(logging.INFO):
        ours.fit(X, y)
    reports = [r.getMessage() for r in caplog.records if r.getMessage().startswith("cv fits:")]
    counts = [int(m.split()[2].split("/")[0]) for m in reports]
    with_eta = [n for m, n in zip(reports, counts, strict=True) if "ETA" in m]
    assert with_eta and with_eta[0] == first_fold, reports


def test_staged_search_of_histgradientboosting_equals_gridsearchcv_score_for_score(
    train_sample: tuple[pd.DataFrame, pd.Series],
) -> None:
    """HistGradientBoosting's max_iter scored from one fit per family (staged_predict_proba): the
    very same cv_results_ as GridSearchCV, from half the fits."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    X, y = (a.to_numpy() for a in train_sample)
    cv = StratifiedKFold(3, shuffle=True, random_state=55)
    param_grid = [{"max_iter": [5, 20], "max_leaf_nodes": [7, 15], "learning_rate": [0.1]}]
    spec = models.get("hgb")
    assert spec.staged
    ours = search.make_search("grid", spec.build(55), param_grid, cv=cv, n_jobs=2, seed=55, staged=True)
    assert type(ours).__name__ == "StagedGridSearchCV"
    ours.fit(X, y)
    plain = GridSearchCV(spec.build(55), param_grid, cv=cv, scoring="roc_auc", n_jobs=2).fit(X, y)
    _assert_same_results(ours, plain)
    assert ours.n_model_fits_ == 2 * 3  # one 20-round fit per max_leaf_nodes and fold


def test_deepest_leaf_reads_the_text_model(train_sample: tuple[pd.DataFrame, pd.Series]) -> None:
    from trainer.staged_search import deepest_leaf

    X, y = train_sample
    for depth in (1, 3, 5):
        model = models.get("lgbm").build(55).set_params(max_depth=depth, num_leaves=31, n_estimators=5)
        assert deepest_leaf(model.fit(X, y).booster_) == depth
    # A chain-like tree can go deeper than log2(leaves): num_leaves 4 allows depth up to 3.
    shallow = models.get("lgbm").build(55).set_params(num_leaves=4, n_estimators=3).fit(X, y)
    assert 2 <= deepest_leaf(shallow.booster_) <= 3


def test_halving_search_runs_rounds(
    train_sample: tuple[pd.DataFrame, pd.Series], caplog: pytest.LogCaptureFixture
) -> None:
    from sklearn.model_selection import StratifiedKFold

    X, y = train_sample
    param_grid = [{"learning_rate": [0.05, 0.1], "num_leaves": [7, 15, 31], "n_estimators": [30]}]
    cv = StratifiedKFold(3, shuffle=True, random_state=55)
    halving = search.make_search(
        "halving", models.get("lgbm").build(55), param_grid, cv=cv, n_jobs=2, seed=55
    )
    with caplog.at_level(logging.INFO, logger="trainer.search"):
        halving.fit(X.to_numpy(), y.to_numpy())
    assert halving.n_iterations_ >= 2
    finals = [r.getMessage() for r in caplog.records if "(100%)" in r.getMessage()]
    assert finals[0].startswith("cv fits: 18/18") and finals[1].startswith("cv fits (round 2): ")
    assert halving.best_params_["learning_rate"] in (0.05, 0.1)


@pytest.mark.parametrize("model", sorted(models.MODELS))
def test_importance_has_one_value_per_feature(
    model: str, train_sample: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = train_sample
    spec = models.get(model)
    estimator = spec.build(55).fit(X, y)
    importance = spec.importance(estimator, X, y)
    assert list(importance.index) == list(X.columns)
    assert (importance >= 0).all() and importance.max() > 0
    assert importance.name == spec.entry.importance_label


def test_task_key_needs_the_airflow_context(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_DAG_RUN_ID", "AIRFLOW_CTX_TASK_ID"):
        monkeypatch.delenv(name, raising=False)
    assert train.task_key() is None
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "census")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "manual__1")
    monkeypatch.setenv("AIRFLOW_CTX_TASK_ID", "fit_lgbm")
    monkeypatch.setenv("AIRFLOW_CTX_TRY_NUMBER", "2")
    assert train.task_key() == "census/manual__1/fit_lgbm"  # the try number is not part of it


def test_cpu_budget_caps_parallel_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELINE_CPUS", "2")
    assert train._budget(None) == 2
    assert train._budget(8) == 2
    assert train._budget(1) == 1
    with pytest.raises(StageError, match="--n-jobs 0"):
        train._budget(0)


def _cand(model: str, auc: float, run_id: str) -> dict:
    return {
        "model": model,
        "run_id": run_id,
        "model_uri": f"runs:/{run_id}/model",
        "metrics": {"roc_auc": auc},
        "features_uri": "file:///x/features.json",
        "test_sha256": "ab",
    }


def test_best_candidate_is_deterministic_on_ties() -> None:
    a, b, c = _cand("logreg", 0.9, "r2"), _cand("lgbm", 0.9, "r1"), _cand("lgbm", 0.8, "r0")
    assert promote.best_candidate([a, b, c])["run_id"] == "r1"
    assert promote.best_candidate([c, b, a])["run_id"] == "r1"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[]", "holds no candidates"),
        ("[null]", "holds no candidates"),
        ("{not json", "not valid JSON"),
        ('"x"', "must be a JSON array"),
        ('[{"model": "lgbm"}]', "lacks"),
        (json.dumps([{**_cand("lgbm", 0.9, "r"), "metrics": {"roc_auc": None}}]), "numeric metrics.roc_auc"),
        ("@/nonexistent/candidates.json", "cannot read"),
    ],
)
def test_bad_candidate_lists_are_refused(text: str, match: str) -> None:
    with pytest.raises(StageError, match=match):
        promote.parse_candidates(text)


def test_candidates_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps([_cand("lgbm", 0.9, "r1"), None]))
    assert [c["run_id"] for c in promote.parse_candidates(f"@{path}")] == ["r1"]
