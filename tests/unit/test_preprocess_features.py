"""Features by the dataset spec and the split, on the real census and penguins data."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pipeline_common import dataset_spec
from pipeline_common.dataset_spec import FeatureStep
from pipeline_common.errors import StageError
from preprocessor import cleaning, feature_steps, features
from preprocessor.split import stratified_split

from tests.helpers.census_data import read_raw, read_raw_test

CENSUS = dataset_spec.load("census")
TARGET = CENSUS.target("never_married")
NUMERIC = ["age", "capital_gain", "capital_loss", "hours_per_week"]
AGE_GROUPS = ["upto_25", "26_35", "36_45", "46_55", "56_65", "over_65"]


@pytest.fixture(scope="module")
def cleaned() -> pd.DataFrame:
    return cleaning.clean(read_raw(), CENSUS, TARGET, "census")


@pytest.fixture(scope="module")
def built(cleaned: pd.DataFrame) -> tuple[pa.Table, list[str]]:
    return features.build(cleaned, CENSUS, TARGET)


def test_feature_types_and_names(built: tuple[pa.Table, list[str]]) -> None:
    table, names = built
    assert table.column_names == [*names, "never_married"]
    for name in names:
        expected = pa.float32() if name in NUMERIC else pa.uint8()
        assert table.schema.field(name).type == expected, name
        assert re.fullmatch(r"[A-Za-z0-9_]+", name), name
    assert names[:4] == NUMERIC
    assert table.schema.field("never_married").type == pa.int8()
    assert not any(n.startswith("marital_status") for n in names)  # the target's source is no feature
    assert "income_bracket_le_50K" in names and "income_bracket_gt_50K" in names
    assert "workclass_Unknown" in names
    assert [n for n in names if n.startswith("age_group_")] == [f"age_group_{g}" for g in AGE_GROUPS]
    assert sum(c.null_count for c in table.columns) == 0


def test_one_hot_blocks_are_sorted_and_exclusive(
    built: tuple[pa.Table, list[str]], cleaned: pd.DataFrame
) -> None:
    table, names = built
    for column in ["workclass", "education", "occupation", "race", "sex", "native_country"]:
        block = [n for n in names if n.startswith(f"{column}_")]
        assert block == [feature_steps.column_name(column, v) for v in sorted(cleaned[column].unique())]
        total = np.sum([table.column(n).to_numpy().astype(int) for n in block], axis=0)
        assert (total == 1).all(), column  # every row is exactly one category


def test_age_bins_are_right_closed() -> None:
    step = next(s for s in CENSUS.features if s.step == "bins")
    frame = pd.DataFrame({"age": [17, 25, 26, 45, 66, 90]})
    out = dict(feature_steps.bins(frame, step, CENSUS))
    hot = np.array([out[f"age_group_{g}"] for g in AGE_GROUPS]).argmax(axis=0)
    assert [AGE_GROUPS[i] for i in hot] == ["upto_25", "upto_25", "26_35", "36_45", "over_65", "over_65"]


def test_target_rate_matches_the_data(built: tuple[pa.Table, list[str]], cleaned: pd.DataFrame) -> None:
    table, _ = built
    y = table.column("never_married").to_numpy()
    assert y.sum() == (cleaned["marital_status"] == "Never-married").sum() == 10667
    income = features.build(cleaned, CENSUS, CENSUS.target("income_over_50k"))[0]
    assert income.column("income_over_50k").to_numpy().sum() == 7839


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


def test_declared_categories_give_every_extract_the_same_features(cleaned: pd.DataFrame) -> None:
    """'Holand-Netherlands' occurs once in adult.data and never in adult.test: both get its column."""
    assert (cleaned["native_country"] == "Holand-Netherlands").sum() == 1
    _, names = features.build(cleaned, CENSUS, TARGET)
    test_cleaned = cleaning.clean(read_raw_test(), CENSUS, TARGET, "adult.test")
    assert (test_cleaned["native_country"] == "Holand-Netherlands").sum() == 0
    table, test_names = features.build(test_cleaned, CENSUS, TARGET)
    assert test_names == names
    assert table.column("native_country_Holand_Netherlands").to_numpy().sum() == 0


def test_undeclared_categories_come_from_the_data(cleaned: pd.DataFrame) -> None:
    spec = replace(
        CENSUS, columns={**CENSUS.columns, "race": replace(CENSUS.columns["race"], categories=None)}
    )
    step = FeatureStep("one_hot", ("race",), {})
    names = [n for n, _ in feature_steps.one_hot(cleaned.head(50), step, spec)]
    assert names == [feature_steps.column_name("race", v) for v in sorted(cleaned.head(50)["race"].unique())]


def test_test_file_builds_the_same_kind_of_features() -> None:
    target = CENSUS.target("income_over_50k")
    cleaned_test = cleaning.clean(read_raw_test(), CENSUS, target, "adult.test")
    table, names = features.build(cleaned_test, CENSUS, target)
    assert (
        table.column("income_over_50k").to_numpy().sum() == (cleaned_test["income_bracket"] == ">50K").sum()
    )
    assert any(n.startswith("marital_status_") for n in names)
    assert not any(n.startswith("income_bracket_") for n in names)


def test_penguins_features_from_their_own_spec() -> None:
    from tests.helpers.stages import PENGUINS_CSV

    spec = dataset_spec.load("penguins")
    frame = pd.read_csv(
        PENGUINS_CSV, dtype={c: "str" for c in ("species", "island", "sex")}, keep_default_na=False
    )
    for column in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"):
        frame[column] = pd.to_numeric(frame[column].replace("NA", None))
    target = spec.target("adelie")
    table, names = features.build(cleaning.clean(frame, spec, target, "penguins"), spec, target)
    assert names == [
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "island_Biscoe",
        "island_Dream",
        "island_Torgersen",
        "sex_Unknown",
        "sex_female",
        "sex_male",
    ]
    assert table.column("adelie").to_numpy().sum() == 151


def test_a_custom_step_follows_the_documented_contract(
    cleaned: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/extending.md: a function in feature_steps.STEPS, named in the spec's features list."""

    def ratio(frame: pd.DataFrame, step: FeatureStep, spec: dataset_spec.DatasetSpec) -> list:
        a, b = step.columns
        return [(step.options["name"], (frame[a] / (frame[b] + 1)).to_numpy(dtype=np.float32))]

    monkeypatch.setitem(feature_steps.STEPS, "ratio", ratio)
    custom = FeatureStep("ratio", ("capital_gain", "hours_per_week"), {"name": "gain_per_hour"})
    spec = replace(CENSUS, features=(*CENSUS.features, custom))
    table, names = features.build(cleaned, spec, TARGET)
    assert names[-1] == "gain_per_hour" and table.schema.field("gain_per_hour").type == pa.float32()
    unknown = replace(CENSUS, features=(FeatureStep("squash", ("age",), {}),))
    with pytest.raises(StageError, match="unknown feature step 'squash'"):
        features.build(cleaned, unknown, TARGET)


def test_two_steps_making_one_name_are_refused(cleaned: pd.DataFrame) -> None:
    twice = replace(CENSUS, features=(*CENSUS.features, FeatureStep("passthrough", ("age",), {})))
    with pytest.raises(StageError, match="feature 'age' of step passthrough"):
        features.build(cleaned, twice, TARGET)


def test_single_class_target_is_refused() -> None:
    with pytest.raises(StageError, match="single class"):
        stratified_split(np.zeros(100, dtype=np.int8), 0.2, 55)


def test_too_small_split_is_refused() -> None:
    with pytest.raises(StageError, match="too few"):
        stratified_split(np.array([0, 1, 0, 1, 0], dtype=np.int8), 0.1, 55)


def test_column_names() -> None:
    assert feature_steps.column_name("income_bracket", "<=50K") == "income_bracket_le_50K"
    assert (
        feature_steps.column_name("native_country", "Outlying-US(Guam-USVI-etc)")
        == "native_country_Outlying_US_Guam_USVI_etc"
    )
