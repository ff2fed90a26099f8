"""The catalogue's grids (models/*.yaml): the documented sizes, validation on load, and every
combination of every model's every grid fits cleanly."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pipeline_common.errors import StageError
from trainer import data, grids, models

from tests.helpers import trainer_data


def test_full_grids_are_the_original_ones_restricted_to_valid_combinations() -> None:
    lgbm = grids.load("full", "lgbm")
    assert lgbm.n_candidates == 3 * 3 * 3 * 4 == 108
    assert lgbm.subgrids[0] == {
        "learning_rate": [0.01, 0.05, 0.1],
        "n_estimators": [50, 100, 150],
        "num_leaves": [31, 40, 80],
        "max_depth": [16, 24, 31, 40],
    }
    logreg = grids.load("full", "logreg")
    combos = logreg.combinations()
    # L1: liblinear/saga; L2: five solvers; elastic net: saga only; 6 values of C each.
    assert len(combos) == (2 + 5 + 1) * 6 == 48
    assert {c["solver"] for c in combos if c["l1_ratio"] == 1.0} == {"liblinear", "saga"}
    assert {c["solver"] for c in combos if 0 < c["l1_ratio"] < 1} == {"saga"}
    assert sorted({c["C"] for c in combos}) == [0.001, 0.01, 0.1, 1, 10, 100]


def test_param_grid_carries_the_pipeline_prefix() -> None:
    assert all(k.startswith("clf__") for sub in grids.load("demo", "logreg").param_grid() for k in sub)
    assert "learning_rate" in grids.load("demo", "lgbm").param_grid()[0]


@pytest.mark.parametrize(
    ("model", "text", "words"),
    [
        ("lgbm", "lgbm: {learning_rat: [0.1]}", ["unknown parameter", "learning_rat", "learning_rate"]),
        ("logreg", "logreg: {solver: [lbfgs], l1_ratio: [1.0], C: [1]}", ["lbfgs", "does not support", "L1"]),
        ("logreg", "logreg: {solver: [liblinear], l1_ratio: [0.5]}", ["liblinear", "elastic net"]),
        ("lgbm", "lgbm: {num_leaves: []}", ["non-empty list", "num_leaves"]),
        ("lgbm", "lgbm: {num_leaves: 31}", ["non-empty list"]),
        ("lgbm", "logreg: {C: [1]}", ["no grid for model 'lgbm'"]),
        ("lgbm", "lgbm: [unclosed", ["not valid YAML"]),
    ],
)
def test_invalid_grid_files_fail_on_load_with_the_reason(
    tmp_path: Path, model: str, text: str, words: list[str]
) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    with pytest.raises(StageError) as err:
        grids.load(str(path), model)
    message = err.value.one_line("train")
    for word in words:
        assert word.lower() in message.lower(), message


def test_unknown_grid_name_and_model() -> None:
    with pytest.raises(StageError, match="neither a grid of model 'lgbm'"):
        grids.load("huge", "lgbm")
    with pytest.raises(StageError, match="unknown model 'xgb'"):
        grids.load("demo", "xgb")


def test_a_custom_grid_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("lgbm:\n  n_estimators: [10, 20]\n  learning_rate: [0.1]\n")
    grid = grids.load(str(path), "lgbm")
    assert grid.n_candidates == 2 and grid.name == str(path)


@pytest.fixture(scope="module")
def tiny_sample() -> tuple[object, object]:
    """400 stratified rows of the real preprocessed train split."""
    manifest = data.load_manifest(trainer_data.census_features()["features_uri"])
    X, y = data.read_split(manifest, "train")
    from sklearn.model_selection import train_test_split

    X_small, _, y_small, _ = train_test_split(X, y, train_size=400, stratify=y, random_state=0)
    return X_small.to_numpy(), y_small.to_numpy()


CATALOGUE_GRIDS = [(m, g) for m, spec in sorted(models.catalogue().items()) for g in sorted(spec.entry.grids)]


def test_every_model_defines_the_grids_the_dags_offer() -> None:
    from pipeline_common.model_catalogue import grid_names

    assert grid_names() == ["full", "demo"]
    assert {m for m, _ in CATALOGUE_GRIDS} == set(models.names()) and len(models.names()) >= 3
    for name in models.names():
        assert sorted(models.get(name).entry.grids) == ["demo", "full"], name


def test_a_grid_of_a_billion_candidates_is_counted_without_listing_it() -> None:
    grid = grids.Grid("huge", "lgbm", ({f"p{i}": list(range(10)) for i in range(9)},))
    assert grid.n_candidates == 10**9


@pytest.mark.parametrize(("model", "grid_name"), CATALOGUE_GRIDS)
def test_every_combination_constructs_and_fits_without_warnings(
    tiny_sample: tuple, model: str, grid_name: str
) -> None:
    """A grid entry sklearn/LightGBM rejects or warns about (deprecation, bad values) fails here.

    Convergence is the exception: LogisticRegression keeps max_iter 100 on purpose (models.py), so
    weakly regularised sag/saga candidates may stop there; the trainer reports it for the winner.
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    X, y = tiny_sample
    spec = models.get(model)
    grid = grids.load(grid_name, model)
    base = spec.build(55)
    for combo in grid.combinations():
        estimator = clone(base).set_params(**{spec.prefix + k: v for k, v in combo.items()})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
            proba = estimator.predict_proba(X[:5])
        assert proba.shape == (5, 2), combo
