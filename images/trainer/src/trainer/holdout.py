"""Can a model be scored on a holdout that was encoded for another model? Pure column logic.

A model can be scored on a holdout exactly when every row means to it what it would have meant
if its own preprocessor had encoded it:
- a column the model needs but the holdout lacks may be filled with zeros only when it is a
  category of a one-hot attribute whose other categories already cover every row of the holdout
  (they sum to exactly 1 on each row), which proves no row holds that category;
- a column of the holdout the model never saw may be dropped only when it is zero on every row;
  otherwise some rows carry information (often a category) the model has no input for.
Anything else has no sound answer, and the comparison must not use this holdout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Alignment:
    """The holdout's columns in the model's order, or why that cannot be done soundly."""

    frame: pd.DataFrame | None
    zero_filled: tuple[str, ...] = ()  # absent categories, provably zero on every row
    dropped: tuple[str, ...] = ()  # holdout columns the model never saw, zero on every row
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def _is_indicator(column: pd.Series) -> bool:
    values = column.to_numpy()
    return bool(np.isin(values, (0, 1)).all())


def absent_category(frame: pd.DataFrame, column: str) -> str | None:
    """The attribute `column` (<attribute>_<value>) is an absent category of, or None.

    Every underscore of the name is tried as the attribute/value boundary (attribute and value
    names both hold underscores: native_country_Holand_Netherlands)."""
    parts = column.split("_")
    for cut in range(1, len(parts)):
        attribute = "_".join(parts[:cut])
        prefix = f"{attribute}_"
        group = [c for c in frame.columns if c.startswith(prefix) and c != column]
        if not group or not all(_is_indicator(frame[c]) for c in group):
            continue
        if len(frame) and bool((frame[group].sum(axis=1) == 1).all()):
            return attribute
    return None


def align(frame: pd.DataFrame, needed: list[str]) -> Alignment:
    """`frame` (a holdout's feature columns) reordered to `needed` (a model's input columns)."""
    present = set(frame.columns)
    wanted = set(needed)
    unseen = [c for c in frame.columns if c not in wanted]
    nonzero = [c for c in unseen if bool((frame[c] != 0).any())]
    if nonzero:
        rows = int((frame[nonzero] != 0).any(axis=1).sum())
        return Alignment(
            None,
            problem=f"the holdout has column(s) {nonzero[:5]} that the model never saw, non-zero in "
            f"{rows} row(s)",
        )
    missing = [c for c in needed if c not in present]
    unsound = [c for c in missing if absent_category(frame, c) is None]
    if unsound:
        return Alignment(
            None,
            problem=f"the model needs column(s) {unsound[:5]} that the holdout lacks and that are not "
            "absent categories of a one-hot attribute",
        )
    aligned = frame.reindex(columns=needed, fill_value=0).astype("float64")
    return Alignment(aligned, zero_filled=tuple(missing), dropped=tuple(unseen))
