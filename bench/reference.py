"""The fair peer: plain GridSearchCV over a model's whole grid, configured well, on the pipeline's
own train/test split: the exhaustive search the trainer's searches must match and beat.

It builds the very estimator the trainer builds (the model catalogue's entry, models/NAME.yaml:
LightGBM one thread per fit, LogisticRegression after the same MinMaxScaler and CSR steps), runs
one joblib worker per CPU, scores ROC AUC on the trainer's folds (StratifiedKFold(5), shuffled
with seed 55) and refits the best candidate, as scikit-learn users would. What it does not have is
the trainer's shortcuts (staged boosting, preprocessing fitted once per fold), so the two differ
only in how they search: same candidate, same holdout ROC AUC, different time.

Run: python -m bench.reference --features-json PATH --model lgbm|logreg [--grid full]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from bench.baseline import emit, step


def build(model: str, grid: str, seed: int):
    """The trainer's estimator for `model`, its grid in GridSearchCV's form, and the prefix of
    the grid's parameter names: the catalogue read the way the trainer reads it."""
    from trainer import grids, models

    spec = models.get(model)
    return spec.build(seed), grids.load(grid, model).param_grid(), spec.prefix


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--features-json", required=True, help="the preprocessor's features.json (local path)"
    )
    parser.add_argument("--model", required=True, help="a model of the catalogue (models/NAME.yaml)")
    parser.add_argument("--grid", default="full", help="grid name of the model's catalogue entry")
    parser.add_argument("--seed", type=int, default=55, help="estimator random_state")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    cpus = len(os.sched_getaffinity(0))
    with step("load"):
        import pandas as pd
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import GridSearchCV, StratifiedKFold

        manifest = json.loads(Path(args.features_json).read_text())
        target, feats = manifest["target"], manifest["features"]
        train = pd.read_parquet(_local(manifest["train_uri"]))
        test = pd.read_parquet(_local(manifest["test_uri"]))
    estimator, grid, prefix = build(args.model, args.grid, args.seed)
    # The trainer's folds (shuffled, seed 55), so both searches rank candidates on the same data.
    folds = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    search = GridSearchCV(estimator, grid, cv=folds, n_jobs=cpus, scoring="roc_auc")
    # The trainer's input: float64 arrays (trainer.data.read_split), the search then the refit.
    X, y = train[feats].astype("float64"), train[target].astype("int64")
    with step(f"search:{args.model}"):
        search.fit(X, y)
    auc = roc_auc_score(test[target], search.predict_proba(test[feats].astype("float64"))[:, 1])
    emit(
        "result",
        args.model,
        roc_auc=float(auc),
        cv_roc_auc=float(search.best_score_),
        best_params={k.removeprefix(prefix): v for k, v in search.best_params_.items()},
        n_fits=len(search.cv_results_["params"]) * folds.get_n_splits(),
        n_candidates=len(search.cv_results_["params"]),
    )
    return 0


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


if __name__ == "__main__":
    sys.exit(main())
