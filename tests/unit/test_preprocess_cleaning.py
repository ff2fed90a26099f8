"""Cleaning of the real census data (adult.data = the BigQuery table, and adult.test)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipeline_common.errors import StageError
from preprocessor import cleaning

from tests.helpers.census_data import MISSING_COUNTS, ROWS, ROWS_TEST, read_raw, read_raw_test


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return read_raw()


@pytest.fixture(scope="module")
def cleaned(raw: pd.DataFrame) -> pd.DataFrame:
    return cleaning.clean(raw.copy(), "census")


def test_string_columns_are_found_by_dtype_under_pandas_3(raw: pd.DataFrame) -> None:
    # pandas 3 text is the `str` dtype: selecting `object` would find nothing.
    assert cleaning.string_columns(raw) == [c for c in raw.columns if raw[c].dtype != np.int64]
    assert len(cleaning.string_columns(raw)) == 9


def test_unknown_counts_equal_the_question_mark_counts(raw: pd.DataFrame) -> None:
    marked = cleaning.mark_unknown(cleaning.strip_strings(raw))
    for column, count in MISSING_COUNTS.items():
        assert (raw[column] == " ?").sum() == count
        assert (marked[column] == "Unknown").sum() == count
    assert not marked.isin(["?", " ?"]).any().any()


def test_clean_drops_duplicates_and_columns_and_strips(cleaned: pd.DataFrame, raw: pd.DataFrame) -> None:
    assert len(cleaned) == ROWS - raw.duplicated().sum() == 32537  # 24 duplicate rows in adult.data
    assert not set(cleaning.DROPPED_COLUMNS) & set(cleaned.columns)
    assert list(cleaned.columns) == [c for c in raw.columns if c not in cleaning.DROPPED_COLUMNS]
    for column in cleaning.string_columns(cleaned):
        assert not cleaned[column].str.startswith(" ").any(), column
    assert cleaned["income_bracket"].value_counts().to_dict() == {"<=50K": 24698, ">50K": 7839}
    assert "Unknown" in set(cleaned["workclass"])


def test_clean_is_independent_of_row_order(raw: pd.DataFrame, cleaned: pd.DataFrame) -> None:
    shuffled = raw.sample(frac=1.0, random_state=7).reset_index(drop=True)
    pd.testing.assert_frame_equal(cleaning.clean(shuffled, "census"), cleaned)


def test_test_file_labels_normalise() -> None:
    raw_test = read_raw_test()
    assert len(raw_test) == ROWS_TEST
    assert raw_test["income_bracket"].value_counts().to_dict() == {" <=50K.": 12435, " >50K.": 3846}
    labels = cleaning.normalise_income(raw_test["income_bracket"], "adult.test")
    assert labels.value_counts().to_dict() == {"<=50K": 12435, ">50K": 3846}
    assert set(cleaning.clean(raw_test, "adult.test")["income_bracket"]) == {"<=50K", ">50K"}


def test_unknown_income_label_is_refused() -> None:
    labels = pd.Series([" <=50K", " >50K.", " 50K-ish", None], dtype="str")
    with pytest.raises(StageError, match=r"income_bracket value\(s\) \['50K-ish'\]"):
        cleaning.normalise_income(labels, "src")


def test_all_null_column_is_named(raw: pd.DataFrame) -> None:
    broken = raw.head(100).copy()
    broken["occupation"] = pd.Series([None] * 100, dtype="str")
    with pytest.raises(StageError, match=r"only NULL values \['occupation'\]"):
        cleaning.clean(broken, "src")


def test_rows_with_nulls_are_dropped(raw: pd.DataFrame) -> None:
    some = raw.head(50).copy()
    some.loc[3, "education"] = None
    assert len(cleaning.drop_missing_and_duplicates(some)) == 49


def test_row_ranks_order_rows_like_a_full_sort_without_overflow() -> None:
    rng = np.random.default_rng(1)
    n = 200_000
    # Four columns of ~n distinct values: the naive mixed-radix key would need ~n**4 > 2**63.
    frame = pd.DataFrame(
        {
            "a": rng.integers(0, n, n),
            "b": rng.integers(0, n, n).astype(str),
            "c": rng.integers(0, n, n),
            "d": rng.integers(0, 3, n).astype(str),
        }
    )
    frame = pd.concat([frame, frame.head(500)], ignore_index=True)  # 500 exact duplicates
    rank = cleaning.row_ranks(frame)
    order = np.argsort(rank, kind="stable")
    expected = frame.sort_values(list(frame.columns), kind="stable").index.to_numpy()
    assert np.array_equal(order, expected)
    assert len(np.unique(rank)) == len(frame.drop_duplicates())
