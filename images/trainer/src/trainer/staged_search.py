"""Exhaustive grid search for boosted trees that fits each distinct model once, with identical results.

Two facts about gradient boosting make most fits of a grid redundant, without changing any score:

* **The number of rounds** (LightGBM's n_estimators, HistGradientBoosting's max_iter). Boosting
  is sequential: the model with 50 rounds is the first 50 trees of the model with 150 (no early
  stopping; LightGBM's per-iteration seeds do not depend on the total). So each (candidate family,
  fold) is fitted once with the largest number of rounds and scored after every smaller one:
  `predict_proba(num_iteration=k)` (LightGBM), the k-th `staged_predict_proba` (scikit-learn,
  which adds the trees' outputs in the same order as `predict_proba`, so the same bits).
* **max_depth** (LightGBM). A depth limit that no leaf reached never blocked a split, so the model
  equals the one fitted with any larger limit (or none). Depths are fitted from the smallest up; as
  soon as a fit's deepest leaf stays below its limit, every larger limit shares its scores.

The result (cv_results_, best_index_, best_params_) is what scikit-learn's GridSearchCV returns
for the same grid, folds and scorer: every candidate is scored on every fold, ties resolve to
the first candidate in ParameterGrid order, and the tests compare the two score for score. On
the `full` grid (108 candidates, 540 CV fits) it grows 45-180 models of 150 trees instead of 540
of 50-150, which is what brings LightGBM's search from minutes to seconds.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trainer.cv_results import set_search_results, tagged
from trainer.fit_costs import SearchProgress, per_candidate
from trainer.models import final_step

if TYPE_CHECKING:
    import numpy as np
    from sklearn.base import BaseEstimator

log = logging.getLogger(__name__)
STAGED = "n_estimators"  # LightGBM's rounds
DEPTH = "max_depth"
# The rounds parameter of the estimators this search knows, by class name.
ROUNDS = {"LGBMClassifier": STAGED, "HistGradientBoostingClassifier": "max_iter"}


def rounds_of(estimator: Any) -> str | None:
    """The parameter counting boosting rounds of `estimator` (its last step), None if unknown."""
    return ROUNDS.get(type(final_step(estimator)).__name__)


def _positive_scores(model: Any, X_val: np.ndarray, stages: list[int]) -> dict[int, np.ndarray]:
    """P(class 1) on X_val after each number of rounds in `stages`, from one fitted model."""
    if hasattr(final_step(model), "booster_"):  # LightGBM
        return {n: model.predict_proba(X_val, num_iteration=n)[:, 1] for n in stages}
    wanted, found = set(stages), {}
    for done, proba in enumerate(model.staged_predict_proba(X_val), start=1):
        if done in wanted:
            found[done] = proba[:, 1]
            if len(found) == len(wanted):
                break
    return found


def _depth_key(depth: Any) -> float:
    """Sort key of a max_depth value: LightGBM reads <= 0 (and None) as no limit."""
    return float("inf") if depth is None or depth <= 0 else float(depth)


def deepest_leaf(booster: Any) -> int:
    """The depth of the deepest leaf over all trees (the root's children are at depth 1).

    Read from the text model (6x faster than dump_model's JSON): per tree, `left_child=` and
    `right_child=` list the children of internal nodes 0..n-2, a child >= 0 being another internal
    node created after its parent, so one forward pass assigns every depth.
    """
    deepest = 0
    left: list[int] = []
    for line in booster.model_to_string().splitlines():
        if line.startswith("left_child="):
            left = [int(v) for v in line[len("left_child=") :].split()]
        elif line.startswith("right_child="):
            right = [int(v) for v in line[len("right_child=") :].split()]
            depth = [0] * len(left)
            for node, children in enumerate(zip(left, right, strict=True)):
                for child in children:
                    if child >= 0:
                        depth[child] = depth[node] + 1
            deepest = max(deepest, max(depth) + 1)
    return deepest


@dataclass
class _Family:
    """Candidates equal in everything but n_estimators and max_depth: one task per CV fold."""

    params: dict[str, Any]
    # max_depth -> n_estimators -> index of the candidate in ParameterGrid order
    members: dict[Any, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))

    @property
    def n_candidates(self) -> int:
        return sum(len(v) for v in self.members.values())


def _families(candidates: list[dict[str, Any]], prefix: str, rounds: str = STAGED) -> list[_Family]:
    staged, depth = prefix + rounds, prefix + DEPTH
    by_key: dict[tuple[Any, ...], _Family] = {}
    for index, params in enumerate(candidates):
        rest = {k: v for k, v in params.items() if k not in (staged, depth)}
        key = tuple(sorted((k, repr(v)) for k, v in rest.items()))
        family = by_key.setdefault(key, _Family(params=rest))
        family.members[params.get(depth, -1)][int(params[staged])] = index
    return list(by_key.values())


def _score_family(
    estimator: BaseEstimator,
    family: _Family,
    prefix: str,
    X: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    rounds: str = STAGED,
) -> tuple[dict[int, float], dict[int, float], dict[int, float], int]:
    """Fit one family on one fold; ({candidate: score}, {candidate: fit s}, {candidate: score s}, fits)."""
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    scores: dict[int, float] = {}
    fit_times: dict[int, float] = {}
    score_times: dict[int, float] = {}
    depths = sorted(family.members, key=_depth_key)
    stages = sorted({n for per_depth in family.members.values() for n in per_depth})
    X_fit, y_fit, X_val, y_val = X[train], y[train], X[test], y[test]  # one copy per task
    fits = 0
    shared: dict[int, float] | None = None  # scores per n_estimators of a fit no limit bound
    for depth in depths:
        wanted = family.members[depth]
        if shared is None:
            t0 = time.perf_counter()
            model = clone(estimator).set_params(
                **family.params,
                **{prefix + rounds: stages[-1]},
                **({prefix + DEPTH: depth} if depth != -1 else {}),
            )
            model.fit(X_fit, y_fit)
            fit_seconds = time.perf_counter() - t0
            fits += 1
            t0 = time.perf_counter()
            by_trees = {
                n: float(roc_auc_score(y_val, proba))
                for n, proba in _positive_scores(model, X_val, stages).items()
            }
            score_seconds = (time.perf_counter() - t0) / len(by_trees)
            # Only worth checking when a larger limit is still to come.
            if depth != depths[-1] and _depth_key(depth) > deepest_leaf(final_step(model).booster_):
                shared = by_trees  # the limit never bound: larger limits give this very model
        else:
            fit_seconds = score_seconds = 0.0
        source = shared if shared is not None else by_trees
        for n, index in wanted.items():
            scores[index] = source[n]
            fit_times[index] = fit_seconds / len(wanted)
            score_times[index] = score_seconds
    return scores, fit_times, score_times, fits


def _float32_if_lossless(X: np.ndarray) -> np.ndarray:
    """X as float32 when that loses nothing (the census features are float32 and 0/1 columns).

    LightGBM bins the same values into the same bins, so the models are identical (checked: same
    model text, same probabilities), and each fold's copy and Dataset construction costs less.
    """
    import numpy as np

    if X.dtype != np.float64:
        return X
    narrow = X.astype(np.float32)
    return narrow if np.array_equal(narrow, X) else X


class StagedGridSearchCV:
    """GridSearchCV's interface and results for boosted-tree grids, fitting each distinct model once.

    Scoring is ROC AUC from predict_proba, as `scoring="roc_auc"`; refit is left to the caller.
    """

    progress_every = 5.0

    def __init__(
        self,
        estimator: BaseEstimator,
        param_grid: Any,
        *,
        cv: Any,
        n_jobs: int,
        prefix: str = "",
        costs: dict[str, float] | None = None,
    ) -> None:
        self.estimator, self.param_grid, self.cv, self.n_jobs, self.prefix = (
            estimator,
            param_grid,
            cv,
            n_jobs,
            prefix,
        )
        # Each candidate's cost in the last run of this grid (trainer.fit_costs), for the ETA only.
        self.costs = costs

    @staticmethod
    def applies(estimator: Any, param_grid: list[dict[str, list[Any]]], prefix: str = "") -> bool:
        """A boosting estimator this search knows whose every sub-grid names its rounds
        (n_estimators, max_iter); max_depth is optional."""
        rounds = rounds_of(estimator)
        return rounds is not None and all(prefix + rounds in sub for sub in param_grid)

    def fit(self, X: np.ndarray, y: np.ndarray) -> StagedGridSearchCV:
        import numpy as np
        from joblib import Parallel, delayed
        from sklearn.model_selection import ParameterGrid

        candidates = list(ParameterGrid(self.param_grid))
        folds = list(self.cv.split(X, y))
        X = _float32_if_lossless(X)
        rounds = rounds_of(self.estimator) or STAGED
        families = _families(candidates, self.prefix, rounds)
        # Fold by fold (every family runs once early, which is what the ETA learns from), each
        # fold's biggest tasks first (most candidates to score): no worker is left with a long tail.
        tasks = sorted(
            ((f, fold) for f in range(len(families)) for fold in range(len(folds))),
            key=lambda t: (t[1], -families[t[0]].n_candidates),
        )
        n_fits = len(candidates) * len(folds)
        log.info(
            "staged search: %d CV fits (%d candidates x %d folds) from at most %d model fits "
            "(largest %s per family and fold%s)",
            n_fits,
            len(candidates),
            len(folds),
            len(families) * len(folds) * max(len(f.members) for f in families),
            rounds,
            f"; a {DEPTH} no leaf reaches is shared" if any(len(f.members) > 1 for f in families) else "",
        )
        split_scores = np.full((len(candidates), len(folds)), np.nan)
        fit_times = np.zeros_like(split_scores)
        score_times = np.zeros_like(split_scores)
        # Progress in measured seconds. A task's cost is its family's fits on one fold, never its
        # count of CV fits (a task scores 1 to 12 of them from one to four model fits): learned
        # from the family's first fold, or known from an earlier run (the sum of its candidates'
        # fit times; cv_results splits a shared fit's time among them).
        cost = per_candidate(self.costs, candidates) if self.costs else None
        progress = SearchProgress(
            log,
            n_fits,
            groups=len(families),
            folds=len(folds),
            prior=[sum(cost[i] for d in f.members.values() for i in d.values()) for f in families]
            if cost
            else None,
            every=self.progress_every,
        )
        self.n_model_fits_ = 0
        # Threads, not processes: LightGBM and HistGradientBoosting train and predict with the GIL
        # released, so two threads use two cores (LightGBM, measured: 45 s vs 48 s wall for the
        # full grid) without loky's worker start-up (each worker re-imports scikit-learn and
        # LightGBM) or memory-mapping X.
        parallel = Parallel(n_jobs=self.n_jobs, backend="threading", return_as="generator_unordered")
        jobs = (
            delayed(tagged)(
                (family, fold),
                _score_family,
                self.estimator,
                families[family],
                self.prefix,
                X,
                y,
                folds[fold][0],
                folds[fold][1],
                rounds,
            )
            for family, fold in tasks
        )
        for (family, fold), (scores, fits_s, scores_s, fitted), seconds in parallel(jobs):
            for index, score in scores.items():
                split_scores[index, fold] = score
                fit_times[index, fold] = fits_s[index]
                score_times[index, fold] = scores_s[index]
            self.n_model_fits_ += fitted
            progress.done(family, len(scores), seconds)
        set_search_results(self, candidates, split_scores, fit_times, score_times)
        if self.n_model_fits_ < n_fits:
            log.info(
                "staged search: %d CV fits scored from %d model fits (%.1fx fewer)",
                n_fits,
                self.n_model_fits_,
                n_fits / max(self.n_model_fits_, 1),
            )
        else:  # "(1.0x fewer)" read as a saving that did not happen
            log.info(
                "staged search: %d CV fits, one model fit each (nothing to share: one %s per family%s)",
                n_fits,
                rounds,
                f" and every {DEPTH} limit reached" if any(len(f.members) > 1 for f in families) else "",
            )
        return self
