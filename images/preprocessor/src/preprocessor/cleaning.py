"""Cleaning of the raw census frame, step by step (the original example's behaviour, done right).

pandas 3 stores text as the `str` dtype, not `object`, so string columns are found with
`is_string_dtype`, never by comparing to `object`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from pipeline_common.errors import StageError

log = logging.getLogger(__name__)
DROPPED_COLUMNS = ["education_num", "relationship", "functional_weight"]
UNKNOWN = "Unknown"
INCOME_LABELS = ("<=50K", ">50K")


def string_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if pd.api.types.is_string_dtype(df[c].dtype)]


def check_no_empty_column(df: pd.DataFrame, source: str) -> None:
    """An all-NULL column would make dropna() remove every row: say which column instead."""
    empty = [c for c in df.columns if df[c].isna().all()]
    if empty:
        raise StageError(
            f"{source} has column(s) with only NULL values {empty}",
            "re-extract the census table; every column needs values",
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


def distinct_complete_rows(df: pd.DataFrame) -> np.ndarray:
    """Positions of the rows kept by dropna() + drop_duplicates(), in a canonical order (by value).

    The order does not depend on the order BigQuery returned the rows in, so the seeded split
    downstream is reproducible from the same table."""
    complete = np.flatnonzero(~df.isna().to_numpy().any(axis=1))
    _, first = np.unique(row_ranks(df)[complete], return_index=True)  # first row of each value, by rank
    return complete[first]


def drop_missing_and_duplicates(df: pd.DataFrame) -> pd.DataFrame:
    return df.take(distinct_complete_rows(df)).reset_index(drop=True)


def _take_consuming(df: pd.DataFrame, rows: np.ndarray, skip: list[str]) -> pd.DataFrame:
    """df.take(rows) without the columns in `skip`, built column by column while emptying `df`,
    so the peak is one frame plus one column instead of two frames."""
    out = {}
    for column in list(df.columns):
        if column not in skip:
            out[column] = df[column].take(rows).reset_index(drop=True)
        del df[column]
    return pd.DataFrame(out, copy=False)


def _strip_in_place(df: pd.DataFrame) -> None:
    for column in string_columns(df):
        df[column] = df[column].str.strip()


def _mark_unknown_in_place(df: pd.DataFrame) -> None:
    for column in string_columns(df):
        df[column] = df[column].mask(df[column] == "?", UNKNOWN)


def strip_strings(df: pd.DataFrame) -> pd.DataFrame:
    """' State-gov' -> 'State-gov' (the UCI files and BigQuery keep a leading space)."""
    out = df.copy(deep=False)  # copy-on-write: replacing a column never touches `df`
    _strip_in_place(out)
    return out


def mark_unknown(df: pd.DataFrame) -> pd.DataFrame:
    """The census writes a missing value as '?' (after stripping): make it a category of its own."""
    out = df.copy(deep=False)
    _mark_unknown_in_place(out)
    return out


def normalise_income(labels: pd.Series, source: str) -> pd.Series:
    """' <=50K.' (adult.test) and ' <=50K' (adult.data, BigQuery) -> '<=50K'; anything else is refused."""
    normal = labels.str.strip().str.rstrip(".")
    unknown = sorted(set(normal.dropna().unique()) - set(INCOME_LABELS))
    if unknown:
        raise StageError(
            f"{source} has income_bracket value(s) {unknown[:5]} outside {list(INCOME_LABELS)}",
            "use the census table, whose labels are '<=50K'/'>50K' (optionally with a trailing '.')",
        )
    return normal


def clean(df: pd.DataFrame, source: str) -> pd.DataFrame:
    """Raw census frame -> cleaned frame, in an order independent of the input's row order.

    Consumes `df` (its columns are moved out one by one) to keep peak memory near one frame."""
    check_no_empty_column(df, source)
    rows = distinct_complete_rows(df)
    if len(rows) == 0:
        raise StageError(f"{source} has no complete rows (each has a NULL)", "re-extract the census table")
    raw_rows = len(df)
    df = _take_consuming(df, rows, skip=DROPPED_COLUMNS)
    log.info("kept %d of %d rows (rows with NULLs and duplicates dropped)", len(df), raw_rows)
    _strip_in_place(df)
    _mark_unknown_in_place(df)
    df["income_bracket"] = normalise_income(df["income_bracket"], source)
    return df
