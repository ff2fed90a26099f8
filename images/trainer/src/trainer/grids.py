"""Hyper-parameter grids: read from grids.yaml (or a user file) and validated before any fit."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pipeline_common.errors import StageError

from trainer import models

BUILTIN = ("full", "demo")
FIX_FILE = "see images/trainer/src/trainer/grids.yaml for the format (MODEL -> {param: [values, ...]})"


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

    @property
    def n_candidates(self) -> int:
        return len(self.combinations())

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


def builtin_file() -> dict[str, Any]:
    text = resources.files("trainer").joinpath("grids.yaml").read_text()
    return _yaml_load(text, "grids.yaml")


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


def validate(name: str, model: str, raw: Any) -> Grid:
    """Check names against the estimator and each combination against the model's rules."""
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
    for combo in grid.combinations():
        problem = spec.check(combo)
        if problem:
            raise StageError(
                f"{source} has an invalid combination {combo}: {problem}", "remove it from the grid"
            )
    return grid


def load(grid: str, model: str) -> Grid:
    """`grid` is a built-in name (full, demo) or the path of a YAML file MODEL -> grid."""
    models.get(model)
    if grid in BUILTIN:
        data = builtin_file()
        try:
            raw = data[grid][model]
        except (KeyError, TypeError):
            raise StageError(f"grids.yaml has no {grid!r} grid for model {model!r}", FIX_FILE) from None
        return validate(grid, model, raw)
    path = Path(grid)
    if not path.is_file():
        raise StageError(
            f"--grid {grid!r} is neither a built-in grid {list(BUILTIN)} nor a file",
            "pass full, demo or a YAML file path",
        )
    data = _yaml_load(path.read_text(), str(path))
    if not isinstance(data, dict) or model not in data:
        raise StageError(f"grid file {path} has no grid for model {model!r}", FIX_FILE)
    return validate(str(path), model, data[model])
