"""Bad inputs for the stages, built from the real census data (bytes to upload or write).

Each builder returns what a careless upstream, a truncated upload or a wrong table would really
produce; tests/reliability/test_bad_input_matrix.py runs every stage on them.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.helpers.census_data import read_raw
from tests.helpers.stages import CENSUS_CSV_GZ

ROWS = 2000


@functools.cache
def _raw_frame() -> pd.DataFrame:
    """The first rows of the census table as BigQuery holds them (raw strings, int64)."""
    return read_raw().head(ROWS)


def raw_frame() -> pd.DataFrame:
    return _raw_frame().copy()


def parquet_bytes(frame: pd.DataFrame | pa.Table) -> bytes:
    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


@functools.cache
def csv_lines() -> tuple[str, ...]:
    with gzip.open(CENSUS_CSV_GZ, "rt") as fh:
        return tuple(next(fh) for _ in range(ROWS + 1))


def header_only_csv() -> bytes:
    return csv_lines()[0].encode()


def truncated_csv_gz() -> bytes:
    """A gzip upload cut off mid-stream."""
    return CENSUS_CSV_GZ.read_bytes()[:5000]


def corrupt_parquet() -> bytes:
    """A Parquet upload that lost its footer."""
    return parquet_bytes(raw_frame())[:-100]


def without(column: str) -> bytes:
    return parquet_bytes(raw_frame().drop(columns=[column]))


def with_extra(column: str) -> bytes:
    frame = raw_frame()
    frame[column] = 1
    return parquet_bytes(frame)


def replaced(column: str, value: Any, dtype: str | None = None) -> bytes:
    """Every value of `column` set to `value` (None: all NULL, keeping a string column)."""
    frame = raw_frame()
    frame[column] = pd.Series([value] * len(frame), dtype=dtype or ("str" if value is None else None))
    return parquet_bytes(frame)


def empty_table() -> bytes:
    """The census schema with no rows."""
    return parquet_bytes(raw_frame().head(0))


def not_census_csv() -> bytes:
    return b"id,name,score\n1,alice,0.5\n2,bob,0.7\n"


# --------------------------------------------------------------------------- trainer inputs


def with_values(column: str, values: dict[int, Any]) -> bytes:
    """The raw frame with a few cells of `column` changed (row position -> value)."""
    frame = raw_frame()
    column_values = frame[column].tolist()
    for row, value in values.items():
        column_values[row] = value
    dtype = frame[column].dtype
    if None in values.values() and dtype == "int64":
        dtype = "Int64"  # a NULL keeps the column an integer one (a float column would be refused)
    frame[column] = pd.Series(column_values, dtype=dtype)
    return parquet_bytes(frame)


def relabelled(column: str, old: str, new: str) -> bytes:
    """Every `old` value of a string column spelled `new` (a mislabelled export)."""
    frame = raw_frame()
    frame[column] = frame[column].where(frame[column] != old, new)
    return parquet_bytes(frame)


def penguins_raw(**override: dict[int, Any]) -> bytes:
    """The penguins table as the extractor writes it (float/int64 numbers, text), with cells changed."""
    from tests.helpers.stages import PENGUINS_CSV

    frame = pd.read_csv(PENGUINS_CSV, na_values=["NA"], keep_default_na=False)
    for column, values in override.items():
        for row, value in values.items():
            frame.loc[row, column] = value
    table = pa.Table.from_pandas(frame, preserve_index=False)
    kinds = {"flipper_length_mm": pa.int64(), "body_mass_g": pa.int64(), "year": pa.int64()}
    return parquet_bytes(table.cast(pa.schema([(f.name, kinds.get(f.name, f.type)) for f in table.schema])))


# --------------------------------------------------------------------------- trainer inputs


def features_set(
    target_values: list[int],
    *,
    row_ids: bool = False,
    shared_ids: bool = False,
    test_from_train: bool = False,
    **extra: list[Any],
) -> dict[str, bytes]:
    """A tiny features output (train: 40 rows, test: 10 other rows) whose target takes
    `target_values` in turn; `row_ids` adds the preprocessor's row_ids object (`shared_ids`: the
    test rows carry train rows' ids; `test_from_train`: the test split is the first 10 train rows,
    other bytes than the train split), `extra` more columns (train values, then test values)."""

    def table(ages: range, offset: int) -> pa.Table:
        n = len(ages)
        target = [target_values[(i + offset) % len(target_values)] for i in range(n)]
        return pa.table(
            {
                "age": pa.array([float(a) for a in ages], pa.float32()),
                "sex_Male": pa.array([(i // 3) % 2 for i in range(n)], pa.uint8()),
                **{name: pa.array(values[offset : offset + n]) for name, values in extra.items()},
                "never_married": pa.array(target, pa.int8()),
            }
        )

    files = {
        "train.parquet": parquet_bytes(table(range(20, 60), 0)),
        "test.parquet": parquet_bytes(
            table(range(20, 30), 0) if test_from_train else table(range(60, 70), 40)
        ),
    }
    if row_ids:
        test_ids = range(20, 30) if shared_ids else range(60, 70)
        ids = [a * 1000 for a in [*range(20, 60), *test_ids]]
        split = [0] * 40 + [1] * 10
        files["row_ids.parquet"] = parquet_bytes(
            pa.table({"row_id": pa.array(ids, pa.uint64()), "split": pa.array(split, pa.int8())})
        )
    return files


def manifest(prefix: str, files: dict[str, bytes], **override: Any) -> bytes:
    """features.json for `files` at `prefix` (the preprocessor's layout), with overrides."""
    body = {
        "target": "never_married",
        "features": ["age", "sex_Male"],
        "train_uri": f"{prefix}/train.parquet",
        "test_uri": f"{prefix}/test.parquet",
        "train_sha256": hashlib.sha256(files["train.parquet"]).hexdigest(),
        "test_sha256": hashlib.sha256(files["test.parquet"]).hexdigest(),
        "rows": {"train": 40, "test": 10},
        **(
            {
                "row_ids_uri": f"{prefix}/row_ids.parquet",
                "row_ids_sha256": hashlib.sha256(files["row_ids.parquet"]).hexdigest(),
            }
            if "row_ids.parquet" in files
            else {}
        ),
        **override,
    }
    return json.dumps(body).encode()
