"""The model catalogue: one file per model in models/NAME.yaml, with its grids beside it.

The trainer builds its estimators from these entries (trainer/models.py) and the DAGs list the
models and grids from them, so adding a model is one new file (docs/extending.md). This module only
reads and checks the files: the standard library and PyYAML, nothing that trains, because the
Airflow image reads the catalogue too. models/README.md documents every key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from pipeline_common.errors import StageError

NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
SEARCHES = ("staged_boosting",)
IMPORTANCE_SOURCES = ("feature_importances", "coefficients", "permutation")
FINAL_STEP = "clf"  # the estimator's step name when preprocessing steps come before it
FIX = "see models/README.md for the keys of a model entry"
_KEYS = {
    "name",
    "description",
    "steps",
    "estimator",
    "search",
    "importance",
    "requirements",
    "trusted_types",
    "grids",
}
_REQUIRED = ("name", "description", "estimator", "grids")


@dataclass(frozen=True)
class Component:
    """A class to build: `cls` is its import path; params may hold {import: path} for objects."""

    cls: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    estimator: Component
    steps: tuple[tuple[str, Component], ...]
    search: str | None
    importance_from: str
    importance_label: str
    requirements: tuple[str, ...]
    trusted_types: tuple[str, ...]
    grids: dict[str, Any]  # grid name -> one grid or a list of sub-grids (checked by the trainer)
    origin: str

    @property
    def prefix(self) -> str:
        """The prefix of the estimator's parameters in a search over the whole pipeline."""
        return f"{FINAL_STEP}__" if self.steps else ""


def models_dir() -> Path:
    from pipeline_common.config import folder

    return folder("models")


def _fail(origin: str, where: str, problem: str, fix: str = FIX) -> NoReturn:
    raise StageError(f"model entry {origin}: {where} {problem}", fix)


def _component(raw: Any, origin: str, where: str) -> Component:
    if not isinstance(raw, dict) or set(raw) - {"class", "params", "name"} or "class" not in raw:
        _fail(origin, where, f"must be {{class: module.Class, params: {{...}}}}, got {raw!r}")
    if not isinstance(raw["class"], str) or not DOTTED.match(raw["class"]):
        _fail(origin, f"{where}.class", f"{raw['class']!r} is not an import path like sklearn.svm.SVC")
    params = raw.get("params", {}) or {}
    if not isinstance(params, dict):
        _fail(origin, f"{where}.params", "must be a mapping of constructor arguments")
    for key, value in params.items():
        if isinstance(value, dict) and (set(value) != {"import"} or not DOTTED.match(str(value["import"]))):
            _fail(origin, f"{where}.params.{key}", "may be a mapping only as {import: module.object}")
    return Component(raw["class"], dict(params))


def _strings(raw: Any, origin: str, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str) and v for v in raw):
        _fail(origin, where, f"must be a list of names, got {raw!r}")
    return tuple(raw)


def parse(raw: Any, origin: str, expect_name: str | None = None) -> ModelEntry:
    if not isinstance(raw, dict):
        _fail(origin, "the file", "must be a mapping")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        _fail(origin, "the file", f"has unknown key(s) {unknown}", f"use only {sorted(_KEYS)} ({FIX})")
    absent = [k for k in _REQUIRED if k not in raw]
    if absent:
        _fail(origin, "the file", f"lacks {absent}")
    name = raw["name"]
    if not isinstance(name, str) or not NAME.match(name):
        _fail(origin, "name", f"{name!r} is not a valid model name", "use lower-case letters, digits and '_'")
    if expect_name is not None and name != expect_name:
        _fail(origin, "name", f"is {name!r} but the file is {expect_name}.yaml", "make them equal")
    steps_raw = raw.get("steps", []) or []
    if not isinstance(steps_raw, list):
        _fail(origin, "steps", "must be a list of {name, class, params}")
    steps = []
    for i, step in enumerate(steps_raw):
        step_name = step.get("name") if isinstance(step, dict) else None
        if not isinstance(step_name, str) or not NAME.match(step_name) or step_name == FINAL_STEP:
            _fail(
                origin,
                f"steps[{i}].name",
                f"{step_name!r} must be a lower-case name other than {FINAL_STEP!r}",
            )
        steps.append((step_name, _component(step, origin, f"steps[{i}]")))
    if len({s for s, _ in steps}) != len(steps):
        _fail(origin, "steps", "use each step name once")
    search = raw.get("search")
    if search is not None and search not in SEARCHES:
        _fail(origin, "search", f"is {search!r}", f"leave it out, or use one of {list(SEARCHES)}")
    importance = raw.get("importance", {"from": "permutation"}) or {}
    if not isinstance(importance, dict) or importance.get("from") not in IMPORTANCE_SOURCES:
        _fail(
            origin,
            "importance",
            f"is {importance!r}",
            f"give {{from: one of {list(IMPORTANCE_SOURCES)}, label: text}}",
        )
    grids = raw["grids"]
    if not isinstance(grids, dict) or not grids:
        _fail(origin, "grids", "must map grid names (full, demo, ...) to grids")
    return ModelEntry(
        name=name,
        description=str(raw["description"]).strip(),
        estimator=_component(raw["estimator"], origin, "estimator"),
        steps=tuple(steps),
        search=search,
        importance_from=importance["from"],
        importance_label=str(importance.get("label") or importance["from"].replace("_", " ")),
        requirements=_strings(
            raw.get("requirements", ["scikit-learn", "skops", "numpy", "pandas"]), origin, "requirements"
        ),
        trusted_types=_strings(raw.get("trusted_types", []), origin, "trusted_types"),
        grids={str(k): v for k, v in grids.items()},
        origin=origin,
    )


def load_all() -> dict[str, ModelEntry]:
    """Every entry of models/, by name, in name order."""
    import yaml

    entries = {}
    for path in sorted(models_dir().glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise StageError(f"model entry {path} is not valid YAML ({first})", FIX) from exc
        entry = parse(raw, str(path), expect_name=path.stem)
        entries[entry.name] = entry
    if not entries:
        raise StageError(f"no model entry in {models_dir()}", "add models/NAME.yaml (docs/extending.md)")
    return entries


def names() -> list[str]:
    return list(load_all())


def grid_names() -> list[str]:
    """The grids every model defines (what a DAG may pass to all of its trainers)."""
    entries = load_all().values()
    common = set.intersection(*(set(e.grids) for e in entries))
    return sorted(common, key=lambda g: (g != "full", g))
