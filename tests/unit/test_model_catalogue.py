"""models/*.yaml: every entry builds, explains and serialises its model; a wrong entry is one clear
error; a new model is one new file."""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from pipeline_common import model_catalogue
from pipeline_common.errors import StageError
from trainer import grids, models

from tests.helpers import trainer_data
from tests.helpers.stages import ROOT

LGBM_TEXT = (ROOT / "models" / "lgbm.yaml").read_text()


def test_the_catalogue() -> None:
    assert models.names() == ["hgb", "lgbm", "logreg"]
    logreg = models.get("logreg")
    assert logreg.prefix == "clf__" and [n for n, _ in logreg.build(55).steps] == ["scale", "sparse", "clf"]
    assert models.get("lgbm").prefix == "" and models.get("lgbm").staged
    for name in models.names():
        spec = models.get(name)
        assert spec.description and spec.build(55).get_params()[f"{spec.prefix}random_state"] == 55
        for dist in spec.pip_packages:
            metadata.version(dist)  # every requirement is an installed distribution


@pytest.mark.parametrize("name", models.names())
def test_the_trusted_types_cover_what_skops_needs_to_load_the_model(name: str) -> None:
    """promote loads a champion with the catalogue's allow-list: a type missing here breaks it."""
    import skops.io
    from sklearn.model_selection import train_test_split
    from trainer import data

    manifest = data.load_manifest(trainer_data.census_features()["features_uri"])
    X, y = data.read_split(manifest, "train")
    X, _, y, _ = train_test_split(X, y, train_size=500, stratify=y, random_state=0)
    spec = models.get(name)
    fitted = (
        spec.build(55).set_params(**{f"{spec.prefix}{k}": v for k, v in _smallest(spec).items()}).fit(X, y)
    )
    dumped = skops.io.dumps(fitted)
    untrusted = set(skops.io.get_untrusted_types(data=dumped))
    assert untrusted <= set(spec.trusted_types), (
        f"add {sorted(untrusted - set(spec.trusted_types))} to models/{name}.yaml"
    )
    loaded = skops.io.loads(dumped, trusted=models.all_trusted_types())
    assert (loaded.predict_proba(X[:5]) == fitted.predict_proba(X[:5])).all()


def _smallest(spec: models.ModelSpec) -> dict:
    return grids.load("demo", spec.name).combinations()[0]


def _entry(edit) -> dict:
    raw = yaml.safe_load(LGBM_TEXT)
    edit(raw)
    return raw


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda r: r.update(grid={}), ["unknown key(s) ['grid']"]),
        (lambda r: r.pop("estimator"), ["lacks ['estimator']"]),
        (lambda r: r["estimator"].update({"class": "LGBMClassifier"}), ["is not an import path"]),
        (lambda r: r["estimator"].update(params={"func": {"module": "x"}}), ["{import: module.object}"]),
        (
            lambda r: r.update(steps=[{"name": "clf", "class": "a.B"}]),
            ["must be a lower-case name other than 'clf'"],
        ),
        (lambda r: r.update(search="fast"), ["search is 'fast'"]),
        (lambda r: r.update(importance={"from": "shap"}), ["importance is"]),
        (lambda r: r.update(grids={}), ["must map grid names"]),
        (lambda r: r.update(name="xgb"), ["is 'xgb' but the file is lgbm.yaml"]),
    ],
)
def test_a_wrong_entry_is_one_error_naming_the_key(edit, words: list[str]) -> None:
    with pytest.raises(StageError) as err:
        model_catalogue.parse(_entry(edit), "models/lgbm.yaml", expect_name="lgbm")
    line = err.value.one_line("train")
    assert "model entry models/lgbm.yaml:" in line and "| fix:" in line
    for word in words:
        assert word in line, line


def test_an_unimportable_class_is_named_when_the_model_is_built(tmp_path: Path, monkeypatch) -> None:
    config = _config_copy(tmp_path)
    raw = yaml.safe_load(LGBM_TEXT)
    raw["estimator"]["class"] = "lightgbm.LGBMClassifer"
    (config / "models" / "lgbm.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("PIPELINE_CONFIG_DIR", str(config))
    models.catalogue.cache_clear()
    try:
        with pytest.raises(
            StageError, match=r"cannot import lightgbm.LGBMClassifer named in the model catalogue"
        ):
            models.get("lgbm").build(55)
    finally:
        models.catalogue.cache_clear()


def _config_copy(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    shutil.copytree(ROOT / "datasets", config / "datasets")
    shutil.copytree(ROOT / "models", config / "models")
    return config


def test_a_new_model_is_one_new_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/extending.md "Add a model": a RandomForest entry with its grids, nothing else."""
    config = _config_copy(tmp_path)
    (config / "models" / "forest.yaml").write_text(
        "name: forest\n"
        "description: scikit-learn RandomForestClassifier\n"
        "estimator: {class: sklearn.ensemble.RandomForestClassifier, params: {n_jobs: 1}}\n"
        "importance: {from: feature_importances, label: impurity importance}\n"
        "grids:\n"
        "  full: {n_estimators: [100, 200], max_depth: [8, 16]}\n"
        "  demo: {n_estimators: [20], max_depth: [8]}\n"
    )
    monkeypatch.setenv("PIPELINE_CONFIG_DIR", str(config))
    models.catalogue.cache_clear()
    try:
        assert models.names() == ["forest", "hgb", "lgbm", "logreg"]
        assert model_catalogue.grid_names() == ["full", "demo"]
        assert grids.load("full", "forest").n_candidates == 4
        assert models.get("forest").build(7).get_params()["random_state"] == 7
    finally:
        models.catalogue.cache_clear()
