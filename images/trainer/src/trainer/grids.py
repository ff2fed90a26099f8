"""Hyper-parameter grids: read from the model catalogue (models/NAME.yaml `grids`) or a user file,
and validated before any fit or run: names, then the number of candidates (counted, never
listed) against a cap, then every distinct value against the estimator's own rules
(grid_values.py), then each combination against the model's cross-parameter rules."""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_common import env
from pipeline_common.errors import StageError

from trainer import grid_values, models

log = logging.getLogger(__name__)
# Candidates a grid may have: the largest shipped grid has 108 (lgbm full); 1,000 candidates x 5
# folds is already hours on two CPUs. TRAINER_MAX_CANDIDATES raises or lowers it.
MAX_CANDIDATES_ENV = "TRAINER_MAX_CANDIDATES"
DEFAULT_MAX_CANDIDATES = 1000
FIX_FILE = "see models/README.md for the format (a grid file maps MODEL -> {param: [values, ...]})"


@dataclass(frozen=True)
class Grid:
    """A validated grid: `name` (full, demo or the file path) and its sub-grids, unprefixed."""

    name: str
    model: str
    subgrids: tuple[dict[str, list[Any]], ...]

    def combinations(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for sub in self.subgrids:
            keys = sorted(sub)
            out.extend(
                dict(zip(keys, values, strict=True)) for values in itertools.product(*(sub[k] for k in keys))
            )
        return out

    def first_candidate(self) -> dict[str, Any]:
        """The first combination, as GridSearchCV lists them (sorted names), without the others."""
        sub = self.subgrids[0]
        return {k: sub[k][0] for k in sorted(sub)}

    @property
    def n_candidates(self) -> int:
        """Counted, not listed: a grid of a billion candidates is refused without building it."""
        return sum(math.prod(len(v) for v in sub.values()) for sub in self.subgrids)

    def param_grid(self) -> list[dict[str, list[Any]]]:
        """The grid in GridSearchCV's form, with the model's step prefix."""
        prefix = models.get(self.model).prefix
        return [{prefix + k: list(v) for k, v in sub.items()} for sub in self.subgrids]


def _yaml_load(text: str, source: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StageError(f"grid file {source} is not valid YAML ({first})", FIX_FILE) from exc


def builtin_names() -> list[str]:
    """The grids every model of the catalogue defines (full, demo, ...)."""
    from pipeline_common.model_catalogue import grid_names

    return grid_names()


def _subgrids(raw: Any, source: str) -> list[dict[str, list[Any]]]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise StageError(f"{source} is an empty list of grids", FIX_FILE)
    out = []
    for sub in items:
        if not isinstance(sub, dict) or not sub:
            raise StageError(f"{source} must map parameter names to lists of values, got {sub!r}", FIX_FILE)
        clean: dict[str, list[Any]] = {}
        for key, values in sub.items():
            if not isinstance(values, list) or not values:
                raise StageError(
                    f"{source}: parameter {key!r} needs a non-empty list of values, got {values!r}", FIX_FILE
                )
            clean[str(key)] = values
        out.append(clean)
    return out


def max_candidates() -> int:
    return int(env.number(MAX_CANDIDATES_ENV, DEFAULT_MAX_CANDIDATES))


def _check_size(grid: Grid, source: str) -> None:
    cap = max_candidates()
    if grid.n_candidates > cap:
        raise StageError(
            f"{source} has {grid.n_candidates:,} candidates, more than the cap of {cap:,}",
            f"use fewer values, split the grid into sub-grids, --search halving, or raise "
            f"{MAX_CANDIDATES_ENV} if the search is meant to take that long",
        )


def validate(name: str, model: str, raw: Any) -> Grid:
    """Check names against the estimator, the size against the cap, each distinct value against
    the estimator's constraints, then each combination against the model's rules."""
    spec = models.get(model)
    source = f"grid {name!r} of model {model!r}"
    subgrids = _subgrids(raw, source)
    estimator_params = set(spec.build(0).get_params(deep=True))
    for sub in subgrids:
        unknown = sorted(k for k in sub if spec.prefix + k not in estimator_params)
        if unknown:
            known = sorted(
                p[len(spec.prefix) :]
                for p in estimator_params
                if p.startswith(spec.prefix) and "__" not in p[len(spec.prefix) :]
            )
            raise StageError(
                f"{source} has unknown parameter(s) {unknown}",
                f"use parameters of {spec.description}: {known}",
            )
    grid = Grid(name=name, model=model, subgrids=tuple(subgrids))
    _check_size(grid, source)  # before anything walks the combinations
    seconds = grid_values.check(spec, grid.subgrids, source)
    log.debug("grid %s: values checked in %.3f s", name, seconds)
    for combo in grid.combinations():
        problem = spec.check(combo)
        if problem:
            raise StageError(
                f"{source} has an invalid combination {combo}: {problem}", "remove it from the grid"
            )
    return grid


def load(grid: str, model: str) -> Grid:
    """`grid` names one of the model's catalogue grids (full, demo, ...) or a YAML file MODEL -> grid."""
    spec = models.get(model)
    if grid in spec.entry.grids:
        return validate(grid, model, spec.entry.grids[grid])
    path = Path(grid)
    if not path.is_file():
        raise StageError(
            f"--grid {grid!r} is neither a grid of model {model!r} {sorted(spec.entry.grids)} nor a file",
            f"pass one of {sorted(spec.entry.grids)} or a YAML file path",
        )
    data = _yaml_load(path.read_text(), str(path))
    if not isinstance(data, dict) or model not in data:
        raise StageError(f"grid file {path} has no grid for model {model!r}", FIX_FILE)
    return validate(str(path), model, data[model])
