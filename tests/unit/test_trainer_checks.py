"""The trainer's checks before any MLflow run: grid values and sizes, the trust probe, the
manifest and its splits, the tracking URI and the time a failing tracking server may cost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pipeline_common.errors import StageError
from trainer import data, grid_values, grids, models, tracking, trust_probe


@pytest.mark.parametrize(
    ("model", "grid", "words"),
    [
        ("logreg", {"C": [1.0, -1.0]}, "C=-1.0"),
        ("logreg", {"C": ["1e-3"]}, "YAML read '1e-3' as text"),
        ("logreg", {"solver": ["newton"]}, "solver='newton'"),
        ("hgb", {"max_iter": [0]}, "max_iter=0"),
        ("lgbm", {"num_leaves": [1]}, "num_leaves=1"),
        ("lgbm", {"max_depth": ["deep"]}, "max_depth='deep'"),
        ("lgbm", {"n_estimators": [-3]}, "n_estimators=-3"),
    ],
)
def test_every_distinct_value_is_checked_by_the_estimators_own_rules(
    model: str, grid: dict, words: str
) -> None:
    with pytest.raises(StageError, match="invalid value") as err:
        grids.validate("custom", model, grid)
    assert words in err.value.problem


def test_a_large_count_is_probed_with_a_small_one() -> None:
    """n_estimators=10**9 is a valid value; the probe fits 2 rounds, not a billion."""
    started = time.monotonic()
    grid_values.check(models.get("lgbm"), ({"n_estimators": [10**9]},), "custom")
    assert time.monotonic() - started < 5


def test_candidates_are_counted_and_capped_before_any_is_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    def listing(self: grids.Grid) -> list:
        raise AssertionError("combinations() was called")

    monkeypatch.setattr(grids.Grid, "combinations", listing)
    names = ("n_estimators", "num_leaves", "max_depth", "min_child_samples", "subsample_freq", "reg_lambda")
    huge = {name: list(range(10, 42)) for name in names}
    with pytest.raises(StageError, match="1,073,741,824 candidates, more than the cap of 1,000"):
        grids.validate("huge", "lgbm", huge)
    monkeypatch.setenv(grids.MAX_CANDIDATES_ENV, "1")
    with pytest.raises(StageError, match="cap of 1"):
        grids.validate("demo", "lgbm", {"learning_rate": [0.05, 0.1]})


@pytest.mark.parametrize("model", sorted(models.names()))
def test_the_shipped_grids_pass_the_cap(model: str) -> None:
    for name in models.get(model).entry.grids:
        assert grids.load(name, model).n_candidates <= grids.DEFAULT_MAX_CANDIDATES


def test_the_trust_probe_passes_the_catalogue_and_names_a_missing_type(census_split) -> None:
    X, y = census_split
    for name in models.names():
        trust_probe.require_loadable(models.get(name), grids.load("demo", name), X, y, 55)
    spec = models.get("lgbm")
    untrusting = models.ModelSpec(type(spec.entry)(**{**spec.entry.__dict__, "trusted_types": ()}))
    with pytest.raises(StageError, match=r"needs skops to trust \['collections.OrderedDict'"):
        trust_probe.require_loadable(untrusting, grids.load("demo", "lgbm"), X, y, 55)


@pytest.fixture(scope="module")
def census_split() -> tuple:
    from tests.helpers import trainer_data

    manifest = data.load_manifest(trainer_data.census_features()["features_uri"])
    return data.read_split(manifest, "train")


def test_the_store_schemes_are_mlflows() -> None:
    from mlflow.tracking._tracking_service.utils import _tracking_store_registry

    assert set(tracking.STORE_SCHEMES) | {""} == set(_tracking_store_registry._registry)


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("ftp://host/x", "unsupported scheme 'ftp'"),
        ("http://:5000", "names no host"),
        ("http://h:port", "malformed"),
    ],
)
def test_a_tracking_uri_mlflow_cannot_use_is_one_line(
    uri: str, words: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(StageError, match=words):
        tracking.tracking_uri()


@pytest.mark.parametrize(
    "uri", ["http://mlflow:5000", "sqlite:///tmp/m.db", "postgresql+psycopg2://u@h/db", "/tmp/x"]
)
def test_tracking_uris_mlflow_can_use_pass(uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert tracking.tracking_uri() == uri


def test_the_default_bound_is_two_minutes_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracking.TIMEOUT_ENV, raising=False)
    limits = tracking.limits()
    # One request, the retries after the first failure, one more request, the run's end.
    assert limits.request + limits.retrying + 2 * limits.request <= limits.total <= 120
    monkeypatch.setenv(tracking.TIMEOUT_ENV, "0.5")
    with pytest.raises(StageError, match="too short"):
        tracking.limits()


def test_bounded_puts_its_retry_into_mlflows_sessions() -> None:
    from mlflow.utils import request_utils

    with tracking.bounded("train"):
        session = request_utils._get_request_session(3, 1, 1.0, (500,), True, True)
        assert type(session.get_adapter("http://x").max_retries).__name__ == "BoundedRetry"
    session = request_utils._get_request_session(3, 1, 1.0, (500,), True, True)
    assert type(session.get_adapter("http://x").max_retries).__name__ != "BoundedRetry"


def test_manifest_checks_refuse_a_leak_or_one_split_twice(tmp_path: Path) -> None:
    import json

    base = {"target": "y", "features": ["a", "b"], "train_uri": str(tmp_path / "tr"),
            "test_uri": str(tmp_path / "te"), "train_sha256": "1" * 64, "test_sha256": "2" * 64}  # fmt: skip
    for override, words in (
        ({"features": ["a", "y"]}, "lists the target"),
        ({"features": ["a", "a"]}, "more than once"),
        ({"test_uri": str(tmp_path / "tr")}, "the same object"),
        ({"test_sha256": "1" * 64}, "the same sha256"),
    ):
        (tmp_path / "m.json").write_text(json.dumps({**base, **override}))
        with pytest.raises(StageError, match=words):
            data.load_manifest(str(tmp_path / "m.json"))
