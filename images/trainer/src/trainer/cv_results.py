"""`cv_results_` in GridSearchCV's layout, for the searches that score candidates themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def grid_results(
    candidates: list[dict[str, Any]], scores: np.ndarray, fit_times: np.ndarray, score_times: np.ndarray
) -> dict[str, Any]:
    """GridSearchCV's cv_results_ with its mean/std/rank arithmetic; arrays are candidates x folds."""
    import numpy as np
    from scipy.stats import rankdata

    results: dict[str, Any] = {}
    for name, array in (("fit_time", fit_times), ("score_time", score_times)):
        results[f"mean_{name}"] = np.average(array, axis=1)
        results[f"std_{name}"] = np.sqrt(np.average((array - array.mean(axis=1)[:, None]) ** 2, axis=1))
    names = sorted({k for params in candidates for k in params})
    for name in names:
        column = np.ma.MaskedArray(np.empty(len(candidates), dtype=object), mask=True)
        for i, params in enumerate(candidates):
            if name in params:
                column[i] = params[name]
        results[f"param_{name}"] = column
    results["params"] = candidates
    for split in range(scores.shape[1]):
        results[f"split{split}_test_score"] = scores[:, split]
    means = np.average(scores, axis=1)
    results["mean_test_score"] = means
    results["std_test_score"] = np.sqrt(np.average((scores - means[:, np.newaxis]) ** 2, axis=1))
    results["rank_test_score"] = rankdata(-means, method="min").astype(np.int32, copy=False)
    return results


def best_of(results: dict[str, Any]) -> int:
    """GridSearchCV's best_index_: the best rank, the first candidate among ties."""
    import numpy as np

    return int(np.argmin(results["rank_test_score"]))


def set_search_results(
    search: Any,
    candidates: list[dict[str, Any]],
    scores: np.ndarray,
    fit_times: np.ndarray,
    score_times: np.ndarray,
) -> None:
    """Set GridSearchCV's result attributes on `search`: cv_results_, best_index_, best_params_ and
    best_score_ (what train.py and the tests read from any search)."""
    search.cv_results_ = grid_results(candidates, scores, fit_times, score_times)
    search.best_index_ = best_of(search.cv_results_)
    search.best_params_ = candidates[search.best_index_]
    search.best_score_ = float(search.cv_results_["mean_test_score"][search.best_index_])


def tagged(tag: Any, func: Any, *args: Any) -> tuple[Any, Any, float]:
    """Run func(*args); return `tag` (results arrive out of order), its result and its seconds."""
    import time

    t0 = time.perf_counter()
    result = func(*args)
    return tag, result, time.perf_counter() - t0
