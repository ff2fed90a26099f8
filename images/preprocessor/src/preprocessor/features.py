"""Features of the cleaned census frame: numbers as float32, one-hot categoricals as uint8.

The category set of every one-hot column is fitted on the whole cleaned frame before the split
and sorted, so train and test share exactly one set of columns in one order.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
from pipeline_common.errors import StageError

from preprocessor.cleaning import string_columns
from preprocessor.targets import TARGETS, Target

__all__ = ["TARGETS", "Target", "build"]

NUMERIC_FEATURES = ["age", "capital_gain", "capital_loss", "hours_per_week"]
AGE_BINS = [-math.inf, 25, 35, 45, 55, 65, math.inf]
AGE_GROUPS = ["upto_25", "26_35", "36_45", "46_55", "56_65", "over_65"]


def age_groups(age: pd.Series) -> pd.Series:
    """Age bins (right-closed): 17-25, 26-35, ..., 66+."""
    return pd.cut(age, bins=AGE_BINS, labels=AGE_GROUPS, right=True).astype("str")


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


def categorical_columns(df: pd.DataFrame, target: Target) -> list[str]:
    return [c for c in string_columns(df) if c != target.column]


def build(df: pd.DataFrame, target: Target) -> tuple[pa.Table, list[str]]:
    """Return the feature table (features then the int8 target column) and the feature names."""
    if target.column not in df.columns:
        raise StageError(
            f"the input lacks column {target.column!r} for target {target.name}",
            "extract the full census table",
        )
    columns: dict[str, pa.Array] = {}
    for name in NUMERIC_FEATURES:
        columns[name] = pa.array(df[name].to_numpy(dtype=np.float32))
    categorical = {c: df[c] for c in categorical_columns(df, target)}
    categorical["age_group"] = age_groups(df["age"])
    for prefix, values in categorical.items():
        categories = AGE_GROUPS if prefix == "age_group" else sorted(values.unique())
        codes = pd.Categorical(values, categories=categories).codes
        for k, category in enumerate(categories):
            name = column_name(prefix, category)
            if name in columns:
                raise StageError(
                    f"categories of {prefix} collide as feature name {name!r}",
                    "rename the category values in the source",
                )
            columns[name] = pa.array((codes == k).astype(np.uint8))
    features = list(columns)
    columns[target.name] = pa.array(
        (df[target.column] == target.positive).to_numpy(dtype=bool).astype(np.int8)
    )
    return pa.table(columns), features
