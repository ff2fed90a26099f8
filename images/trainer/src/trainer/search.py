"""Cross-validated grid search (exhaustive or successive halving) that reports its progress.

The search hands candidates to scikit-learn in chunks through `_run_search`, the documented hook
for custom searches; results are identical to a single call, and after each chunk the parent
process logs fits done / total with an ETA. (scikit-learn 1.9's experimental callback API reports
from the workers over a socket per fit; chunking needs none of that.) No sklearn callbacks are
registered, so the per-fit callback contexts are not created (callback_ctx=None).
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from pipeline_common.logs import Progress

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

log = logging.getLogger(__name__)
SEARCHES = ("grid", "halving")
# Aim for about this many progress reports per search (more chunks = more idle tails).
REPORTS = 20


def _chunked_evaluator(search: Any, evaluate_candidates: Any) -> Any:
    n_splits = search.cv.get_n_splits()
    n_jobs = max(1, int(search.n_jobs or 1))
    state = {"iteration": 0}

    def evaluate(
        candidate_params: Any,
        cv: Any = None,
        more_results: dict[str, list[Any]] | None = None,
        callback_ctx: Any = None,
    ) -> Any:
        params = list(candidate_params)
        total = len(params) * n_splits
        state["iteration"] += 1
        label = "cv fits" if state["iteration"] == 1 else f"cv fits (round {state['iteration']})"
        progress = Progress(label, total, log, every=search.progress_every)
        # Chunks big enough to keep every worker busy, small enough for a report every few seconds.
        size = max(math.ceil(4 * n_jobs / n_splits), math.ceil(len(params) / REPORTS), 1)
        results: Any = None
        for start in range(0, len(params), size):
            chunk = params[start : start + size]
            extra = {k: v[start : start + size] for k, v in (more_results or {}).items()}
            results = evaluate_candidates(chunk, cv, more_results=extra or None, callback_ctx=None)
            progress.advance(len(chunk) * n_splits)
        return results

    return evaluate


def release_workers() -> None:
    """Stop joblib's process pool now that the search is done.

    Its workers hold a copy of the libraries and the data; left alone they idle through the model
    logging and are only reaped at interpreter exit, which then takes seconds.
    """
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        # Graceful (idle workers exit on a sentinel): kill_workers=True needs psutil or pgrep,
        # which the slim image lacks; loky's manager thread then fails and exit hangs.
        executor.shutdown(wait=True, kill_workers=False)


def make_search(
    kind: str,
    estimator: BaseEstimator,
    param_grid: list[dict[str, list[Any]]],
    *,
    cv: Any,
    n_jobs: int,
    seed: int,
    staged: bool = False,
) -> Any:
    """A grid or halving search scored by ROC AUC; refit is done by the caller.

    `staged`: the estimator is a LightGBM model whose exhaustive grid can be scored from fewer fits
    with identical results (staged_search.py); used for `grid` when the grid names n_estimators.
    """
    from sklearn.model_selection import GridSearchCV

    from trainer.staged_search import StagedGridSearchCV

    if kind == "grid" and staged and StagedGridSearchCV.applies(param_grid):
        return StagedGridSearchCV(estimator, param_grid, cv=cv, n_jobs=n_jobs)

    common: dict[str, Any] = {
        "scoring": "roc_auc",
        "cv": cv,
        "n_jobs": n_jobs,
        "refit": False,
        # An invalid candidate must fail the task, not silently score NaN.
        "error_score": "raise",
    }
    if kind == "grid":
        from sklearn.model_selection import ParameterGrid

        class ProgressGridSearchCV(GridSearchCV):
            progress_every = 5.0

            def _run_search(self, evaluate_candidates: Any, *, callback_ctx: Any = None) -> None:
                _chunked_evaluator(self, evaluate_candidates)(ParameterGrid(self.param_grid))

        return ProgressGridSearchCV(estimator, param_grid, **common)

    from sklearn.experimental import enable_halving_search_cv  # noqa: F401 - registers the class
    from sklearn.model_selection import HalvingGridSearchCV

    class ProgressHalvingGridSearchCV(HalvingGridSearchCV):
        progress_every = 5.0

        def _run_search(self, evaluate_candidates: Any, *, callback_ctx: Any = None) -> None:
            super()._run_search(_chunked_evaluator(self, evaluate_candidates), callback_ctx=callback_ctx)

    # Each round keeps the best third of the candidates and triples the training rows.
    return ProgressHalvingGridSearchCV(estimator, param_grid, factor=3, random_state=seed, **common)
