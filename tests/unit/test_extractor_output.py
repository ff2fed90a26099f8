"""Atomic, stamped Parquet output of the extractor and the BigQuery URI parser."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from extractor import parquet_output
from extractor.bigquery_uri import is_bigquery, parse_table
from extractor.conform import target_schema
from extractor.file_source import read_batches
from pipeline_common import dataset_spec
from pipeline_common.errors import StageError
from pipeline_common.storage import sha256_file
from pipeline_common.uris import parse_location

from tests.helpers.stages import CENSUS_CSV_GZ

CENSUS = dataset_spec.load("census")
TARGET_SCHEMA = target_schema(CENSUS)
STAMP = {"stage": "extract", "cache_key": "cd" * 32, "input_sha256": "ab" * 32, "source": "file:///x"}


def test_output_is_stamped_compressed_and_in_sensible_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parquet_output, "ROW_GROUP_ROWS", 10_000)
    out = parse_location(str(tmp_path / "raw" / "census.parquet"))
    written, rows = parquet_output.write_parquet(
        out, read_batches(parse_location(str(CENSUS_CSV_GZ)), "csv.gz", CENSUS), TARGET_SCHEMA, STAMP, "src"
    )
    assert rows == 32561
    meta = pq.ParquetFile(out.path).metadata
    assert meta.num_rows == rows
    # 32,561 rows in groups of at most 10,000 (batches are combined, never tiny groups).
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [10_000, 10_000, 10_000, 2561]
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert written.sha256 == sha256_file(out.path) and written.bytes == Path(out.path).stat().st_size
    existing = parquet_output.read_existing(out)
    assert existing is not None and existing.stamp == STAMP and existing.rows == rows
    assert existing.columns == TARGET_SCHEMA.names
    assert list(tmp_path.joinpath("raw").iterdir()) == [Path(out.path)]  # no temp file left


def test_no_rows_leaves_nothing(tmp_path: Path) -> None:
    out = parse_location(str(tmp_path / "census.parquet"))
    with pytest.raises(StageError, match="no rows"):
        parquet_output.write_parquet(out, iter([TARGET_SCHEMA.empty_table()]), TARGET_SCHEMA, STAMP, "src")
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_stream_leaves_nothing(tmp_path: Path) -> None:
    out = parse_location(str(tmp_path / "census.parquet"))

    def batches():
        yield TARGET_SCHEMA.empty_table()
        raise StageError("boom", "fix")

    with pytest.raises(StageError, match="boom"):
        parquet_output.write_parquet(out, batches(), TARGET_SCHEMA, STAMP, "src")
    assert list(tmp_path.iterdir()) == []


def test_read_existing_ignores_foreign_or_broken_files(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.table({"a": [1]}), foreign)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    assert parquet_output.read_existing(parse_location(str(foreign))) is None
    assert parquet_output.read_existing(parse_location(str(broken))) is None
    stamped = tmp_path / "stamped.parquet"
    pq.write_table(
        pa.table({"a": [1]}).replace_schema_metadata({parquet_output.STAMP_KEY: json.dumps(STAMP)}), stamped
    )
    assert parquet_output.read_existing(parse_location(str(stamped))).stamp == STAMP


@pytest.mark.parametrize(
    ("uri", "table"),
    [
        (
            "bigquery://bigquery-public-data.ml_datasets.census_adult_income",
            "bigquery-public-data.ml_datasets.census_adult_income",
        ),
        ("BigQuery://my-proj.ds.t_1", "my-proj.ds.t_1"),
        ("bigquery://example.com:proj.ds.t", "example.com:proj.ds.t"),
    ],
)
def test_bigquery_uri(uri: str, table: str) -> None:
    assert is_bigquery(uri)
    assert parse_table(uri) == table


@pytest.mark.parametrize(
    "uri", ["bigquery://", "bigquery://ds.table", "bigquery://p.d.t; DROP", "bigquery://P Q.d.t"]
)
def test_bad_bigquery_uri(uri: str) -> None:
    with pytest.raises(StageError, match="not a BigQuery table reference"):
        parse_table(uri)
