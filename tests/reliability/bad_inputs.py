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


def features_set(target_values: list[int]) -> dict[str, bytes]:
    """A tiny features output (train, test) whose target takes `target_values` in turn."""
    n = 40
    target = [target_values[i % len(target_values)] for i in range(n)]
    table = pa.table(
        {
            "age": pa.array([float(20 + i) for i in range(n)], pa.float32()),
            "sex_Male": pa.array([i % 2 for i in range(n)], pa.uint8()),
            "never_married": pa.array(target, pa.int8()),
        }
    )
    return {"train.parquet": parquet_bytes(table), "test.parquet": parquet_bytes(table.slice(0, 10))}


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
        **override,
    }
    return json.dumps(body).encode()
