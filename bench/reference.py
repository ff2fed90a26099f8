"""The exhaustive reference: plain GridSearchCV over a model's whole grid, threads set right,
on the pipeline's own train/test split, to check the pipeline's holdout ROC AUC against.

Independent of the trainer's search code: it reads only the model catalogue's grids
(models/NAME.yaml) and the preprocessor's Parquet split, builds the estimators itself (LightGBM
single-threaded with one joblib worker per CPU, one fit per candidate and fold; LogisticRegression
as the trainer builds it but run to convergence) and searches every combination with
scikit-learn's GridSearchCV, on the trainer's folds (StratifiedKFold(5), shuffled with seed 55).

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


def load_grid(grid: str, model: str, prefix: str) -> list[dict]:
    from pipeline_common.model_catalogue import load_all

    spec = load_all()[model].grids[grid]
    subgrids = spec if isinstance(spec, list) else [spec]
    return [{prefix + k: list(v) for k, v in sub.items()} for sub in subgrids]


def build(model: str, seed: int):
    if model == "lgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_jobs=1, random_state=seed, verbosity=-1, force_row_wise=True), ""
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

    # The trainer's model (inputs scaled to [0, 1], CSR), but every fit run to convergence
    # (max_iter 2000 instead of the trainer's 100): the reference for what the cap costs.
    pipe = Pipeline(
        [
            ("scale", MinMaxScaler()),
            ("sparse", FunctionTransformer(csr_matrix, accept_sparse=True)),
            ("clf", LogisticRegression(max_iter=2000, random_state=seed)),
        ]
    )
    return pipe, "clf__"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--features-json", required=True, help="the preprocessor's features.json (local path)"
    )
    parser.add_argument("--model", choices=["lgbm", "logreg"], required=True, help="model to search")
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
    estimator, prefix = build(args.model, args.seed)
    grid = load_grid(args.grid, args.model, prefix)
    # The trainer's folds (shuffled, seed 55), so both searches rank candidates on the same data.
    folds = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    search = GridSearchCV(estimator, grid, cv=folds, n_jobs=cpus, scoring="roc_auc")
    with step(f"search:{args.model}"):
        search.fit(train[feats], train[target])
    auc = roc_auc_score(test[target], search.predict_proba(test[feats])[:, 1])
    emit(
        "result",
        args.model,
        roc_auc=float(auc),
        cv_roc_auc=float(search.best_score_),
        best_params=search.best_params_,
        n_candidates=len(search.cv_results_["params"]),
    )
    return 0


def _local(uri: str) -> str:
    return uri.removeprefix("file://")


if __name__ == "__main__":
    sys.exit(main())
