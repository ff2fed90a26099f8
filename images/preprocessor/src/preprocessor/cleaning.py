"""Cleaning of a raw table by its dataset spec, step by step (for the census: the original example's
behaviour, done right).

1. Rows missing a value that the spec does not let be missing (a NULL, an empty text or one of
   its `missing_tokens`) are dropped, and so is every row whose target is missing; duplicate rows are
   dropped. The rows kept come out in an order given by their values, not by the source's order.
2. The `drop` columns go; strings are stripped (' State-gov' -> 'State-gov'); a missing value of a
   `missing: category` column becomes the spec's unknown category; `aliases` are applied.
3. Every value is checked against its column's range or vocabulary (an infinite number is invalid
   in any numeric column): more invalid rows than the spec's `max_invalid_rows` is an error that
   names the column, the count and examples; up to that many are dropped with a warning.
4. Each row keeps its identity (a hash of its raw values, dropped columns included), written
   beside the features so the trainer can prove that no row is in both splits.

pandas 3 stores text as the `str` dtype, not `object`, so string columns are found with
`is_string_dtype`, never by comparing to `object`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pipeline_common.dataset_spec import Column, DatasetSpec, Target
from pipeline_common.errors import StageError

log = logging.getLogger(__name__)
EXAMPLES = 5  # invalid values quoted in an error


def string_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if pd.api.types.is_string_dtype(df[c].dtype)]


def check_no_empty_column(df: pd.DataFrame, source: str) -> None:
    """An all-NULL column would make every row incomplete: say which column instead."""
    empty = [c for c in df.columns if df[c].isna().all()]
    if empty:
        raise StageError(
            f"{source} has column(s) with only NULL values {empty}",
            "re-extract the table; every column needs values",
        )


def row_ranks(df: pd.DataFrame) -> np.ndarray:
    """An int64 key per row that orders rows lexicographically by their values, column by
    column; equal rows get equal keys. Built one column at a time from factorized codes, so it
    needs a few int64 arrays, not the per-column code matrix pandas' duplicated() materialises."""
    rank = np.zeros(len(df), dtype=np.int64)
    bound = 1  # rank < bound
    for column in df.columns:
        codes, uniques = pd.factorize(df[column], sort=True, use_na_sentinel=False)
        if bound * len(uniques) >= 2**62:  # re-rank densely (bound <= rows) before it could overflow
            rank, distinct = pd.factorize(rank, sort=True)
            bound = len(distinct)
        rank = rank * len(uniques) + codes
        bound *= max(len(uniques), 1)
    return rank


def distinct_rows(df: pd.DataFrame, required: list[str]) -> np.ndarray:
    """Positions of the distinct rows with a value in every `required` column, in a canonical
    order (by value), so the seeded split downstream does not depend on the source's row order."""
    complete = np.flatnonzero(~df[required].isna().to_numpy().any(axis=1))
    _, first = np.unique(row_ranks(df)[complete], return_index=True)  # first row of each value, by rank
    return complete[first]


def _take_consuming(df: pd.DataFrame, rows: np.ndarray, skip: list[str]) -> pd.DataFrame:
    """df.take(rows) without the columns in `skip`, built column by column while emptying `df`,
    so the peak is one frame plus one column instead of two frames."""
    out = {}
    for column in list(df.columns):
        if column not in skip:
            out[column] = df[column].take(rows).reset_index(drop=True)
        del df[column]
    return pd.DataFrame(out, copy=False)


def _is_missing(values: pd.Series, tokens: tuple[str, ...]) -> pd.Series:
    """NULL, or (text, after stripping) empty or one of the spec's missing tokens."""
    missing = values.isna()
    if pd.api.types.is_string_dtype(values.dtype):
        missing |= values.isin(["", *tokens])
    return missing


@dataclass(frozen=True)
class Invalid:
    """Rows of one column that break its range or vocabulary."""

    column: str
    rows: np.ndarray
    examples: list[object]

    def describe(self) -> str:
        return f"{self.column}: {len(self.rows)} row(s), e.g. {self.examples}"


def _invalid(values: pd.Series, column: Column, unknown: str) -> Invalid | None:
    if column.categories is not None:
        allowed = set(column.categories) | ({unknown} if column.missing == "category" else set())
        bad = ~values.isin(allowed)
    elif column.kind != "string":
        # An infinite number is no measurement, whatever the range says (an open range lets it in).
        bad = pd.Series(np.isinf(values.to_numpy(dtype="float64")), index=values.index)
        if column.low is not None:
            bad |= values < column.low
        if column.high is not None:
            bad |= values > column.high
    else:
        return None
    rows = np.flatnonzero(bad.to_numpy())
    if not len(rows):
        return None
    examples = list(dict.fromkeys(values.iloc[rows].tolist()))[:EXAMPLES]
    return Invalid(column.name, rows, examples)


def _contract_fix(spec: DatasetSpec, invalid: list[Invalid]) -> str:
    names = ", ".join(i.column for i in invalid)
    return (
        f"fix the source, or if these values are valid widen the range/categories of {names} "
        f"(or allow a few bad rows with max_invalid_rows) in {spec.origin}"
    )


def contract_keep(df: pd.DataFrame, spec: DatasetSpec, source: str) -> np.ndarray | None:
    """Positions of the rows to keep after the range and vocabulary checks (None: all of them);
    a StageError when more rows break them than the spec's max_invalid_rows allows."""
    invalid = [
        found
        for name in df.columns
        if (found := _invalid(df[name], spec.columns[name], spec.unknown_category))
    ]
    if not invalid:
        return None
    bad_rows = np.unique(np.concatenate([i.rows for i in invalid]))
    detail = "; ".join(i.describe() for i in invalid)
    if len(bad_rows) > spec.max_invalid_rows:
        raise StageError(
            f"{source} breaks the {spec.name} data contract in {len(bad_rows)} row(s) "
            f"(max_invalid_rows {spec.max_invalid_rows}): {detail}",
            _contract_fix(spec, invalid),
        )
    log.warning(
        "dropping %d row(s) that break the data contract (max_invalid_rows %d allows them): %s",
        len(bad_rows),
        spec.max_invalid_rows,
        detail,
    )
    return np.setdiff1d(np.arange(len(df)), bad_rows)


def check_contract(df: pd.DataFrame, spec: DatasetSpec, source: str) -> pd.DataFrame:
    """Values outside their column's range or vocabulary: an error, or dropped within tolerance."""
    keep = contract_keep(df, spec, source)
    return df if keep is None else df.take(keep).reset_index(drop=True)


def row_ids(df: pd.DataFrame) -> np.ndarray:
    """A uint64 hash of every raw row (all columns, the ones dropped later included): the row's
    identity, which the trainer uses to prove that no row is in both splits (two people may share
    every feature once the columns that tell them apart are dropped)."""
    return pd.util.hash_pandas_object(df, index=False).to_numpy()


def clean(df: pd.DataFrame, spec: DatasetSpec, target: Target, source: str) -> pd.DataFrame:
    """Raw frame -> cleaned frame, in an order independent of the input's row order.

    Consumes `df` (its columns are moved out one by one) to keep peak memory near one frame."""
    return clean_with_ids(df, spec, target, source)[0]


def clean_with_ids(
    df: pd.DataFrame, spec: DatasetSpec, target: Target, source: str
) -> tuple[pd.DataFrame, np.ndarray]:
    """clean(), and the row_ids of the rows kept, in the cleaned frame's order."""
    check_no_empty_column(df, source)
    ids = row_ids(df)
    required = [c for c in df.columns if spec.columns[c].missing == "drop" or c == target.column]
    rows = distinct_rows(df, required)
    if len(rows) == 0:
        raise StageError(
            f"{source} has no complete rows (each lacks a value in one of {required})",
            "re-extract the table, or mark optional columns `missing: category` in the dataset spec",
        )
    raw_rows = len(df)
    ids = ids[rows]
    df = _take_consuming(df, rows, skip=list(spec.drop))
    for column in string_columns(df):
        df[column] = df[column].str.strip()
    # Missing tokens: the row goes where the value is required, else the unknown category.
    gone = np.zeros(len(df), dtype=bool)
    for column in df.columns:
        missing = _is_missing(df[column], spec.missing_tokens)
        if not missing.any():
            continue
        if column in required:
            gone |= missing.to_numpy()
        else:
            df[column] = df[column].mask(missing, spec.unknown_category)
    if gone.any():
        df = df.loc[~gone].reset_index(drop=True)
        ids = ids[~gone]
    log.info(
        "kept %d of %d rows (dropped: duplicates and rows missing a required value or the target)",
        len(df),
        raw_rows,
    )
    if df.empty:
        raise StageError(f"{source} has no row with every required value", "re-extract the table")
    for column in df.columns:
        aliases = spec.columns[column].aliases
        if aliases:
            df[column] = df[column].replace(aliases)
    keep = contract_keep(df, spec, source)
    if keep is None:
        return df, ids
    return df.take(keep).reset_index(drop=True), ids[keep]
