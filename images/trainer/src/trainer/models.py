"""The models the trainer knows: how each is built, searched, explained and serialised.

Every estimator is single-threaded: the search runs one fit per CPU of the stage's budget, so
joblib workers x native threads never exceed it (oversubscribed OpenMP makes LightGBM ~100x
slower under a CPU quota).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline_common.errors import StageError

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.base import BaseEstimator


def _lgbm(seed: int) -> BaseEstimator:
    from lightgbm import LGBMClassifier

    # verbosity -1: no per-fit "no further splits" chatter; force_col_wise skips LightGBM's
    # per-fit row/col-wise timing probe (the data is narrow and dense).
    return LGBMClassifier(n_jobs=1, random_state=seed, verbosity=-1, force_col_wise=True)


def _logreg(seed: int) -> BaseEstimator:
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

    # Inputs scaled to [0, 1]: one-hot columns stay 0/1 and capital_gain (0..99999) shrinks, so
    # row norms are small and sag/saga/liblinear converge ~10x faster than on raw inputs. Not
    # StandardScaler: it blows rare one-hot columns up to values near 100, and with them the
    # row norms that set sag/saga's step size (measured: saga C=1 37 s vs 4 s of CPU).
    # Then CSR: 90% of the scaled matrix is one-hot zeros, and every solver's passes over the rows
    # cost per non-zero (measured on one fold of the full grid: 98 s -> 40 s of CPU).
    # max_iter stays at scikit-learn's (and the original example's) 100: only the weakly
    # regularised sag/saga candidates (C >= 10) reach it, and running them to convergence (up to
    # 613 epochs) costs 5x their CPU for < 1e-5 of ROC AUC (docs/benchmarks.md). The trainer
    # warns when the model it selects stopped at max_iter.
    return Pipeline(
        [
            ("scale", MinMaxScaler()),
            ("sparse", FunctionTransformer(csr_matrix, accept_sparse=True)),
            ("clf", LogisticRegression(max_iter=100, random_state=seed)),
        ]
    )


def _lgbm_importance(estimator: Any, features: list[str]) -> pd.Series:
    import pandas as pd

    gain = estimator.booster_.feature_importance(importance_type="gain")
    return pd.Series(gain, index=features, name="gain importance")


def _logreg_importance(estimator: Any, features: list[str]) -> pd.Series:
    import numpy as np
    import pandas as pd

    coef = np.abs(estimator.named_steps["clf"].coef_.ravel())
    return pd.Series(coef, index=features, name="|coefficient| (inputs scaled to [0, 1])")


# l1_ratio (scikit-learn >= 1.8; replaces `penalty`) -> the solvers that accept it.
_L2_SOLVERS = {"lbfgs", "newton-cg", "newton-cholesky", "sag", "saga", "liblinear"}
_L1_SOLVERS = {"liblinear", "saga"}
_ELASTICNET_SOLVERS = {"saga"}


def _check_logreg(params: dict[str, Any]) -> str | None:
    """Why scikit-learn would reject this combination, or None if it is valid."""
    ratio = float(params.get("l1_ratio", 0.0))
    solver = params.get("solver", "lbfgs")
    if not 0.0 <= ratio <= 1.0:
        return f"l1_ratio={ratio} is outside [0, 1]"
    if ratio == 0.0:
        allowed, kind = _L2_SOLVERS, "L2 (l1_ratio 0)"
    elif ratio == 1.0:
        allowed, kind = _L1_SOLVERS, "L1 (l1_ratio 1)"
    else:
        allowed, kind = _ELASTICNET_SOLVERS, f"elastic net (l1_ratio {ratio})"
    if solver not in allowed:
        return f"solver {solver!r} does not support {kind}; use one of {sorted(allowed)}"
    return None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    build: Callable[[int], BaseEstimator]
    # Grid parameter names are the estimator's own; the search sees them with this prefix.
    prefix: str
    importance: Callable[[Any, list[str]], pd.Series]
    # Types skops must trust to load the model (MLflow 3 stores sklearn models with skops, which
    # refuses unknown types instead of executing arbitrary pickled code).
    trusted_types: tuple[str, ...]
    pip_packages: tuple[str, ...]
    check: Callable[[dict[str, Any]], str | None] = lambda params: None
    # Boosted trees: an exhaustive grid is scored from one fit per distinct model (staged_search.py).
    staged: bool = False


MODELS: dict[str, ModelSpec] = {
    "lgbm": ModelSpec(
        name="lgbm",
        description="LightGBM gradient-boosted trees (LGBMClassifier)",
        build=_lgbm,
        prefix="",
        importance=_lgbm_importance,
        trusted_types=(
            "collections.OrderedDict",
            "lightgbm.basic.Booster",
            "lightgbm.sklearn.LGBMClassifier",
        ),
        pip_packages=("lightgbm", "scikit-learn", "skops", "numpy", "pandas"),
        staged=True,
    ),
    "logreg": ModelSpec(
        name="logreg",
        description="LogisticRegression after a MinMaxScaler",
        build=_logreg,
        prefix="clf__",
        importance=_logreg_importance,
        trusted_types=("scipy.sparse._csr.csr_matrix",),
        pip_packages=("scikit-learn", "scipy", "skops", "numpy", "pandas"),
        check=_check_logreg,
    ),
}
ALL_TRUSTED_TYPES: list[str] = sorted({t for spec in MODELS.values() for t in spec.trusted_types})


def get(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise StageError(f"unknown model {name!r}", f"use --model with one of {sorted(MODELS)}") from None
