"""Cross-validated grid search (exhaustive or successive halving) that reports its progress.

make_search picks the search. Exhaustive grids run through one of two searches with
GridSearchCV's exact results: staged_search.py for boosted models whose grid names their rounds
(LightGBM, HistGradientBoosting), foldwise_search.py for every other grid (fold by fold, the
logreg pipeline's preprocessing fitted once per fold). Both count progress in measured seconds
and learn each candidate's cost as they go. Halving runs through scikit-learn's
HalvingGridSearchCV, as below.

All candidates go to joblib in one call with every task dispatched at once, so no worker waits
for a slower one at a chunk boundary (measured on the full logreg grid, 2 workers: 66 s in 16
chunks, 63 s in one call with joblib's default pre-dispatch, 57 s with all tasks dispatched).
HalvingGridSearchCV's progress comes from the scorer: after each fit it appends one byte to a
file, from whichever worker process or thread ran the fit, and a thread in the parent logs fits
done / total with an ETA from the file's size. Scores are roc_auc exactly as `scoring="roc_auc"`
gives them.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline_common.logs import Progress

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

log = logging.getLogger(__name__)
SEARCHES = ("grid", "halving")
# How often the parent reads the fit counter (a stat call); Progress decides when to log.
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class CountingScorer:
    """ROC AUC scorer that records each call as one byte appended to `path`.

    Picklable (a module-level dataclass holding a path), so loky workers can run it; the append is
    a single write on a file opened in append mode, which concurrent writers do not interleave.
    """

    path: str

    def __call__(self, estimator: Any, X: Any, y: Any, **kwargs: Any) -> float:
        from sklearn.metrics import get_scorer

        score = get_scorer("roc_auc")(estimator, X, y, **kwargs)
        with open(self.path, "ab", buffering=0) as counter:
            counter.write(b".")
        return score


def _fits_done(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


@contextmanager
def _report(path: str, label: str, total: int, every: float) -> Iterator[None]:
    """Log the fits counted in `path` beyond its current size until the block ends."""
    start = _fits_done(path)
    progress = Progress(label, total, log, every=every, unit="fits")
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(POLL_SECONDS):
            done = min(_fits_done(path) - start, total)
            if done > progress.done and done < total:
                progress.advance(done - progress.done)

    watcher = threading.Thread(target=poll, name="search-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
    progress.advance(max(total - progress.done, 0))


class _ProgressMixin:
    """Reports each round of a search's fits; removes the counter file when the fit ends.

    Callbacks are not registered, so the per-fit callback contexts scikit-learn would build are
    skipped (callback_ctx=None).
    """

    progress_every = 5.0
    cv: Any
    scoring: Any

    def fit(self, X: Any, y: Any = None, **params: Any) -> Any:
        try:
            return super().fit(X, y, **params)  # type: ignore[misc]
        finally:
            if isinstance(self.scoring, CountingScorer):
                with suppress(FileNotFoundError):
                    os.unlink(self.scoring.path)

    def _counted(self, evaluate_candidates: Any) -> Any:
        n_splits = self.cv.get_n_splits()
        rounds = {"n": 0}

        def evaluate(
            candidate_params: Any, cv: Any = None, more_results: Any = None, callback_ctx: Any = None
        ) -> Any:
            params = list(candidate_params)
            rounds["n"] += 1
            label = "cv fits" if rounds["n"] == 1 else f"cv fits (round {rounds['n']})"
            with _report(self.scoring.path, label, len(params) * n_splits, self.progress_every):
                return evaluate_candidates(params, cv, more_results=more_results, callback_ctx=None)

        return evaluate


def counting_scorer() -> CountingScorer:
    """A scorer whose counter file is unique to this process and search (created on first fit)."""
    name = f"cv-fits-{os.getpid()}-{uuid.uuid4().hex}"
    return CountingScorer(os.path.join(tempfile.gettempdir(), name))


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
    costs: Callable[[], dict[str, float] | None] | None = None,
) -> Any:
    """A grid or halving search scored by ROC AUC; refit is done by the caller.

    For `grid`, `staged` marks a boosted model whose grid can be scored from fewer fits
    (staged_search.py, when the grid names its rounds: LightGBM's n_estimators,
    HistGradientBoosting's max_iter); any other grid runs fold by fold (foldwise_search.py).
    `costs` says what each candidate cost in the last run of this grid (trainer.fit_costs), which
    their progress starts from; halving's progress counts fits.
    """
    from trainer.foldwise_search import FoldwiseGridSearchCV
    from trainer.staged_search import StagedGridSearchCV

    if kind == "grid":
        known = costs() if costs else None
        if staged and StagedGridSearchCV.applies(estimator, param_grid):
            return StagedGridSearchCV(estimator, param_grid, cv=cv, n_jobs=n_jobs, costs=known)
        return FoldwiseGridSearchCV(estimator, param_grid, cv=cv, n_jobs=n_jobs, costs=known)

    from sklearn.experimental import enable_halving_search_cv  # noqa: F401 - registers the class
    from sklearn.model_selection import HalvingGridSearchCV

    class ProgressHalvingGridSearchCV(_ProgressMixin, HalvingGridSearchCV):
        def _run_search(self, evaluate_candidates: Any, *, callback_ctx: Any = None) -> None:
            super()._run_search(self._counted(evaluate_candidates), callback_ctx=callback_ctx)

    return ProgressHalvingGridSearchCV(
        estimator,
        param_grid,
        factor=3,
        random_state=seed,
        scoring=counting_scorer(),
        cv=cv,
        n_jobs=n_jobs,
        refit=False,
        # An invalid candidate must fail the task, not silently score NaN.
        error_score="raise",
    )
