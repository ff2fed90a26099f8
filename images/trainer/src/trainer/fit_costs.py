"""What each candidate of a grid costs to fit, from the last finished run of the same model and grid.

The fits of one grid differ in cost by up to 100x (a weakly regularised saga fit against an L2
lbfgs one), and the logreg grid is listed costliest first so that the last fits to finish are
short. An ETA that counts fits alone is then 3-5x too long for most of the search. The previous
run's cv_results.csv (mean_fit_time per candidate; the staged search splits a shared fit's time
among the candidates it scored) says what each candidate costs on this data; the search weighs
its progress by it (pipeline_common.logs.Progress). No earlier run, or any
problem reading it: None, and progress counts fits after a warm-up.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
CV_RESULTS = "cv/cv_results.csv"


def key(params: dict[str, Any]) -> str:
    """One text per candidate, the same for ParameterGrid's dict and cv_results.csv's `params`."""
    return json.dumps({k: params[k] for k in sorted(params)}, default=str)


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
