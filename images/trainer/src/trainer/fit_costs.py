"""What each candidate of a grid costs to fit: learned while the search runs, and known from the
last finished run of the same model and grid.

The fits of one grid differ in cost by up to 100x (a weakly regularised saga fit against an L2
lbfgs one), and the logreg grid is listed costliest first so that the last fits to finish are
short. An ETA that counts fits alone is then 3-5x too long for most of the search. `Remaining`
counts the search's work in measured seconds: each candidate's folds at what its first ones took,
the candidates not run yet at their cost in the previous run's cv_results.csv (mean_fit_time per
candidate; the staged search splits a shared fit's time among the candidates it scored) scaled to
this run's pace. No earlier run, or any problem reading it: `previous` gives None, and the ETA
waits until every candidate has run once.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipeline_common.logs import Progress

log = logging.getLogger(__name__)
CV_RESULTS = "cv/cv_results.csv"


def key(params: dict[str, Any]) -> str:
    """One text per candidate, the same for ParameterGrid's dict and cv_results.csv's `params`."""
    return json.dumps({k: params[k] for k in sorted(params)}, default=str)


class Remaining:
    """The whole work of a search in measured seconds (done + left), learned while it runs.

    A group of fits (one candidate, or one staged family) costs about the same on every fold, so
    once it has run on a fold its other folds are counted at its mean so far. A group that has not
    run yet counts what it cost in the earlier run (`prior`), scaled by how this run's pace
    compares with it on the groups both have measured. Without an earlier run it is unknown, and
    so is the total (None), until every group has run once; the searches run the first fold of
    every group first, so the ETA is there after a fold's share of the work and true from then on
    (a first run used to count fits alone: 42 s left shown for 16 s on the full logreg grid).
    """

    def __init__(self, groups: int, folds: int, prior: list[float] | None = None) -> None:
        if prior is not None and len(prior) != groups:
            raise ValueError(f"{len(prior)} prior costs for {groups} groups")
        self.folds, self.prior = folds, prior
        self.spent = [0.0] * groups
        self.runs = [0] * groups

    def record(self, group: int, seconds: float) -> None:
        self.spent[group] += max(seconds, 0.0)
        self.runs[group] += 1

    def total(self) -> float | None:
        done = sum(self.spent)
        scale = 1.0
        if self.prior is not None:
            base = sum(self.prior[g] * runs for g, runs in enumerate(self.runs) if runs)
            if base > 0 and done > 0:
                scale = done / base
        left = 0.0
        for group, runs in enumerate(self.runs):
            pending = self.folds - runs
            if pending <= 0:
                continue
            if runs:
                left += pending * self.spent[group] / runs
            elif self.prior is not None:
                left += pending * self.prior[group] * scale
            else:
                return None
        return done + left


class SearchProgress:
    """A search's `cv fits: ...` lines in measured seconds, with the total `Remaining` learns.

    The staged and the fold-by-fold searches report through it: each finished task names its
    group (candidate or family), how many CV fits it scored and the seconds it took.
    """

    def __init__(
        self,
        logger: logging.Logger,
        n_fits: int,
        *,
        groups: int,
        folds: int,
        prior: list[float] | None,
        every: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.remaining = Remaining(groups, folds, prior)
        self.progress = Progress("cv fits", n_fits, logger, every=every, unit="fits", clock=clock)
        self.progress.expect(self.remaining.total())

    def done(self, group: int, fits: int, seconds: float) -> None:
        self.remaining.record(group, seconds)
        self.progress.expect(self.remaining.total())
        self.progress.advance(fits, work=seconds)


def per_candidate(costs: dict[str, float] | None, candidates: list[dict[str, Any]]) -> list[float]:
    """Each candidate's cost: as known, the unknown ones at the known ones' median; none known: 1 each."""
    from statistics import median

    known = {i: costs[key(p)] for i, p in enumerate(candidates) if costs and key(p) in costs}
    if not known:
        return [1.0] * len(candidates)
    typical = median(known.values())
    return [known.get(i, typical) for i in range(len(candidates))]


def from_cv_results(path: str | Path) -> dict[str, float]:
    """{key(params): mean fit seconds} from a cv_results.csv the trainer logged."""
    import pandas as pd

    frame = pd.read_csv(path, usecols=["params", "mean_fit_time"])
    costs = {}
    for text, seconds in zip(frame["params"], frame["mean_fit_time"], strict=True):
        params = ast.literal_eval(str(text))  # the repr of a dict of plain values, never code
        if isinstance(params, dict) and math.isfinite(float(seconds)) and float(seconds) > 0:
            costs[key(params)] = float(seconds)
    return costs


def previous(model: str, grid: str) -> dict[str, float] | None:
    """The candidates' costs in the active run's experiment's last FINISHED run of model and grid."""
    import mlflow

    if "'" in grid or "'" in model:
        return None  # not expressible in a filter string; progress does without
    try:
        experiment_id = mlflow.active_run().info.experiment_id  # type: ignore[union-attr]
        runs = mlflow.MlflowClient().search_runs(
            [experiment_id],
            filter_string=f"tags.`pipeline.model` = '{model}' and params.grid = '{grid}' "
            "and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            return None
        with tempfile.TemporaryDirectory(prefix="fit-costs-") as scratch:
            path = mlflow.MlflowClient().download_artifacts(runs[0].info.run_id, CV_RESULTS, scratch)
            costs = from_cv_results(path)
    except Exception as exc:  # only the ETA depends on it
        log.debug("no fit costs from an earlier run: %s", exc)
        return None
    log.info("progress weighs each fit by its cost in run %s (same model and grid)", runs[0].info.run_id)
    return costs or None
