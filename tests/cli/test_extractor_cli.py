"""`python -m extractor` as a process: return.json, caching, and one clear error per bad input."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers.census_data import MISSING_COUNTS, ROWS, read_raw
from tests.helpers.stages import (
    CENSUS_CSV_GZ,
    CENSUS_TEST_CSV_GZ,
    PENGUINS_CSV,
    PROJECT_VERSION,
    assert_bad_input,
    run_stage,
)

KEYS = {
    "stage",
    "version",
    "dataset",
    "source",
    "raw_uri",
    "rows",
    "columns",
    "bytes",
    "sha256",
    "read_api",
    "cached",
    "seconds",
    "timings",
}
COLUMNS = list(read_raw().head(0).columns)
CSV_LINES = gzip.decompress(CENSUS_CSV_GZ.read_bytes()).decode().splitlines(keepends=True)


def extract(source: str | Path, output: Path, xcom_dir: Path, *extra: str):
    return run_stage(
        "extractor", ["--source", str(source), "--output", str(output), *extra], xcom_dir=xcom_dir
    )


def test_census_csv_to_parquet(raw_census: dict[str, Any]) -> None:
    assert set(raw_census) == KEYS
    assert raw_census["stage"] == "extract" and raw_census["version"] == PROJECT_VERSION
    assert raw_census["dataset"] == "census"
    assert raw_census["source"] == f"file://{CENSUS_CSV_GZ}"
    assert raw_census["rows"] == ROWS and raw_census["columns"] == COLUMNS
    assert raw_census["read_api"] == "file" and raw_census["cached"] is False
    path = Path(raw_census["raw_uri"].removeprefix("file://"))
    assert raw_census["bytes"] == path.stat().st_size
    import hashlib

    assert raw_census["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    table = pq.read_table(path)
    assert (
        table.schema.field("age").type == pa.int64() and table.schema.field("workclass").type == pa.string()
    )
    frame = table.to_pandas()
    for column, count in MISSING_COUNTS.items():
        assert (frame[column] == " ?").sum() == count  # raw values, as BigQuery has them


def test_cache_hit_force_and_changed_input(tmp_path: Path, xcom_dir: Path) -> None:
    out = tmp_path / "raw" / "census.parquet"
    first = extract(CENSUS_CSV_GZ, out, xcom_dir)
    assert first.rc == 0, first.stderr
    # What the log says is true: the hash is for the stamp (no earlier extract to compare with),
    # and the read ends with one 100% line (the reader's read-ahead reached the end early).
    assert "hashing it for the extract's provenance stamp" in first.stderr
    assert first.stderr.count("(100%)") == 1, first.stderr
    mtime = out.stat().st_mtime_ns
    again = extract(f"file://{CENSUS_CSV_GZ}", out, xcom_dir)
    assert again.rc == 0 and again.xcom["cached"] is True, again.stderr
    assert "cache hit" in again.stderr
    assert f"hashing it to compare with the extract at file://{out}" in again.stderr
    assert out.stat().st_mtime_ns == mtime  # not rewritten
    assert {k: again.xcom[k] for k in ("rows", "columns", "bytes", "sha256")} == {
        k: first.xcom[k] for k in ("rows", "columns", "bytes", "sha256")
    }
    forced = extract(CENSUS_CSV_GZ, out, xcom_dir, "--force")
    assert forced.rc == 0 and forced.xcom["cached"] is False
    assert forced.xcom["sha256"] == first.xcom["sha256"]  # deterministic output
    smaller = tmp_path / "part.csv"
    smaller.write_text("".join(CSV_LINES[:101]))
    changed = extract(smaller, out, xcom_dir)
    assert changed.rc == 0 and changed.xcom["cached"] is False and changed.xcom["rows"] == 100


def test_parquet_source_round_trips(tmp_path: Path, xcom_dir: Path, raw_census: dict[str, Any]) -> None:
    run = extract(raw_census["raw_uri"], tmp_path / "copy.parquet", xcom_dir)
    assert run.rc == 0, run.stderr
    assert run.xcom["rows"] == ROWS
    original = pq.read_table(raw_census["raw_uri"].removeprefix("file://"))
    assert pq.read_table(tmp_path / "copy.parquet").equals(original)


def test_test_file_with_dotted_labels(tmp_path: Path, xcom_dir: Path) -> None:
    run = extract(CENSUS_TEST_CSV_GZ, tmp_path / "test.parquet", xcom_dir)
    assert run.rc == 0, run.stderr
    assert run.xcom["rows"] == 16281
    labels = pq.read_table(tmp_path / "test.parquet").column("income_bracket").to_pylist()
    assert set(labels) == {" <=50K.", " >50K."}


def _header() -> str:
    return CSV_LINES[0].rstrip("\n")


def _with_columns(rows: int = 20, drop: str | None = None, extra: str | None = None) -> str:
    lines = [line.rstrip("\n").split(",") for line in CSV_LINES[: rows + 1]]
    if drop:
        index = lines[0].index(drop)
        lines = [[v for i, v in enumerate(line) if i != index] for line in lines]
    if extra:
        lines = [[*line, extra if i == 0 else " 1"] for i, line in enumerate(lines)]
    return "\n".join(",".join(line) for line in lines) + "\n"


def _parquet(path: Path, table: pa.Table) -> bytes:
    pq.write_table(table, path)
    return path.read_bytes()


def _census_table() -> pa.Table:
    return pa.Table.from_pandas(read_raw().head(50), preserve_index=False)


BAD_SOURCES = {
    # name: (file name, content builder, words the error line must hold)
    "empty": ("census.csv", lambda p: b"", ["is empty", "--source"]),
    "header-only": ("census.csv", lambda p: CSV_LINES[0].encode(), ["no rows"]),
    "missing-column": (
        "census.csv",
        lambda p: _with_columns(drop="occupation").encode(),
        ["lacks", "occupation"],
    ),
    "extra-column": (
        "census.csv",
        lambda p: _with_columns(extra="bonus").encode(),
        ["outside the census spec", "bonus"],
    ),
    "wrong-type-csv": (
        "census.csv",
        lambda p: "".join(
            [*CSV_LINES[:5], CSV_LINES[5].replace(CSV_LINES[5].split(",")[0], "old", 1)]
        ).encode(),
        ["'age' must hold integers", "'old'"],
    ),
    "wrong-type-parquet": (
        "census.parquet",
        lambda p: _parquet(p, _census_table().set_column(12, "hours_per_week", pa.array([40.5] * 50))),
        ["hours_per_week is float (expected int)"],
    ),
    "not-census": ("other.csv", lambda p: b"id,name\n1,x\n", ["is not the census table"]),
    "corrupt-parquet": (
        "census.parquet",
        lambda p: _parquet(p, _census_table())[:-100],
        ["corrupt Parquet"],
    ),
    "truncated-csv": (
        "census.csv",
        lambda p: "".join(CSV_LINES[:40]).encode()[:-30],
        ["not a valid CSV", "Expected 15 columns"],
    ),
    "short-row": (
        "census.csv",
        lambda p: "".join([*CSV_LINES[:3], CSV_LINES[3].rsplit(",", 2)[0] + "\n", *CSV_LINES[4:9]]).encode(),
        ["Expected 15 columns, got 13"],
    ),
    "gzip-corrupt": (
        "census.csv.gz",
        lambda p: CENSUS_CSV_GZ.read_bytes()[:5000],
        ["not a valid CSV"],
    ),
}


@pytest.fixture
def earlier_output(tmp_path: Path) -> tuple[Path, bytes, int]:
    """An output from an earlier run at another key, which a failing run must not touch."""
    earlier = tmp_path / "out" / "earlier.parquet"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"earlier output")
    os.utime(earlier, ns=(1_000_000_000, 1_000_000_000))
    return earlier, earlier.read_bytes(), earlier.stat().st_mtime_ns


def _assert_nothing_written(out: Path, earlier: tuple[Path, bytes, int]) -> None:
    path, content, mtime = earlier
    assert sorted(p.name for p in out.parent.iterdir()) == [path.name]  # no output, no temp file
    assert path.read_bytes() == content and path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("case", sorted(BAD_SOURCES))
def test_bad_source_is_one_error_line_and_no_output(
    case: str, tmp_path: Path, xcom_dir: Path, earlier_output
) -> None:
    name, build, words = BAD_SOURCES[case]
    source = tmp_path / "src" / name
    source.parent.mkdir()
    content = build(source)
    source.write_bytes(content)
    out = tmp_path / "out" / "census.parquet"
    run = extract(source, out, xcom_dir)
    assert_bad_input(run, "ERROR [extract]", *words)
    _assert_nothing_written(out, earlier_output)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--source", "gs://Bad_Bucket/census.csv"], ["invalid bucket name"]),
        (["--source", "s3://bucket/census.csv"], ["unsupported scheme 's3'"]),
        (["--source", "file://host/census.csv"], ["names a host"]),
        (["--source", "gs://bucket"], ["names no object"]),
        (["--source", "NOWHERE/census.csv"], ["does not exist"]),
        (["--source", "NOWHERE-DIR/x/census.csv"], ["does not exist"]),
        (["--source", "bigquery://just-a-table"], ["not a BigQuery table reference"]),
        (
            ["--source", str(CENSUS_CSV_GZ), "--query", "SELECT 1"],
            ["--query", "not allowed with argument --source"],
        ),
        (["--query", "  "], ["--query is empty"]),
        (["--dataset", "iris", "--source", str(CENSUS_CSV_GZ)], ["unknown dataset 'iris'", "penguins"]),
        (["--dataset", "penguins"], ["'penguins' has no default_source", "--source", "data/penguins.csv"]),
        (["--dataset", "penguins", "--source", str(CENSUS_CSV_GZ)], ["is not the penguins table"]),
        (["--source", str(CENSUS_CSV_GZ), "--output", "gs://x/"], ["--output", "invalid bucket name"]),
        (["--source", str(CENSUS_CSV_GZ), "--bogus"], ["unrecognized arguments: --bogus"]),
    ],
    ids=[
        "bad-bucket",
        "scheme",
        "file-host",
        "no-object",
        "missing-object",
        "missing-dir",
        "bq-uri",
        "query+source",
        "empty-query",
        "unknown-dataset",
        "no-default-source",
        "other-dataset",
        "bad-output",
        "unknown-option",
    ],
)
def test_bad_arguments(
    args: list[str], words: list[str], tmp_path: Path, xcom_dir: Path, earlier_output
) -> None:
    args = [a.replace("NOWHERE", str(tmp_path / "nowhere")) for a in args]
    out = tmp_path / "out" / "census.parquet"
    if "--output" not in args:
        args += ["--output", str(out)]
    run = run_stage("extractor", args, xcom_dir=xcom_dir)
    assert_bad_input(run, *words)
    _assert_nothing_written(out, earlier_output)


def test_output_equal_to_source_is_refused(
    tmp_path: Path, xcom_dir: Path, raw_census: dict[str, Any]
) -> None:
    copy = tmp_path / "census.parquet"
    copy.write_bytes(Path(raw_census["raw_uri"].removeprefix("file://")).read_bytes())
    run = extract(copy, copy, xcom_dir)
    assert_bad_input(run, "is the source itself")
    # The same file by another path: a symlink and a hard link are compared as files.
    (tmp_path / "link.parquet").symlink_to(copy)
    os.link(copy, tmp_path / "hard.parquet")
    for other in ("link.parquet", "hard.parquet"):
        assert_bad_input(extract(copy, tmp_path / other, xcom_dir), "is the source itself")
    assert copy.read_bytes() == Path(raw_census["raw_uri"].removeprefix("file://")).read_bytes()


def test_penguins_extract_keeps_floats_and_nulls(tmp_path: Path, xcom_dir: Path) -> None:
    run = run_stage(
        "extractor",
        ["--dataset", "penguins", "--source", str(PENGUINS_CSV), "--output", str(tmp_path / "p.parquet")],
        xcom_dir=xcom_dir,
    )
    assert run.rc == 0, run.stderr
    assert (run.xcom["dataset"], run.xcom["rows"], len(run.xcom["columns"])) == ("penguins", 344, 8)
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.schema.field("bill_depth_mm").type == pa.float64()
    assert table.column("body_mass_g").null_count == 2


def test_help_documents_every_option() -> None:
    import subprocess
    import sys

    text = subprocess.run(
        [sys.executable, "-m", "extractor", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--dataset", "--source", "--query", "--output", "--project", "--force"):
        assert option in text
