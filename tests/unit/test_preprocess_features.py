"""Features and the split on the real census data."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pipeline_common.errors import StageError
from preprocessor import cleaning, features
from preprocessor.split import stratified_split

from tests.helpers.census_data import read_raw, read_raw_test

TARGET = features.TARGETS["never_married"]


@pytest.fixture(scope="module")
def cleaned() -> pd.DataFrame:
    return cleaning.clean(read_raw(), "census")


@pytest.fixture(scope="module")
def built(cleaned: pd.DataFrame) -> tuple[pa.Table, list[str]]:
    return features.build(cleaned, TARGET)


def test_feature_types_and_names(built: tuple[pa.Table, list[str]]) -> None:
    table, names = built
    assert table.column_names == [*names, "never_married"]
    for name in names:
        expected = pa.float32() if name in features.NUMERIC_FEATURES else pa.uint8()
        assert table.schema.field(name).type == expected, name
        assert re.fullmatch(r"[A-Za-z0-9_]+", name), name
    assert table.schema.field("never_married").type == pa.int8()
    assert not any(n.startswith("marital_status") for n in names)  # the target's source is no feature
    assert "income_bracket_le_50K" in names and "income_bracket_gt_50K" in names
    assert "workclass_Unknown" in names
    assert [n for n in names if n.startswith("age_group_")] == [f"age_group_{g}" for g in features.AGE_GROUPS]
    assert sum(c.null_count for c in table.columns) == 0


def test_one_hot_blocks_are_sorted_and_exclusive(
    built: tuple[pa.Table, list[str]], cleaned: pd.DataFrame
) -> None:
    table, names = built
    for column in ["workclass", "education", "occupation", "race", "sex", "native_country"]:
        block = [n for n in names if n.startswith(f"{column}_")]
        assert block == [features.column_name(column, v) for v in sorted(cleaned[column].unique())]
        total = np.sum([table.column(n).to_numpy().astype(int) for n in block], axis=0)
        assert (total == 1).all(), column  # every row is exactly one category


def test_age_groups_bin_the_age() -> None:
    groups = features.age_groups(pd.Series([17, 25, 26, 45, 66, 90]))
    assert groups.tolist() == ["upto_25", "upto_25", "26_35", "36_45", "over_65", "over_65"]


def test_target_rate_matches_the_data(built: tuple[pa.Table, list[str]], cleaned: pd.DataFrame) -> None:
    table, _ = built
    y = table.column("never_married").to_numpy()
    assert y.sum() == (cleaned["marital_status"] == "Never-married").sum() == 10667
    income = (
        features.build(cleaned, features.TARGETS["income_over_50k"])[0].column("income_over_50k").to_numpy()
    )
    assert income.sum() == 7839


def test_split_is_stratified_reproducible_and_complete(built: tuple[pa.Table, list[str]]) -> None:
    y = built[0].column("never_married").to_numpy()
    train, test = stratified_split(y, 0.2, 55)
    assert len(test) == int(np.ceil(0.2 * len(y))) and len(train) + len(test) == len(y)
    assert np.intersect1d(train, test).size == 0
    assert abs(y[train].mean() - y.mean()) < 1 / len(train) + 1e-9
    assert abs(y[test].mean() - y.mean()) < 1 / len(test) + 1e-9
    again = stratified_split(y, 0.2, 55)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    other = stratified_split(y, 0.2, 56)
    assert not np.array_equal(np.sort(test), np.sort(other[1]))
    assert not np.array_equal(train, np.sort(train))  # rows are shuffled for unshuffled K-fold CV


def test_split_class_counts_match_scikit_learn(built: tuple[pa.Table, list[str]]) -> None:
    from sklearn.model_selection import train_test_split

    y = built[0].column("never_married").to_numpy()
    _, test = stratified_split(y, 0.2, 55)
    _, sk_test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=55)
    assert np.bincount(y[test]).tolist() == np.bincount(y[sk_test]).tolist()


def test_train_and_test_share_one_set_of_columns(built: tuple[pa.Table, list[str]]) -> None:
    table, _ = built
    train, test = stratified_split(table.column("never_married").to_numpy(), 0.2, 55)
    assert table.take(train).schema == table.take(test).schema


def test_categories_are_fitted_before_the_split(cleaned: pd.DataFrame) -> None:
    # 'Holand-Netherlands' occurs once: it still gets a column, in train and test alike.
    assert (cleaned["native_country"] == "Holand-Netherlands").sum() == 1
    _, names = features.build(cleaned, TARGET)
    assert "native_country_Holand_Netherlands" in names


def test_test_file_builds_the_same_kind_of_features() -> None:
    cleaned_test = cleaning.clean(read_raw_test(), "adult.test")
    table, names = features.build(cleaned_test, features.TARGETS["income_over_50k"])
    assert (
        table.column("income_over_50k").to_numpy().sum() == (cleaned_test["income_bracket"] == ">50K").sum()
    )
    assert any(n.startswith("marital_status_") for n in names)


def test_single_class_target_is_refused() -> None:
    with pytest.raises(StageError, match="single class"):
        stratified_split(np.zeros(100, dtype=np.int8), 0.2, 55)


def test_too_small_split_is_refused() -> None:
    with pytest.raises(StageError, match="too few"):
        stratified_split(np.array([0, 1, 0, 1, 0], dtype=np.int8), 0.1, 55)


def test_column_names() -> None:
    assert features.column_name("income_bracket", "<=50K") == "income_bracket_le_50K"
    assert (
        features.column_name("native_country", "Outlying-US(Guam-USVI-etc)")
        == "native_country_Outlying_US_Guam_USVI_etc"
    )
