"""Cleaning by the dataset spec, on the real census data (adult.data = the BigQuery table, and
adult.test) and on the penguins data: missing values, duplicates, the data contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pipeline_common import dataset_spec
from pipeline_common.errors import StageError
from preprocessor import cleaning

from tests.helpers.census_data import MISSING_COUNTS, ROWS, ROWS_TEST, read_raw, read_raw_test
from tests.helpers.stages import PENGUINS_CSV

CENSUS = dataset_spec.load("census")
NEVER_MARRIED = CENSUS.target("never_married")


def clean(
    raw: pd.DataFrame, spec: dataset_spec.DatasetSpec = CENSUS, target: str | None = None
) -> pd.DataFrame:
    return cleaning.clean(raw.copy(), spec, spec.target(target), "src")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return read_raw()


@pytest.fixture(scope="module")
def cleaned(raw: pd.DataFrame) -> pd.DataFrame:
    return clean(raw)


def test_string_columns_are_found_by_dtype_under_pandas_3(raw: pd.DataFrame) -> None:
    # pandas 3 text is the `str` dtype: selecting `object` would find nothing.
    assert cleaning.string_columns(raw) == [c for c in raw.columns if raw[c].dtype != np.int64]
    assert cleaning.string_columns(raw) == CENSUS.kind_columns("string")


def test_missing_tokens_become_the_unknown_category(raw: pd.DataFrame, cleaned: pd.DataFrame) -> None:
    for column, count in MISSING_COUNTS.items():
        assert (raw[column] == " ?").sum() == count
        assert CENSUS.columns[column].missing == "category"
    # One '?' row of native_country is among the 24 duplicate rows dropped.
    unknown = {column: int((cleaned[column] == "Unknown").sum()) for column in MISSING_COUNTS}
    assert unknown == {"workclass": 1836, "occupation": 1843, "native_country": 582}
    assert not cleaned.isin(["?", " ?"]).any().any()


def test_clean_drops_duplicates_and_columns_and_strips(cleaned: pd.DataFrame, raw: pd.DataFrame) -> None:
    assert len(cleaned) == ROWS - raw.duplicated().sum() == 32537  # 24 duplicate rows in adult.data
    assert not set(CENSUS.drop) & set(cleaned.columns)
    assert list(cleaned.columns) == CENSUS.kept_columns
    for column in cleaning.string_columns(cleaned):
        assert not cleaned[column].str.startswith(" ").any(), column
    assert cleaned["income_bracket"].value_counts().to_dict() == {"<=50K": 24698, ">50K": 7839}


def test_clean_is_independent_of_row_order(raw: pd.DataFrame, cleaned: pd.DataFrame) -> None:
    shuffled = raw.sample(frac=1.0, random_state=7).reset_index(drop=True)
    pd.testing.assert_frame_equal(clean(shuffled), cleaned)


def test_test_file_labels_are_aliases_of_the_categories() -> None:
    raw_test = read_raw_test()
    assert len(raw_test) == ROWS_TEST
    assert raw_test["income_bracket"].value_counts().to_dict() == {" <=50K.": 12435, " >50K.": 3846}
    assert set(clean(raw_test)["income_bracket"]) == {"<=50K", ">50K"}


def test_all_null_column_is_named(raw: pd.DataFrame) -> None:
    broken = raw.head(100).copy()
    broken["occupation"] = pd.Series([None] * 100, dtype="str")
    with pytest.raises(StageError, match=r"only NULL values \['occupation'\]"):
        clean(broken)


def test_a_null_in_a_required_column_drops_the_row_and_an_optional_one_is_unknown(raw: pd.DataFrame) -> None:
    some = raw.head(50).copy()
    some.loc[3, "education"] = None  # required (missing: drop)
    some.loc[4, "occupation"] = None  # optional (missing: category)
    out = clean(some)
    assert len(out) == 49
    assert (out["occupation"] == "Unknown").sum() == (raw.head(50)["occupation"] == " ?").sum() + 1


def test_a_missing_target_drops_the_row_even_in_an_optional_column() -> None:
    penguins = dataset_spec.load("penguins")
    frame = pd.read_csv(
        PENGUINS_CSV, dtype={"sex": "str", "species": "str", "island": "str"}, keep_default_na=False
    )
    for column in ("bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"):
        frame[column] = pd.to_numeric(frame[column].replace("NA", None))
    as_target = clean(frame, penguins, "male")
    assert len(as_target) == 344 - 2 - 9  # 2 unmeasured birds, 9 more not sexed
    assert set(as_target["sex"]) == {"female", "male"}
    as_feature = clean(frame, penguins, "adelie")
    assert len(as_feature) == 342 and (as_feature["sex"] == "Unknown").sum() == 9


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("age", 0, ["age: 1 row(s)", "[0]"]),
        ("age", -3, ["age: 1 row(s)", "[-3]"]),
        ("age", 999, ["age: 1 row(s)", "[999]"]),
        ("hours_per_week", -40, ["hours_per_week", "[-40]"]),
        ("capital_gain", -1, ["capital_gain", "[-1]"]),
        ("marital_status", " never married", ["marital_status", "'never married'"]),
        ("income_bracket", " 50K-ish", ["income_bracket", "'50K-ish'"]),
        ("sex", " F", ["sex", "'F'"]),
        ("workclass", " Gov", ["workclass", "'Gov'"]),
    ],
)
def test_values_outside_the_contract_are_refused_with_column_count_and_examples(
    raw: pd.DataFrame, column: str, value: object, words: list[str]
) -> None:
    broken = raw.head(200).copy()
    broken.loc[7, column] = value
    with pytest.raises(StageError) as err:
        clean(broken)
    line = err.value.one_line("preprocess")
    for word in ["data contract", "1 row(s)", *words]:
        assert word in line, line
    assert "max_invalid_rows" in err.value.fix


def test_a_misspelt_target_label_is_refused_not_counted_as_negative(raw: pd.DataFrame) -> None:
    """'never married' (space) would silently become a negative and change the positive rate."""
    broken = raw.head(1000).copy()
    broken.loc[broken["marital_status"] == " Never-married", "marital_status"] = " never married"
    with pytest.raises(StageError, match=r"marital_status: \d+ row\(s\), e\.g\. \['never married'\]"):
        clean(broken)


def test_a_stated_tolerance_drops_the_bad_rows_with_a_warning(
    raw: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    tolerant = replace(CENSUS, max_invalid_rows=2)
    broken = raw.head(300).copy()
    broken.loc[[5, 6], "age"] = [0, 999]
    with caplog.at_level("WARNING"):
        out = clean(broken, tolerant)
    assert len(out) == len(clean(raw.head(300))) - 2
    assert "dropping 2 row(s)" in caplog.text and "age: 2 row(s)" in caplog.text
    broken.loc[7, "age"] = -1
    with pytest.raises(StageError, match=r"in 3 row\(s\) \(max_invalid_rows 2\)"):
        clean(broken, tolerant)


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


def test_an_infinite_number_is_invalid_even_where_the_range_is_open() -> None:
    from dataclasses import replace

    penguins = dataset_spec.load("penguins")
    open_range = replace(
        penguins,
        columns={
            **penguins.columns,
            "bill_length_mm": replace(penguins.columns["bill_length_mm"], high=None),
        },
    )
    frame = pd.read_csv(PENGUINS_CSV, na_values=["NA"], keep_default_na=False)
    frame.loc[5, "bill_length_mm"] = float("inf")  # a complete row (row 3 lacks its target)
    with pytest.raises(StageError, match=r"bill_length_mm: 1 row\(s\), e\.g\. \[inf\]"):
        clean(frame, open_range, "male")


def test_each_kept_row_keeps_the_identity_of_its_raw_row(raw: pd.DataFrame) -> None:
    some = raw.head(500)
    cleaned, ids = cleaning.clean_with_ids(some.copy(), CENSUS, NEVER_MARRIED, "src")
    assert len(ids) == len(cleaned) and len(set(ids.tolist())) == len(ids)
    assert set(ids.tolist()) <= set(cleaning.row_ids(some).tolist())
