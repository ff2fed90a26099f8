"""`python -m preprocessor` as a process: the split, the manifest, caching and bad inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.helpers.census_data import read_raw
from tests.helpers.stages import CENSUS_CSV_GZ, CENSUS_TEST_CSV_GZ, assert_bad_input, run_stage

KEYS = {
    "stage",
    "version",
    "features_uri",
    "train_uri",
    "test_uri",
    "target",
    "rows_train",
    "rows_test",
    "n_features",
    "positive_rate",
    "train_sha256",
    "test_sha256",
    "input_sha256",
    "cached",
    "seconds",
    "timings",
}
MANIFEST_KEYS = {
    "target",
    "features",
    "train_uri",
    "test_uri",
    "train_sha256",
    "test_sha256",
    "input_uri",
    "input_sha256",
    "seed",
    "test_size",
    "rows",
    "positive_rate",
    "slice_by",
    "version",
}
CLEAN_ROWS = 32537  # 32,561 minus 24 duplicates


def local(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def preprocess(input_uri: str, prefix: Path, xcom_dir: Path, *extra: str):
    return run_stage(
        "preprocessor", ["--input", input_uri, "--output-prefix", str(prefix), *extra], xcom_dir=xcom_dir
    )


def test_result_manifest_and_split(features_census: dict[str, Any], raw_census: dict[str, Any]) -> None:
    result = features_census
    assert set(result) == KEYS
    assert (
        result["stage"] == "preprocess" and result["cached"] is False and result["target"] == "never_married"
    )
    assert result["rows_train"] + result["rows_test"] == CLEAN_ROWS and result["rows_test"] == 6508
    assert result["input_sha256"] == raw_census["sha256"]
    manifest = json.loads(local(result["features_uri"]).read_text())
    assert set(manifest) == MANIFEST_KEYS
    assert manifest["slice_by"] == ["sex", "race"]
    assert (manifest["seed"], manifest["test_size"], manifest["input_uri"]) == (
        55,
        0.2,
        raw_census["raw_uri"],
    )
    assert len(manifest["features"]) == result["n_features"]
    train, test = pq.read_table(local(result["train_uri"])), pq.read_table(local(result["test_uri"]))
    assert sha256(local(result["train_uri"])) == result["train_sha256"] == manifest["train_sha256"]
    assert sha256(local(result["test_uri"])) == result["test_sha256"] == manifest["test_sha256"]
    assert train.schema == test.schema and train.column_names == [*manifest["features"], "never_married"]
    y_train, y_test = train.column("never_married").to_numpy(), test.column("never_married").to_numpy()
    rate = (y_train.sum() + y_test.sum()) / CLEAN_ROWS
    assert result["positive_rate"] == pytest.approx(rate, abs=1e-6)
    assert abs(y_train.mean() - rate) < 1e-3 and abs(y_test.mean() - rate) < 1e-3  # stratified


def test_cache_force_and_new_parameters(
    tmp_path: Path, xcom_dir: Path, raw_census: dict[str, Any], features_census
) -> None:
    prefix = tmp_path / "features"
    first = preprocess(raw_census["raw_uri"], prefix, xcom_dir)
    assert first.rc == 0, first.stderr
    # The same input and parameters give byte-identical splits (seed 55 is reproducible).
    assert first.xcom["train_sha256"] == features_census["train_sha256"]
    assert first.xcom["test_sha256"] == features_census["test_sha256"]
    again = preprocess(raw_census["raw_uri"], prefix, xcom_dir)
    assert again.rc == 0 and again.xcom["cached"] is True and "cache hit" in again.stderr
    assert {k: v for k, v in again.xcom.items() if k not in ("cached", "seconds", "timings")} == {
        k: v for k, v in first.xcom.items() if k not in ("cached", "seconds", "timings")
    }
    forced = preprocess(raw_census["raw_uri"], prefix, xcom_dir, "--force")
    assert forced.rc == 0 and forced.xcom["cached"] is False
    reseeded = preprocess(raw_census["raw_uri"], prefix, xcom_dir, "--seed", "7")
    assert reseeded.rc == 0 and reseeded.xcom["cached"] is False
    assert reseeded.xcom["test_sha256"] != first.xcom["test_sha256"]
    tampered = local(reseeded.xcom["train_uri"])
    tampered.write_bytes(tampered.read_bytes() + b"x")
    rebuilt = preprocess(raw_census["raw_uri"], prefix, xcom_dir, "--seed", "7")
    assert rebuilt.xcom["cached"] is False and rebuilt.xcom["train_sha256"] == reseeded.xcom["train_sha256"]


def test_row_order_of_the_source_does_not_change_the_split(
    tmp_path: Path, xcom_dir: Path, features_census
) -> None:
    """BigQuery returns rows in no fixed order: the split must not depend on it."""
    shuffled = read_raw().sample(frac=1.0, random_state=3)
    source = tmp_path / "shuffled.csv"
    shuffled.to_csv(source, index=False)
    raw = run_stage(
        "extractor", ["--source", str(source), "--output", str(tmp_path / "raw.parquet")], xcom_dir=xcom_dir
    )
    assert raw.rc == 0, raw.stderr
    run = preprocess(raw.xcom["raw_uri"], tmp_path / "features", xcom_dir)
    assert run.rc == 0, run.stderr
    assert run.xcom["train_sha256"] == features_census["train_sha256"]
    assert run.xcom["test_sha256"] == features_census["test_sha256"]


def test_income_target_on_the_test_file(tmp_path: Path, xcom_dir: Path) -> None:
    raw = run_stage(
        "extractor",
        ["--source", str(CENSUS_TEST_CSV_GZ), "--output", str(tmp_path / "raw.parquet")],
        xcom_dir=xcom_dir,
    )
    assert raw.rc == 0, raw.stderr
    run = preprocess(
        raw.xcom["raw_uri"],
        tmp_path / "features",
        xcom_dir,
        "--target",
        "income_over_50k",
        "--test-size",
        "0.25",
    )
    assert run.rc == 0, run.stderr
    manifest = json.loads(local(run.xcom["features_uri"]).read_text())
    assert run.xcom["target"] == "income_over_50k" and manifest["test_size"] == 0.25
    assert not any(f.startswith("income_bracket") for f in manifest["features"])
    assert 0.23 < run.xcom["positive_rate"] < 0.24  # 3,846 of 16,281 before duplicates are dropped


def _raw_parquet(path: Path, edit) -> str:
    frame = read_raw().head(2000)
    frame = edit(frame.copy())
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return str(path)


def _set(column: str, value: Any):
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = pd.Series(
            [value] * len(frame), dtype=frame[column].dtype if value is not None else "str"
        )
        return frame

    return edit


BAD_INPUTS = {
    "csv-not-parquet": (lambda p: str(CENSUS_CSV_GZ), ["not a readable Parquet", "raw_uri"]),
    "missing": (lambda p: str(p.parent / "nope.parquet"), ["does not exist"]),
    "empty-file": (lambda p: (p.write_bytes(b""), str(p))[1], ["is empty"]),
    "single-class": (
        lambda p: _raw_parquet(p, _set("marital_status", " Married-civ-spouse")),
        ["single class"],
    ),
    "all-null-column": (
        lambda p: _raw_parquet(p, _set("occupation", None)),
        ["only NULL values", "occupation"],
    ),
    "unknown-label": (
        lambda p: _raw_parquet(p, _set("income_bracket", " 50K+")),
        ["income_bracket", "'50K+'"],
    ),
    "not-census": (
        lambda p: (pq.write_table(pa.table({"x": [1, 2]}), p), str(p))[1],
        ["not the census table"],
    ),
}


@pytest.fixture
def earlier_prefix(tmp_path: Path, features_census: dict[str, Any]) -> dict[Path, tuple[bytes, int]]:
    """A complete output at another prefix, which a failing run must not touch."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for uri in (features_census["train_uri"], features_census["test_uri"], features_census["features_uri"]):
        target = earlier / local(uri).name
        target.write_bytes(local(uri).read_bytes())
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in earlier.iterdir()}


def _assert_untouched(earlier: dict[Path, tuple[bytes, int]]) -> None:
    for path, (content, mtime) in earlier.items():
        assert path.read_bytes() == content and path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_error_line_and_no_output(
    case: str, tmp_path: Path, xcom_dir: Path, earlier_prefix
) -> None:
    make, words = BAD_INPUTS[case]
    (tmp_path / "in").mkdir()
    input_uri = make(tmp_path / "in" / "raw.parquet")
    prefix = tmp_path / "out" / "features"
    run = preprocess(input_uri, prefix, xcom_dir)
    assert_bad_input(run, "ERROR [preprocess]", *words)
    assert not prefix.exists() or list(prefix.iterdir()) == []
    _assert_untouched(earlier_prefix)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--test-size", "1.5"], ["--test-size", "strictly between 0 and 1"]),
        (["--test-size", "abc"], ["not a number"]),
        (["--target", "salary"], ["--target", "invalid choice"]),
        (["--seed", "x"], ["--seed"]),
        (["--output-prefix", "s3://b/p"], ["unsupported scheme"]),
    ],
)
def test_bad_arguments(args: list[str], words: list[str], tmp_path: Path, xcom_dir: Path, raw_census) -> None:
    base = ["--input", raw_census["raw_uri"]]
    if "--output-prefix" not in args:
        base += ["--output-prefix", str(tmp_path / "features")]
    run = run_stage("preprocessor", [*base, *args], xcom_dir=xcom_dir)
    assert_bad_input(run, *words)
    assert not (tmp_path / "features").exists()


def test_failure_after_an_earlier_output_at_the_same_prefix_leaves_no_stale_manifest(
    tmp_path: Path, xcom_dir: Path, raw_census: dict[str, Any]
) -> None:
    prefix = tmp_path / "features"
    assert preprocess(raw_census["raw_uri"], prefix, xcom_dir).rc == 0
    single = _raw_parquet(tmp_path / "single.parquet", _set("marital_status", " Divorced"))
    run = preprocess(single, prefix, xcom_dir)
    assert_bad_input(run, "single class")
    # The split is checked before anything is replaced: the earlier complete set is intact.
    assert sorted(p.name for p in prefix.iterdir()) == ["features.json", "test.parquet", "train.parquet"]
    assert not [p for p in prefix.iterdir() if p.name.startswith(".")]


def test_help_documents_every_option() -> None:
    import subprocess
    import sys

    text = subprocess.run(
        [sys.executable, "-m", "preprocessor", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--input", "--output-prefix", "--target", "--test-size", "--seed", "--force"):
        assert option in text
