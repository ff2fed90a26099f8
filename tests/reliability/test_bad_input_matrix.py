"""Bad inputs across every stage and the DAG params, on the GCS emulator and a real MLflow server.

One table, one row per case. Each stage case uploads its input under its own key in
gs://census-pipeline-data, plus an earlier output at another key, then runs the stage as a
process (like a pod) and asserts: exit 2, exactly one `ERROR [stage] problem | fix: ...` line
naming the problem, no return.json, no object under the case's output prefix, the earlier
output untouched (same generation), and for trainer cases no MLflow run or registered model.
The CLI tier covers similar files on local paths; here inputs and outputs live in a bucket.

Bad DAG params are validated by real Airflow (.venv-airflow) the way the scheduler does before it
creates a DAG run (`params.deep_merge(conf).validate()` in create_dagrun): no run, so no pod.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.servers import DATA_BUCKET, GcsEmulator, MlflowServer
from tests.helpers.stages import ROOT, StageRun, assert_bad_input, run_stage
from tests.reliability import bad_inputs as bad

AIRFLOW_PY = ROOT / ".venv-airflow" / "bin" / "python"
PARALLEL = 3  # stage processes at once: mostly import time, 2 cores


@dataclass(frozen=True)
class Case:
    """A stage run on bad input. Tokens in args and env: @IN@/@OUT@ (gs:// prefixes of this
    case), @INGCS@ (@IN@ spelled gcs://), @LOCAL@ (a local directory), @EXP@ (this case's MLflow
    experiment, also the model name)."""

    module: str
    args: tuple[str, ...]
    words: tuple[str, ...]
    uploads: Callable[[], dict[str, bytes]] = dict  # name under @IN@ -> content
    local: Callable[[], dict[str, bytes]] = dict  # name under @LOCAL@ -> content
    env: tuple[tuple[str, str], ...] = ()  # this case's own environment


def _features(
    target_values: list[int],
    *,
    same_test: bool = False,
    set_args: dict[str, Any] | None = None,
    **override: Any,
) -> Callable[[], dict[str, bytes]]:
    """features.json + splits; `same_test`: the test split holds the train split's bytes."""

    def build() -> dict[str, bytes]:
        files = bad.features_set(target_values, **(set_args or {}))
        if same_test:
            files["test.parquet"] = files["train.parquet"]
        return {**files, "features.json": bad.manifest("@IN@", files, **override)}

    return build


def _grid(text: str) -> Callable[[], dict[str, bytes]]:
    return lambda: {"grid.yaml": text.encode()}


def _many_values(model: str, names: list[str], per_param: int) -> Callable[[], dict[str, bytes]]:
    """A grid of per_param ** len(names) candidates (valid values), as a careless user writes it."""
    lines = [f"{model}:"] + [f"  {n}: [{', '.join(str(10 + i) for i in range(per_param))}]" for n in names]
    return _grid("\n".join(lines) + "\n")


def _spec(name: str, old: str, new: str) -> Callable[[], dict[str, bytes]]:
    """A copy of datasets/NAME.yaml with one line changed, as spec.yaml under @LOCAL@."""

    def build() -> dict[str, bytes]:
        text = (ROOT / "datasets" / f"{name}.yaml").read_text()
        assert old in text, old
        return {"spec.yaml": text.replace(old, new).encode()}

    return build


def _config_without_trusted(model: str, dropped: str) -> Callable[[], dict[str, bytes]]:
    """datasets/ and models/ under @LOCAL@/config, the model's entry missing one trusted type."""

    def build() -> dict[str, bytes]:
        files = {f"config/datasets/{p.name}": p.read_bytes() for p in (ROOT / "datasets").glob("*.yaml")}
        for path in (ROOT / "models").glob("*.yaml"):
            text = path.read_text()
            if path.stem == model:
                text = text.replace(f"{dropped}, ", "").replace(f", {dropped}", "")
            files[f"config/models/{path.name}"] = text.encode()
        return files

    return build


FOUR_PARAMS = ["n_estimators", "num_leaves", "max_depth", "min_child_samples"]


def raw_bytes() -> bytes:
    return bad.parquet_bytes(bad.raw_frame())


# The trainer's target pattern in bad.features_set (0, 0, 1, 1, ...) as a feature under another name.
TARGET_COPY = [[0, 0, 1, 1][i % 4] for i in range(50)]


EXTRACT = ("--output", "@OUT@/raw/census.parquet")
PREPROCESS = ("--output-prefix", "@OUT@/features")
FIT = ("train", "--experiment", "@EXP@", "--grid", "demo")
PROMOTE = ("promote", "--experiment", "@EXP@", "--model-name", "@EXP@")
GOOD_FEATURES = _features([0, 0, 1, 1])
FEATURES = "@IN@/features.json"

CASES: dict[str, Case] = {
    # --- extractor: what a source can be wrong with
    "extract-empty-table": Case(
        "extractor", ("--source", "@IN@/census.csv", *EXTRACT), ("no rows",),
        lambda: {"census.csv": bad.header_only_csv()},
    ),
    "extract-empty-file": Case(
        "extractor", ("--source", "@IN@/census.csv", *EXTRACT), ("is empty", "--source"),
        lambda: {"census.csv": b""},
    ),
    "extract-missing-column": Case(
        "extractor", ("--source", "@IN@/census.parquet", *EXTRACT), ("lacks", "occupation"),
        lambda: {"census.parquet": bad.without("occupation")},
    ),
    "extract-extra-column": Case(
        "extractor", ("--source", "@IN@/census.parquet", *EXTRACT), ("outside the census spec", "bonus"),
        lambda: {"census.parquet": bad.with_extra("bonus")},
    ),
    "extract-wrong-type": Case(
        "extractor", ("--source", "@IN@/census.parquet", *EXTRACT), ("age is string", "expected int"),
        lambda: {"census.parquet": bad.replaced("age", "old")},
    ),
    "extract-not-census": Case(
        "extractor", ("--source", "@IN@/other.csv", *EXTRACT), ("not the census table",),
        lambda: {"other.csv": bad.not_census_csv()},
    ),
    "extract-corrupt-parquet": Case(
        "extractor", ("--source", "@IN@/census.parquet", *EXTRACT), ("corrupt Parquet",),
        lambda: {"census.parquet": bad.corrupt_parquet()},
    ),
    "extract-truncated-csv": Case(
        "extractor", ("--source", "@IN@/census.csv.gz", *EXTRACT), ("not a valid CSV",),
        lambda: {"census.csv.gz": bad.truncated_csv_gz()},
    ),
    "extract-malformed-uri": Case(
        "extractor", ("--source", "gs://Census_Data/census.csv", *EXTRACT), ("invalid bucket name",),
    ),
    "extract-missing-object": Case(
        "extractor", ("--source", "@IN@/nope.csv", *EXTRACT), ("does not exist", "nope.csv"),
    ),
    "extract-missing-output-bucket": Case(
        "extractor",
        ("--source", "@IN@/census.parquet", "--output", "gs://census-no-such-bucket/raw/census.parquet"),
        ("bucket 'census-no-such-bucket'", "create the bucket"),
        lambda: {"census.parquet": bad.parquet_bytes(bad.raw_frame())},
    ),
    "extract-missing-source-bucket": Case(
        "extractor", ("--source", "gs://census-no-such-bucket/census.csv", *EXTRACT),
        ("bucket 'census-no-such-bucket'",),
    ),
    # --- preprocessor: a raw table that is census-shaped but unusable
    "preprocess-all-null-column": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("only NULL values", "occupation"),
        lambda: {"raw.parquet": bad.replaced("occupation", None)},
    ),
    "preprocess-single-class-target": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("single class",),
        lambda: {"raw.parquet": bad.replaced("marital_status", " Married-civ-spouse")},
    ),
    "preprocess-unknown-labels": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("income_bracket", "'50K+'"),
        lambda: {"raw.parquet": bad.replaced("income_bracket", " 50K+")},
    ),
    "preprocess-wrong-type": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("hours_per_week is float",),
        lambda: {"raw.parquet": bad.replaced("hours_per_week", 40.5, "float64")},
    ),
    "preprocess-empty-table": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("has no rows",),
        lambda: {"raw.parquet": bad.empty_table()},
    ),
    "preprocess-csv-not-parquet": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("not a readable Parquet",),
        lambda: {"raw.parquet": bad.truncated_csv_gz()},
    ),
    "preprocess-malformed-prefix": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", "--output-prefix", "s3://bucket/features"),
        ("unsupported scheme 's3'",), lambda: {"raw.parquet": bad.parquet_bytes(bad.raw_frame())},
    ),
    # --- trainer fit: model, grid and features problems
    "fit-unknown-model": Case(
        "trainer", (*FIT, "--model", "xgboost", "--features-uri", "@IN@/features.json"),
        ("unknown model 'xgboost'",), GOOD_FEATURES,
    ),
    "fit-grid-unknown-param": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "lgbm", "--features-uri", FEATURES),
        ("unknown parameter", "num_leafs"), GOOD_FEATURES,
        lambda: {"grid.yaml": b"lgbm:\n  num_leafs: [31]\n"},
    ),
    "fit-grid-invalid-combination": Case(
        "trainer",
        (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "logreg", "--features-uri", "@IN@/features.json"),
        ("invalid combination", "lbfgs"), GOOD_FEATURES,
        lambda: {"grid.yaml": b"logreg:\n  solver: [lbfgs]\n  l1_ratio: [1.0]\n"},
    ),
    "fit-grid-unknown-name": Case(
        "trainer", (*FIT[:-1], "huge", "--model", "lgbm", "--features-uri", "@IN@/features.json"),
        ("neither a grid of model",), GOOD_FEATURES,
    ),
    "fit-cv-too-small": Case(
        "trainer", (*FIT, "--cv", "1", "--model", "lgbm", "--features-uri", "@IN@/features.json"),
        ("--cv 1 is too small",), GOOD_FEATURES,
    ),
    "fit-features-missing": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", "@IN@/features.json"), ("does not exist",),
    ),
    "fit-features-malformed-uri": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", f"gs://{DATA_BUCKET}"), ("names no object",),
    ),
    "fit-features-not-json": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", "@IN@/features.json"), ("not valid JSON",),
        lambda: {"features.json": b'{"target": "never_married", "features": ['},
    ),
    "fit-features-not-a-manifest": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", "@IN@/features.json"),
        ("not a features manifest", "train_uri"), lambda: {"features.json": b'{"columns": ["id", "name"]}'},
    ),
    "fit-split-changed": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", "@IN@/features.json"), ("changed after",),
        _features([0, 1], train_sha256="0" * 64),
    ),
    "fit-single-class-target": Case(
        "trainer", (*FIT, "--model", "logreg", "--features-uri", "@IN@/features.json"),
        ("single class",), _features([0]),
    ),
    # --- trainer promote: candidates that cannot be promoted
    "promote-candidates-not-json": Case("trainer", (*PROMOTE, "--candidates", "[{"), ("not valid JSON",)),
    "promote-no-candidates": Case("trainer", (*PROMOTE, "--candidates", "[null]"), ("holds no candidates",)),
    "promote-candidate-lacks-keys": Case(
        "trainer", (*PROMOTE, "--candidates", '[{"model": "lgbm"}]'), ("lacks", "run_id"),
    ),
    # Promote never creates the experiment it is told to read the candidates from.
    "promote-missing-experiment": Case(
        "trainer",
        (*PROMOTE, "--candidates", json.dumps([{
            "model": "lgbm", "run_id": "0" * 32, "model_uri": "models:/m-0", "metrics": {"roc_auc": 0.9},
            "features_uri": "@IN@/features.json", "test_sha256": "0" * 64,
        }])),
        ("experiment", "does not exist"),
    ),
    # Names MLflow would refuse only after a version was registered: refused before any write.
    "promote-reserved-alias": Case(
        "trainer",
        (*PROMOTE, "--alias", "latest", "--candidates", json.dumps([{
            "model": "lgbm", "run_id": "r", "model_uri": "m", "metrics": {"roc_auc": 0.9},
            "features_uri": "f", "test_sha256": "s",
        }])),
        ("--alias 'latest'", "reserved"),
    ),
    "promote-gate-out-of-range": Case(
        "trainer", (*PROMOTE, "--candidates", "[]", "--max-slice-drop", "2"), ("--max-slice-drop 2.0",),
    ),
    # --- issue 16, class 2: impossible or mislabelled values (the dataset spec's data contract)
    "preprocess-impossible-ages": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("age: 3 row(s)", "-5", "999", "0"),
        lambda: {"raw.parquet": bad.with_values("age", {3: 0, 4: -5, 5: 999})},
    ),
    "preprocess-negative-hours": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("hours_per_week: 2 row(s)", "-10"),
        lambda: {"raw.parquet": bad.with_values("hours_per_week", {7: -10, 8: -1})},
    ),
    "preprocess-capital-gain-above-top-code": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("capital_gain", "150000"),
        lambda: {"raw.parquet": bad.with_values("capital_gain", {9: 150000})},
    ),
    # ' never married' would otherwise be a silent negative: the positive rate falls four-fold.
    "preprocess-misspelt-target-label": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("marital_status", "'never married'"),
        lambda: {"raw.parquet": bad.relabelled("marital_status", " Never-married", " never married")},
    ),
    "preprocess-target-label-in-capitals": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("marital_status", "'NEVER-MARRIED'"),
        lambda: {"raw.parquet": bad.relabelled("marital_status", " Never-married", " NEVER-MARRIED")},
    ),
    "preprocess-other-target-misspelt": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS, "--target", "income_over_50k"),
        ("income_bracket", "'>50k'"),
        lambda: {"raw.parquet": bad.relabelled("income_bracket", " >50K", " >50k")},
    ),
    "preprocess-unknown-category": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS), ("workclass: 1 row(s)", "'Goverment'"),
        lambda: {"raw.parquet": bad.with_values("workclass", {11: " Goverment"})},
    ),
    "preprocess-penguin-mass-zero": Case(
        "preprocessor", ("--dataset", "penguins", "--input", "@IN@/raw.parquet", *PREPROCESS),
        ("body_mass_g: 1 row(s)", "e.g. [0"), lambda: {"raw.parquet": bad.penguins_raw(body_mass_g={2: 0})},
    ),
    # A column with an open range still refuses an infinite number (a gap before issue 16).
    "preprocess-infinite-measurement": Case(
        "preprocessor", ("--dataset", "@LOCAL@/spec.yaml", "--input", "@IN@/raw.parquet", *PREPROCESS),
        ("bill_length_mm: 1 row(s)", "inf"),
        lambda: {"raw.parquet": bad.penguins_raw(bill_length_mm={5: float("inf")})},
        _spec("penguins", "bill_length_mm: {kind: float, range: [20, 80]}", "bill_length_mm: {kind: float}"),
    ),
    # --- class 3: a manifest that cannot be trusted
    "fit-target-among-features": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES), ("lists the target", "leak"),
        _features([0, 0, 1, 1], features=["age", "sex_Male", "never_married"]),
    ),
    "fit-target-under-another-name": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES),
        ("['status_flag']", "equal the target"),
        _features([0, 0, 1, 1], set_args={"status_flag": TARGET_COPY}, features=["age", "status_flag"]),
    ),
    "fit-test-split-is-train-object": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES), ("the same object",),
        _features([0, 0, 1, 1], same_test=True, test_uri="@IN@/train.parquet"),
    ),
    "fit-test-split-same-bytes": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES), ("the same sha256",),
        _features([0, 0, 1, 1], same_test=True),
    ),
    "fit-overlapping-row-ids": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES),
        ("10 of the 10 test rows", "row_id"),
        _features([0, 0, 1, 1], set_args={"row_ids": True, "shared_ids": True}),
    ),
    "fit-row-ids-changed-after-the-manifest": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES), ("row_ids.parquet changed after",),
        _features([0, 0, 1, 1], set_args={"row_ids": True}, row_ids_sha256="0" * 64),
    ),
    "fit-row-ids-miscounted": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES),
        ("holds 40 train and 10 test row ids", "counts 39 and 10"),
        _features([0, 0, 1, 1], set_args={"row_ids": True}, rows={"train": 39, "test": 10}),
    ),
    "fit-test-rows-all-train-rows-no-row-ids": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES),
        ("every one of the 10 test rows", "also a train row"),
        _features([0, 0, 1, 1], set_args={"test_from_train": True}),
    ),
    "fit-feature-listed-twice": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES), ("['age'] more than once",),
        _features([0, 0, 1, 1], features=["age", "age", "sex_Male"]),
    ),
    # --- class 4: grid values checked against the estimator's own rules, candidates counted
    "fit-grid-negative-C": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "logreg", "--features-uri", FEATURES),
        ("C=-1.0", "range (0.0, inf]"), GOOD_FEATURES, _grid("logreg:\n  C: [-1.0]\n"),
    ),
    "fit-grid-C-read-as-text": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "logreg", "--features-uri", FEATURES),
        ("C='1e-3'", "YAML read"), GOOD_FEATURES, _grid("logreg:\n  C: [1e-3]\n"),
    ),
    "fit-grid-unknown-solver": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "logreg", "--features-uri", FEATURES),
        ("solver='newton'",), GOOD_FEATURES, _grid("logreg:\n  solver: [newton]\n"),
    ),
    "fit-grid-lgbm-one-leaf": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "lgbm", "--features-uri", FEATURES),
        ("num_leaves=1", "num_leaves) > (1)"), GOOD_FEATURES, _grid("lgbm:\n  num_leaves: [31, 1]\n"),
    ),
    "fit-grid-lgbm-rate-as-text": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "lgbm", "--features-uri", FEATURES),
        ("learning_rate='fast'",), GOOD_FEATURES, _grid("lgbm:\n  learning_rate: [0.1, fast]\n"),
    ),
    "fit-grid-lgbm-depth-as-text": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "lgbm", "--features-uri", FEATURES),
        ("max_depth='deep'",), GOOD_FEATURES, _grid("lgbm:\n  max_depth: [deep]\n  n_estimators: [10, 20]\n"),
    ),
    "fit-grid-lgbm-no-rounds": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "lgbm", "--features-uri", FEATURES),
        ("n_estimators=0",), GOOD_FEATURES, _grid("lgbm:\n  n_estimators: [0]\n"),
    ),
    "fit-grid-hgb-no-iterations": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "hgb", "--features-uri", FEATURES),
        ("max_iter=0",), GOOD_FEATURES, _grid("hgb:\n  max_iter: [0]\n"),
    ),
    "fit-grid-million-candidates": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "lgbm", "--features-uri", FEATURES),
        ("1,048,576 candidates", "cap of 1,000"), GOOD_FEATURES,
        _many_values("lgbm", FOUR_PARAMS, 32),
    ),
    "fit-grid-billion-candidates": Case(
        "trainer", (*FIT[:-1], "@LOCAL@/grid.yaml", "--model", "lgbm", "--features-uri", FEATURES),
        ("1,073,741,824 candidates",), GOOD_FEATURES,
        _many_values("lgbm", [*FOUR_PARAMS, "subsample_freq", "reg_lambda"], 32),
    ),
    "fit-grid-over-a-configured-cap": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES), ("2 candidates", "cap of 1"),
        GOOD_FEATURES, env=(("TRAINER_MAX_CANDIDATES", "1"),),
    ),
    "fit-grid-cap-not-a-number": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES), ("TRAINER_MAX_CANDIDATES='lots'",),
        GOOD_FEATURES, env=(("TRAINER_MAX_CANDIDATES", "lots"),),
    ),
    # A catalogue entry whose trusted_types lack a type skops needs: refused before the search.
    "fit-model-type-not-trusted": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES),
        ("needs skops to trust ['lightgbm.basic.Booster']",), GOOD_FEATURES,
        _config_without_trusted("lgbm", "lightgbm.basic.Booster"),
        env=(("PIPELINE_CONFIG_DIR", "@LOCAL@/config"),),
    ),
    # --- class 8: arguments and URIs first, then the world
    "fit-tracking-uri-unsupported-scheme": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES), ("unsupported scheme 'ftp'",),
        GOOD_FEATURES, env=(("MLFLOW_TRACKING_URI", "ftp://mlflow.example.com/"),),
    ),
    "fit-tracking-uri-no-host": Case(
        "trainer", (*FIT, "--model", "lgbm", "--features-uri", FEATURES), ("names no host",),
        GOOD_FEATURES, env=(("MLFLOW_TRACKING_URI", "http://:5000"),),
    ),
    "preprocess-negative-seed": Case(
        "preprocessor", ("--input", "@IN@/raw.parquet", *PREPROCESS, "--seed", "-1"), ("--seed", "-1"),
        lambda: {"raw.parquet": bad.parquet_bytes(bad.raw_frame())},
    ),
    # --- class 9: the same object by another name (local aliases: test_same_file.py)
    "extract-dotdot-in-uri": Case(
        "extractor", ("--source", "@IN@/x/../census.csv", *EXTRACT), ("'..' segment",),
        lambda: {"census.csv": bad.header_only_csv()},
    ),
    "preprocess-input-in-output-set": Case(
        "preprocessor", ("--input", "@IN@/train-0123456789ab.parquet", "--output-prefix", "@IN@"),
        ("part of the output set",), lambda: {"train-0123456789ab.parquet": raw_bytes()},
    ),
    "preprocess-input-in-output-set-gcs-alias": Case(
        "preprocessor", ("--input", "@INGCS@/test-0123456789ab.parquet", "--output-prefix", "@IN@/"),
        ("part of the output set",), lambda: {"test-0123456789ab.parquet": raw_bytes()},
    ),
}  # fmt: skip

# (dag_id, conf, the param Airflow must name). tests/dags/test_params.py has more values per param;
# these are the kinds an operator typing into the trigger form gets wrong.
DAG_PARAM_CASES: dict[str, tuple[str, dict[str, Any], str]] = {
    "dag-source-bad-bucket": ("mlflow-dag", {"source": "gs://Census_Data/census.csv"}, "source"),
    "dag-source-no-object": ("mlflow-dag", {"source": "gs://census-pipeline-data"}, "source"),
    "dag-test-size-zero": ("mlflow-dag", {"test_size": 0}, "test_size"),
    "dag-seed-not-integer": ("mlflow-dag", {"seed": "abc"}, "seed"),
    # Empty is the default (the dataset's name); a name MLflow or a URL path would choke on is not.
    "dag-experiment-leading-dash": ("mlflow-dag", {"experiment": "-census"}, "experiment"),
    "dag-experiment-slash": ("mlflow-dag", {"experiment": "census/../x"}, "experiment"),
    "dag-unknown-dataset": ("mlflow-dag", {"dataset": "iris"}, "dataset"),
    "dag-unknown-target": ("mlflow-multimodel-dag", {"target": "salary"}, "target"),
    "dag-unknown-model": ("mlflow-multimodel-dag", {"models": ["lgbm", "xgboost"]}, "models"),
    # The promotion gate's knobs (docs/promotion.md).
    "dag-min-delta-too-big": ("mlflow-multimodel-dag", {"min_delta": 0.5}, "min_delta"),
    "dag-alpha-zero": ("mlflow-dag", {"alpha": 0}, "alpha"),
    "dag-max-slice-drop-text": ("mlflow-multimodel-dag", {"max_slice_drop": "0.02"}, "max_slice_drop"),
}
VALID_CONF_CASE = "dag-valid-conf"
VALID_CONF = {
    "source": "gs://census-pipeline-data/inputs/census.csv.gz", "test_size": 0.25, "seed": 7,
    "min_delta": 0.002, "alpha": 0.01, "max_slice_drop": 0.05,
}  # fmt: skip


@dataclass
class Outcome:
    case: Case
    run: StageRun
    out_prefix: str  # object-name prefix that must stay empty
    earlier: dict[str, Any] = field(default_factory=dict)  # object name -> generation before the run
    experiment: str = ""
    seconds: float = 0.0


def _snapshot(gcs: GcsEmulator, prefix: str) -> dict[str, Any]:
    return {b.name: (b.generation, b.md5_hash) for b in gcs.client().list_blobs(DATA_BUCKET, prefix=prefix)}


@pytest.fixture(scope="module")
def matrix(
    gcs_emulator: GcsEmulator, mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Outcome]:
    """Every case set up, then run PARALLEL at a time (each under its own keys)."""
    tag = uuid.uuid4().hex[:8]
    env = {
        "STORAGE_EMULATOR_HOST": gcs_emulator.url,
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        "MLFLOW_TRACKING_URI": mlflow_server.url,
    }
    earlier_output = bad.parquet_bytes(bad.raw_frame())
    jobs: list[tuple[str, list[str], Path, Outcome, dict[str, str]]] = []
    for case_id, case in CASES.items():
        base = f"reliability/matrix/{tag}/{case_id}"
        local = tmp_path_factory.mktemp(case_id)
        experiment = f"rel-matrix-{tag}-{case_id}"
        tokens = {
            "@INGCS@": f"gcs://{DATA_BUCKET}/{base}/in",
            "@IN@": f"gs://{DATA_BUCKET}/{base}/in",
            "@OUT@": f"gs://{DATA_BUCKET}/{base}/out",
            "@LOCAL@": str(local),
            "@EXP@": experiment,
        }

        def fill(text: str, tokens: dict[str, str] = tokens) -> str:
            for token, value in tokens.items():
                text = text.replace(token, value)
            return text

        for name, content in case.uploads().items():
            if name.endswith(".json"):  # manifests name their splits by URI
                content = fill(content.decode()).encode()
            gcs_emulator.upload(DATA_BUCKET, f"{base}/in/{name}", content)
        for name, content in case.local().items():
            (local / name).parent.mkdir(parents=True, exist_ok=True)
            (local / name).write_bytes(content)
        gcs_emulator.upload(DATA_BUCKET, f"{base}/earlier/census.parquet", earlier_output)
        outcome = Outcome(case, None, f"{base}/out/", _snapshot(gcs_emulator, f"{base}/earlier/"), experiment)  # type: ignore[arg-type]
        case_env = {**env, **{k: fill(v) for k, v in case.env}}
        jobs.append((case.module, [fill(a) for a in case.args], local / "xcom", outcome, case_env))

    def run(job: tuple[str, list[str], Path, Outcome, dict[str, str]]) -> None:
        module, args, xcom, outcome, case_env = job
        started = time.monotonic()
        outcome.run = run_stage(module, args, xcom_dir=xcom, env=case_env, timeout=300)
        outcome.seconds = time.monotonic() - started

    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(run, jobs))
    return {case_id: job[3] for case_id, job in zip(CASES, jobs, strict=True)}


@pytest.fixture(scope="module")
def mlflow_client(mlflow_server: MlflowServer) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(mlflow_server.url)


def test_the_matrix_has_at_least_60_cases() -> None:
    assert len(CASES) + len(DAG_PARAM_CASES) >= 60
    kinds = {case.module for case in CASES.values()}
    assert kinds == {"extractor", "preprocessor", "trainer"}


@pytest.mark.parametrize("case_id", list(CASES))
def test_stage_fails_in_one_line_and_leaves_nothing(
    case_id: str, matrix: dict[str, Outcome], gcs_emulator: GcsEmulator, mlflow_client: Any
) -> None:
    outcome = matrix[case_id]
    line = assert_bad_input(outcome.run, *outcome.case.words)
    assert outcome.run.stderr.splitlines()[-1] == line, "the error line is the last word of the stage"
    assert _snapshot(gcs_emulator, outcome.out_prefix) == {}, "an output object was left behind"
    assert _snapshot(gcs_emulator, outcome.out_prefix.replace("/out/", "/earlier/")) == outcome.earlier
    if outcome.case.module == "trainer":
        # Arguments, URIs, grid and data are checked before MLflow is touched: a refused fit or
        # promote leaves no experiment, let alone a run or a registered model.
        assert mlflow_client.get_experiment_by_name(outcome.experiment) is None, (
            "a refused stage made an experiment"
        )
        assert mlflow_client.search_registered_models(f"name = '{outcome.experiment}'") == []


# --------------------------------------------------------------------------- DAG params

_VALIDATE = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from airflow.dag_processing.dagbag import BundleDagBag
from airflow.sdk.exceptions import ParamValidationError
from airflow.serialization.serialized_objects import DagSerialization
dags_folder, cases = sys.argv[1], json.loads(sys.argv[2])
bag = BundleDagBag(dags_folder, bundle_path=dags_folder, bundle_name="dags-folder")
if bag.import_errors:
    sys.exit(f"DAG import errors: {bag.import_errors}")
out = {}
for case_id, (dag_id, conf) in cases.items():
    # The scheduler's view of the DAG: serialized as the DAG processor stores it, read back.
    params = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags[dag_id])).params
    try:
        params.validate()  # the defaults themselves are valid
    except ParamValidationError as exc:
        sys.exit(f"{dag_id} defaults are invalid: {exc}")
    try:
        params.deep_merge(conf).validate()  # what create_dagrun runs before any DAG run exists
        out[case_id] = {"rejected": False}
    except ParamValidationError as exc:
        out[case_id] = {"rejected": True, "error": str(exc)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def dag_param_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    assert AIRFLOW_PY.is_file(), f"{AIRFLOW_PY} missing | fix: make venv-airflow"
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    cases = {cid: [dag_id, conf] for cid, (dag_id, conf, _) in DAG_PARAM_CASES.items()}
    cases[VALID_CONF_CASE] = ["mlflow-dag", VALID_CONF]
    proc = subprocess.run(
        [str(AIRFLOW_PY), "-c", _VALIDATE, str(ROOT / "dags"), json.dumps(cases)],
        capture_output=True, text=True, env=env, timeout=240, check=False, cwd=home,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("case_id", list(DAG_PARAM_CASES))
def test_bad_dag_param_is_rejected_before_a_run_exists(case_id: str, dag_param_results: dict) -> None:
    _, conf, param = DAG_PARAM_CASES[case_id]
    result = dag_param_results[case_id]
    assert result["rejected"], f"Airflow accepted {conf}"
    first = result["error"].splitlines()[0]
    assert f"param {param}" in first, f"the error must name the param: {first}"


def test_valid_params_pass_the_same_check(dag_param_results: dict) -> None:
    """The same check accepts good values, so the rejections above are about the values."""
    assert dag_param_results[VALID_CONF_CASE] == {"rejected": False}
