"""The shipped census files read independently of the stages (pandas), as test oracles."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.helpers.stages import CENSUS_CSV_GZ, CENSUS_TEST_CSV_GZ

INT_COLUMNS = ["age", "functional_weight", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
# Counts of ' ?' in census_adult_income.csv (data/README.md), i.e. in the BigQuery table.
MISSING_COUNTS = {"workclass": 1836, "occupation": 1843, "native_country": 583}
ROWS, ROWS_TEST = 32561, 16281


def read_raw(path: Path = CENSUS_CSV_GZ) -> pd.DataFrame:
    """Like the BigQuery table: raw strings (leading space, ' ?'), int64 numbers.

    pandas' C parser accepts ' 77516' as an integer; keep_default_na=False keeps every string."""
    header = pd.read_csv(path, nrows=0).columns
    dtypes = {c: ("int64" if c in INT_COLUMNS else "str") for c in header}
    return pd.read_csv(path, dtype=dtypes, keep_default_na=False)


def read_raw_test() -> pd.DataFrame:
    return read_raw(CENSUS_TEST_CSV_GZ)
