"""Exhaustive grid search, fold by fold, with GridSearchCV's results and a preprocessing fitted once
per fold where the grid allows it.

Every exhaustive grid that the staged search (staged_search.py) cannot score from fewer fits runs
here, fold by fold: every candidate runs once early, so the ETA learns each candidate's cost
(fit_costs.Remaining) and is true from the first fold on, also on a first run.

When every grid parameter belongs to a Pipeline's final estimator (the logreg grid: C, l1_ratio,
solver), the steps before it (MinMaxScaler, then CSR) are the same fit on the same rows for every
candidate of a fold. GridSearchCV repeats them per candidate and fold: on the full logreg grid
that is 240 copies, scalings and CSR conversions of a 20,823 x 101 matrix, plus 240 of the
validation rows, about a fifth of the search's CPU (one fold of the grid: 27.8 s -> 22.2 s). This
search then transforms each fold once in the parent, and the workers fit and score only the
final estimator. Any other estimator is fitted whole on each fold's rows, as GridSearchCV does.
cv_results_, best_index_ and best_params_ are GridSearchCV's for the same grid, folds and scorer,
bit for bit (the unit tests compare them score for score).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from trainer.cv_results import set_search_results, tagged
from trainer.fit_costs import SearchProgress, per_candidate

if TYPE_CHECKING:
    import numpy as np
    from sklearn.base import BaseEstimator

log = logging.getLogger(__name__)


def _fit_and_score(
    final: BaseEstimator, params: dict[str, Any], X_fit: Any, y_fit: Any, X_val: Any, y_val: Any
) -> tuple[float, float, float]:
    """(roc_auc on the validation rows, fit s, score s) of one candidate on one prepared fold,
    scored as GridSearchCV(scoring="roc_auc") scores it."""
    from sklearn.base import clone
    from sklearn.metrics import get_scorer

    t0 = time.perf_counter()
    model = clone(final).set_params(**params).fit(X_fit, y_fit)
    fit_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    score = float(get_scorer("roc_auc")(model, X_val, y_val))
    return score, fit_seconds, time.perf_counter() - t0


def _fit_and_score_rows(
    estimator: BaseEstimator, params: dict[str, Any], X: Any, y: Any, train: Any, test: Any
) -> tuple[float, float, float]:
    """The same on a fold given by its row indices: the whole X goes to the workers once
    (joblib memory-maps it), as in GridSearchCV, not a copy per fold."""
    return _fit_and_score(estimator, params, X[train], y[train], X[test], y[test])


class FoldwiseGridSearchCV:
    """GridSearchCV's interface and results, fold by fold.

    Scoring is scikit-learn's "roc_auc" scorer, as GridSearchCV's; refit is left to the caller.
    Fits run in joblib's worker processes (liblinear seeds a process-wide RNG, so threads would
    make its results depend on timing), every task dispatched at once, fold by fold, each fold in
    the grid's (costliest-first) order.
    """

    progress_every = 5.0

    def __init__(
        self,
        estimator: BaseEstimator,
        param_grid: Any,
        *,
        cv: Any,
        n_jobs: int,
        costs: dict[str, float] | None = None,
    ) -> None:
        self.estimator, self.param_grid, self.cv, self.n_jobs = estimator, param_grid, cv, n_jobs
        # Each candidate's cost in the last run of this grid (trainer.fit_costs), for the ETA only.
        self.costs = costs

    @staticmethod
    def caches_steps(estimator: Any, param_grid: list[dict[str, list[Any]]]) -> bool:
        """A Pipeline of 2+ steps whose grid names only parameters of its last step: its other
        steps are fitted once per fold."""
        steps = getattr(estimator, "steps", None)
        if not isinstance(steps, list) or len(steps) < 2:
            return False
        prefix = f"{steps[-1][0]}__"
        return all(
            key.startswith(prefix) and "__" not in key[len(prefix) :] for sub in param_grid for key in sub
        )

    def fit(self, X: np.ndarray, y: np.ndarray) -> FoldwiseGridSearchCV:
        import numpy as np
        from sklearn.base import clone
        from sklearn.model_selection import ParameterGrid
        from sklearn.utils.parallel import Parallel, delayed

        candidates = list(ParameterGrid(self.param_grid))
        folds = list(self.cv.split(X, y))
        n_fits = len(candidates) * len(folds)
        t0 = time.perf_counter()
        if self.caches_steps(self.estimator, self.param_grid):
            name, fitted = self.estimator.steps[-1]
            cut = len(name) + 2
            task, prepared = _fit_and_score, []
            for train, test in folds:
                # As Pipeline.fit does it: fit_transform on the fold's rows, then transform its holdout.
                steps = clone(self.estimator)[:-1]
                X_fit = steps.fit_transform(X[train], y[train])
                prepared.append((X_fit, y[train], steps.transform(X[test]), y[test]))
            how = f"; preprocessing fitted once per fold in {time.perf_counter() - t0:.1f} s"
        else:
            fitted, cut, task, how = self.estimator, 0, _fit_and_score_rows, ""
            prepared = [(X, y, train, test) for train, test in folds]
        log.info(
            "grid search: %d CV fits (%d candidates x %d folds), fold by fold%s",
            n_fits,
            len(candidates),
            len(folds),
            how,
        )
        scores = np.full((len(candidates), len(folds)), np.nan)
        fit_times = np.zeros_like(scores)
        score_times = np.zeros_like(scores)
        # Progress in measured seconds: each candidate's cost is learned from its first fold (or
        # known from the last run of this grid), so the ETA holds for fits 100x apart in cost.
        progress = SearchProgress(
            log,
            n_fits,
            groups=len(candidates),
            folds=len(folds),
            prior=per_candidate(self.costs, candidates) if self.costs else None,
            every=self.progress_every,
        )
        parallel = Parallel(n_jobs=self.n_jobs, pre_dispatch="all", return_as="generator_unordered")
        # Fold by fold, each fold's candidates in the grid's order (costliest first): every
        # candidate runs once early, which is what the ETA learns from, and the last fits are short.
        jobs = (
            delayed(tagged)(
                (index, fold),
                task,
                fitted,
                {key[cut:]: value for key, value in params.items()},
                *prepared[fold],
            )
            for fold in range(len(folds))
            for index, params in enumerate(candidates)
        )
        for (index, fold), (score, fit_s, score_s), seconds in parallel(jobs):
            scores[index, fold], fit_times[index, fold], score_times[index, fold] = score, fit_s, score_s
            progress.done(index, 1, seconds)
        set_search_results(self, candidates, scores, fit_times, score_times)
        return self
