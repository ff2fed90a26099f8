"""The feature steps a dataset spec can name (its `features:` list), one function per step.

Contract of a step (to add one the vocabulary lacks, write a function here and register it in
STEPS; docs/extending.md walks through an example):

    def my_step(frame: pd.DataFrame, step: FeatureStep, spec: DatasetSpec) -> list[Feature]

- `frame` is the cleaned table (every kept column, the target's column included: a step must only
  read `step.columns`, from which the target's own column has already been removed);
- `step.options` holds the step's other keys from the spec (check them and raise StageError with a
  fix when one is wrong or missing);
- it returns (name, values) pairs: names of [A-Za-z0-9_] only (LightGBM refuses others), values a
  numpy array of one value per row, float32 for numbers or uint8 for indicators;
- it is deterministic and fitted on the whole cleaned table, before the split (so train and test
  get the same columns), and never looks at the target.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
from pipeline_common.dataset_spec import DatasetSpec, FeatureStep
from pipeline_common.errors import StageError

Feature = tuple[str, np.ndarray]
Step = Callable[[pd.DataFrame, FeatureStep, DatasetSpec], list[Feature]]


def column_name(prefix: str, value: str) -> str:
    """'marital_status' + 'Married-civ-spouse' -> 'marital_status_Married_civ_spouse'.

    Only [A-Za-z0-9_]: LightGBM rejects JSON special characters in feature names."""
    text = (
        value.replace("<=", "le_")
        .replace(">=", "ge_")
        .replace("<", "lt_")
        .replace(">", "gt_")
        .replace("&", "_and_")
    )
    return f"{prefix}_{re.sub(r'[^0-9A-Za-z]+', '_', text).strip('_') or 'blank'}"


def _options(
    step: FeatureStep, spec: DatasetSpec, allowed: set[str], required: set[str] = frozenset()
) -> None:
    unknown = sorted(set(step.options) - allowed)
    absent = sorted(required - set(step.options))
    if unknown or absent:
        problem = f"has unknown key(s) {unknown}" if unknown else f"lacks {absent}"
        raise StageError(
            f"dataset spec {spec.origin}: feature step {step.step} of {list(step.columns)} {problem}",
            f"the {step.step} step takes {sorted(allowed) or 'no keys but column(s)'} (datasets/README.md)",
        )


def _one_hot(name: str, values: pd.Series, categories: list[str]) -> list[Feature]:
    codes = pd.Categorical(values, categories=categories).codes
    return [
        (column_name(name, str(category)), (codes == k).astype(np.uint8))
        for k, category in enumerate(categories)
    ]


def passthrough(frame: pd.DataFrame, step: FeatureStep, spec: DatasetSpec) -> list[Feature]:
    """Numeric columns as float32, unchanged."""
    _options(step, spec, set())
    for column in step.columns:
        if spec.columns[column].kind == "string":
            raise StageError(
                f"dataset spec {spec.origin}: passthrough of the string column {column}",
                "encode it with one_hot instead",
            )
    return [(column, frame[column].to_numpy(dtype=np.float32)) for column in step.columns]


def one_hot(frame: pd.DataFrame, step: FeatureStep, spec: DatasetSpec) -> list[Feature]:
    """One uint8 indicator per category, named <column>_<category>, categories sorted.

    A column with declared categories always gets one indicator per category (and one for the
    unknown category when it may be missing), so every extract of the same table has the same
    features even where a category does not occur; without them, the categories seen are used."""
    _options(step, spec, set())
    out: list[Feature] = []
    for name in step.columns:
        column = spec.columns[name]
        if column.kind != "string":
            raise StageError(
                f"dataset spec {spec.origin}: one_hot of the {column.kind} column {name}",
                "use passthrough or bins for numbers",
            )
        if column.categories is not None:
            categories = set(column.categories) | (
                {spec.unknown_category} if column.missing == "category" else set()
            )
        else:
            categories = set(frame[name].unique())
        out += _one_hot(name, frame[name], sorted(categories))
    return out


def bins(frame: pd.DataFrame, step: FeatureStep, spec: DatasetSpec) -> list[Feature]:
    """A number cut at `edges` (right-closed: (-inf, e1], (e1, e2], ..., (en, inf)), one indicator
    per bin, named <name>_<label>, in the bins' order."""
    _options(step, spec, {"name", "edges", "labels"}, {"name", "edges", "labels"})
    if len(step.columns) != 1 or spec.columns[step.columns[0]].kind == "string":
        raise StageError(f"dataset spec {spec.origin}: bins needs one numeric column", "give `column: NAME`")
    column = step.columns[0]
    edges, labels = step.options["edges"], step.options["labels"]
    numeric = all(isinstance(e, int | float) and not isinstance(e, bool) for e in edges)
    if not (isinstance(edges, list) and edges and numeric and edges == sorted(set(edges))):
        raise StageError(f"dataset spec {spec.origin}: bins edges {edges!r}", "give increasing numbers")
    if not isinstance(labels, list) or len(labels) != len(edges) + 1:
        raise StageError(
            f"dataset spec {spec.origin}: bins of {column} has {len(edges)} edges and labels {labels!r}",
            "give one label more than edges",
        )
    if not all(isinstance(label, str) for label in labels):
        raise StageError(
            f"dataset spec {spec.origin}: bins labels of {column} must be text, got {labels!r}",
            'quote labels YAML reads as numbers (26_35 is the number 2635: write "26_35")',
        )
    cut = pd.cut(frame[column], bins=[-math.inf, *edges, math.inf], labels=labels, right=True).astype("str")
    return _one_hot(str(step.options["name"]), cut, labels)


STEPS: dict[str, Step] = {"passthrough": passthrough, "one_hot": one_hot, "bins": bins}


def get(step: FeatureStep, spec: DatasetSpec) -> Step:
    try:
        return STEPS[step.step]
    except KeyError:
        raise StageError(
            f"dataset spec {spec.origin} names the unknown feature step {step.step!r}",
            f"use one of {sorted(STEPS)}, or add it to preprocessor/feature_steps.py (docs/extending.md)",
        ) from None
