"""The models the trainer knows, built from the model catalogue (models/NAME.yaml, one per model).

An entry names the estimator class and its fixed parameters, the preprocessing steps before it,
how to explain it, what loading it needs and its grids (pipeline_common.model_catalogue reads and
checks the files). This module turns an entry into a ModelSpec: a builder of the estimator, its
importance function and the rules its grids must follow.

Every estimator is single-threaded: the search runs one fit per CPU of the stage's budget, so
joblib workers x native threads never exceed it (oversubscribed OpenMP makes LightGBM ~100x
slower under a CPU quota). `python -m trainer` pins OpenMP/BLAS to one thread before any import.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline_common.errors import StageError
from pipeline_common.model_catalogue import FINAL_STEP, Component, ModelEntry

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.base import BaseEstimator

# Permutation importance: shuffles of each feature, on a sample of the holdout rows (101 census
# features x 3 shuffles of all 6,508 rows took 14 s for HistGradientBoosting; this takes ~2 s).
PERMUTATION_REPEATS = 2
PERMUTATION_ROWS = 2000


def _import(path: str) -> Any:
    module, _, attribute = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise StageError(
            f"cannot import {path} named in the model catalogue ({type(exc).__name__}: {exc})",
            "fix the import path in models/*.yaml, or add the package to the trainer image",
        ) from exc


def _make(component: Component, seed: int) -> Any:
    params = {k: _import(v["import"]) if isinstance(v, dict) else v for k, v in component.params.items()}
    try:
        made = _import(component.cls)(**params)
    except TypeError as exc:
        raise StageError(
            f"{component.cls} rejects the parameters {sorted(params)} of the model catalogue: {exc}",
            "fix `params` in models/*.yaml",
        ) from exc
    # Every randomised component gets the trainer's seed, so a fit is reproducible.
    if "random_state" in made.get_params(deep=False):
        made.set_params(random_state=seed)
    return made


def final_step(estimator: Any) -> Any:
    """The estimator itself, or a Pipeline's last step (the model its grid parameters belong to)."""
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


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


# Rules a combination of grid values must follow beyond each value's own constraints, by estimator
# class: scikit-learn checks these only when fitting, deep inside the search.
COMBINATION_RULES: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "sklearn.linear_model.LogisticRegression": _check_logreg,
}


@dataclass(frozen=True)
class ModelSpec:
    entry: ModelEntry

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def description(self) -> str:
        return self.entry.description

    @property
    def prefix(self) -> str:
        """Grid parameter names are the estimator's own; the search sees them with this prefix."""
        return self.entry.prefix

    @property
    def trusted_types(self) -> tuple[str, ...]:
        """Types skops must trust to load the model (MLflow 3 stores sklearn models with skops,
        which refuses unknown types instead of executing arbitrary pickled code)."""
        return self.entry.trusted_types

    @property
    def pip_packages(self) -> tuple[str, ...]:
        return self.entry.requirements

    @property
    def staged(self) -> bool:
        """Boosted trees: an exhaustive grid is scored from one fit per distinct model (staged_search.py)."""
        return self.entry.search == "staged_boosting"

    def build(self, seed: int) -> BaseEstimator:
        """A fresh, unfitted estimator (a Pipeline when the entry has preprocessing steps)."""
        estimator = _make(self.entry.estimator, seed)
        if not self.entry.steps:
            return estimator
        from sklearn.pipeline import Pipeline

        steps = [(name, _make(component, seed)) for name, component in self.entry.steps]
        return Pipeline([*steps, (FINAL_STEP, estimator)])

    def check(self, params: dict[str, Any]) -> str | None:
        """Why this combination of (unprefixed) grid values cannot be fitted, or None."""
        rule = COMBINATION_RULES.get(self.entry.estimator.cls)
        return rule(params) if rule else None

    def importance(self, estimator: Any, X: pd.DataFrame, y: Any, seed: int = 55) -> pd.Series:
        """One non-negative number per feature (X's columns), labelled for the plot."""
        import numpy as np
        import pandas as pd

        final, source = final_step(estimator), self.entry.importance_from
        if source == "feature_importances":
            values = np.asarray(final.feature_importances_, dtype=float)
        elif source == "coefficients":
            values = np.abs(np.asarray(final.coef_, dtype=float).ravel())
        else:
            from sklearn.inspection import permutation_importance

            found = permutation_importance(
                estimator,
                X,
                y,
                scoring="roc_auc",
                n_repeats=PERMUTATION_REPEATS,
                max_samples=min(len(X), PERMUTATION_ROWS),
                random_state=seed,
                n_jobs=1,
            )
            values = np.clip(found.importances_mean, 0.0, None)  # below 0: noise, no importance
        return pd.Series(values, index=list(X.columns), name=self.entry.importance_label)


@functools.cache
def catalogue() -> dict[str, ModelSpec]:
    """The catalogue's models by name (read once per process)."""
    from pipeline_common.model_catalogue import load_all

    return {name: ModelSpec(entry) for name, entry in load_all().items()}


def names() -> list[str]:
    return list(catalogue())


def get(name: str) -> ModelSpec:
    try:
        return catalogue()[name]
    except KeyError:
        raise StageError(
            f"unknown model {name!r}",
            f"use --model with one of {names()}, or add models/{name}.yaml (docs/extending.md)",
        ) from None


def all_trusted_types() -> list[str]:
    """Every type the catalogue's models may need skops to load (promote loads any of them)."""
    return sorted({t for spec in catalogue().values() for t in spec.trusted_types})


def __getattr__(name: str) -> Any:
    # The catalogue is read on first use, not on import; these names stay for their callers.
    if name == "MODELS":
        return catalogue()
    if name == "ALL_TRUSTED_TYPES":
        return all_trusted_types()
    raise AttributeError(name)
