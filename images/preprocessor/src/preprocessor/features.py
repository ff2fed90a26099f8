"""Features of the cleaned table: the dataset spec's feature steps, then the int8 target column.

Every step is fitted on the whole cleaned frame before the split (one-hot categories come from the
spec or, failing that, from all rows), so train and test share exactly one set of columns in one order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from pipeline_common.dataset_spec import DatasetSpec, Target
from pipeline_common.errors import StageError

from preprocessor import feature_steps


def build(df: pd.DataFrame, spec: DatasetSpec, target: Target) -> tuple[pa.Table, list[str]]:
    """Return the feature table (features then the int8 target column) and the feature names."""
    columns: dict[str, pa.Array] = {}
    for step in spec.feature_steps(target):
        for name, values in feature_steps.get(step, spec)(df, step, spec):
            if name in columns or name == target.name:
                raise StageError(
                    f"feature {name!r} of step {step.step} ({list(step.columns)}) is made twice",
                    f"rename a step's output or the category values ({spec.origin})",
                )
            columns[name] = pa.array(values)
    features = list(columns)
    columns[target.name] = pa.array(
        df[target.column].isin(target.positive).to_numpy(dtype=bool).astype(np.int8)
    )
    return pa.table(columns), features
