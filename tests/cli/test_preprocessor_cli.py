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
from tests.helpers.stages import (
    CENSUS_CSV_GZ,
    CENSUS_TEST_CSV_GZ,
    PENGUINS_CSV,
    ROOT,
    assert_bad_input,
    run_stage,
)

KEYS = {
    "stage",
    "version",
    "dataset",
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
    "dataset",
    "source",
    "target",
    "target_labels",
    "slice_by",
    "cache_key",
    "features",
    "train_uri",
    "test_uri",
    "row_ids_uri",
    "train_sha256",
    "test_sha256",
    "row_ids_sha256",
    "input_uri",
    "input_sha256",
    "seed",
    "test_size",
    "rows",
    "positive_rate",
    "version",
}
CLEAN_ROWS = 32537  # 32,561 minus 24 duplicates
# The census outputs before the dataset spec existed (git f4c83be, pyarrow of constraints/dev.txt):
# the spec must reproduce them byte for byte.
PINNED = {
    "never_married": (
        101,
        "e31f0215decd1f259d7b6807126dcbabd432eb77b5d8d3085e11f4e2ab7138b3",
        "b778e7579208f97746845bbb5eb9a94f4fd82b2866316e0ad02b42319b52e9f6",
    ),
    "income_over_50k": (
        106,
        "33f9f5f47ebcd8b767925f95636635c647f91a413c5dbde6ae5b38fd437922a4",
        "dc2dbc00c61f4fa2ad42128c4db0de8a248cf652188df5004009249f75e4c7b1",
    ),
}
PINNED_FEATURES_HEAD = ["age", "capital_gain", "capital_loss", "hours_per_week", "workclass_Federal_gov"]
PINNED_FEATURES_TAIL = [
    "income_bracket_le_50K",
    "income_bracket_gt_50K",
    "age_group_upto_25",
    "age_group_26_35",
    "age_group_36_45",
    "age_group_46_55",
    "age_group_56_65",
    "age_group_over_65",
]


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
    # The source the extractor read (its stamp), for the model card.
    assert manifest["source"] == raw_census["source"]
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
    # Each row's identity sits beside the splits, train rows then test rows, every id distinct.
    assert sha256(local(manifest["row_ids_uri"])) == manifest["row_ids_sha256"]
    ids = pq.read_table(local(manifest["row_ids_uri"]))
    assert ids.column_names == ["row_id", "split"] and ids.column("row_id").type == pa.uint64()
    split = ids.column("split").to_numpy()
    assert (split == 0).sum() == train.num_rows and (split == 1).sum() == test.num_rows
    assert len(set(ids.column("row_id").to_pylist())) == ids.num_rows
    y_train, y_test = train.column("never_married").to_numpy(), test.column("never_married").to_numpy()
    rate = (y_train.sum() + y_test.sum()) / CLEAN_ROWS
    assert result["positive_rate"] == pytest.approx(rate, abs=1e-6)
    assert abs(y_train.mean() - rate) < 1e-3 and abs(y_test.mean() - rate) < 1e-3  # stratified


@pytest.mark.parametrize("target", sorted(PINNED))
def test_the_census_spec_reproduces_the_earlier_outputs_bit_for_bit(
    target: str, tmp_path: Path, xcom_dir: Path, raw_census: dict[str, Any]
) -> None:
    run = preprocess(raw_census["raw_uri"], tmp_path / "features", xcom_dir, "--target", target)
    assert run.rc == 0, run.stderr
    n_features, train_sha256, test_sha256 = PINNED[target]
    assert (run.xcom["n_features"], run.xcom["train_sha256"], run.xcom["test_sha256"]) == PINNED[target]
    assert sha256(local(run.xcom["train_uri"])) == train_sha256
    assert sha256(local(run.xcom["test_uri"])) == test_sha256
    features = json.loads(local(run.xcom["features_uri"]).read_text())["features"]
    if target == "never_married":
        assert features[:5] == PINNED_FEATURES_HEAD and features[-8:] == PINNED_FEATURES_TAIL
    assert len(features) == n_features


def test_penguins_run_through_the_same_stages_with_only_their_spec(tmp_path: Path, xcom_dir: Path) -> None:
    raw = run_stage(
        "extractor",
        ["--dataset", "penguins", "--source", str(PENGUINS_CSV), "--output", str(tmp_path / "raw.parquet")],
        xcom_dir=xcom_dir,
    )
    assert raw.rc == 0, raw.stderr
    assert raw.xcom["dataset"] == "penguins" and raw.xcom["rows"] == 344
    run = preprocess(raw.xcom["raw_uri"], tmp_path / "features", xcom_dir, "--dataset", "penguins")
    assert run.rc == 0, run.stderr
    manifest = json.loads(local(run.xcom["features_uri"]).read_text())
    assert (manifest["dataset"], manifest["target"], manifest["slice_by"]) == ("penguins", "male", ["island"])
    assert manifest["target_labels"] == ["female", "male"]
    assert run.xcom["rows_train"] + run.xcom["rows_test"] == 333  # 11 birds without a recorded sex
    assert not any(f.startswith("sex_") for f in manifest["features"])  # the target's column
    census = preprocess(raw.xcom["raw_uri"], tmp_path / "wrong", xcom_dir)  # default --dataset census
    assert_bad_input(census, "is not the census table", "--dataset")


def test_a_changed_spec_or_stage_code_is_never_served_from_the_cache(
    tmp_path: Path, xcom_dir: Path, raw_census: dict[str, Any]
) -> None:
    """The cache key hashes the spec and the preprocessor's code: editing either rebuilds."""
    import shutil

    prefix = tmp_path / "features"
    shipped = preprocess(raw_census["raw_uri"], prefix, xcom_dir)
    assert shipped.rc == 0
    shipped_sha256 = shipped.xcom["train_sha256"]
    spec = tmp_path / "census.yaml"
    spec.write_text((ROOT / "datasets" / "census.yaml").read_text().replace("people aged 17-90", "adults"))
    respecced = preprocess(raw_census["raw_uri"], prefix, xcom_dir, "--dataset", str(spec))
    assert respecced.rc == 0 and respecced.xcom["cached"] is False, respecced.stderr
    assert respecced.xcom["train_sha256"] == shipped_sha256 == PINNED["never_married"][1]  # rebuilt
    # The same package with one edited module, first on the path (as a rebuilt image would have it).
    code = tmp_path / "code"
    shutil.copytree(ROOT / "images" / "preprocessor" / "src" / "preprocessor", code / "preprocessor")
    features_py = code / "preprocessor" / "features.py"
    features_py.write_text(features_py.read_text() + "\n# an edit\n")
    assert (
        preprocess(raw_census["raw_uri"], prefix, xcom_dir).xcom["cached"] is False
    )  # the shipped spec again
    assert preprocess(raw_census["raw_uri"], prefix, xcom_dir).xcom["cached"] is True
    edited = run_stage(
        "preprocessor",
        ["--input", raw_census["raw_uri"], "--output-prefix", str(prefix)],
        xcom_dir=xcom_dir,
        env={"PYTHONPATH": str(code)},
    )
    assert edited.rc == 0 and edited.xcom["cached"] is False, edited.stderr


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
        ["income_bracket", "'50K+'", "data contract"],
    ),
    "misspelt-target-label": (
        lambda p: _raw_parquet(p, _set("marital_status", " never married")),
        ["marital_status", "2000 row(s)", "'never married'"],
    ),
    "impossible-age": (
        lambda p: _raw_parquet(p, lambda f: f.assign(age=[0, -4, 999, *f["age"][3:]])),
        ["age: 3 row(s)", "[-4, 0, 999]"],
    ),
    "negative-hours": (
        lambda p: _raw_parquet(p, lambda f: f.assign(hours_per_week=[-40, *f["hours_per_week"][1:]])),
        ["hours_per_week: 1 row(s)", "[-40]"],
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
        (["--target", "salary"], ["no target 'salary'", "never_married"]),
        (["--dataset", "iris"], ["unknown dataset 'iris'", "census", "penguins"]),
        (["--seed", "x"], ["--seed"]),
        (["--seed", "-1"], ["--seed", "outside"]),
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
    first = preprocess(raw_census["raw_uri"], prefix, xcom_dir)
    assert first.rc == 0
    before = {p.name: p.read_bytes() for p in prefix.iterdir()}
    single = _raw_parquet(tmp_path / "single.parquet", _set("marital_status", " Divorced"))
    run = preprocess(single, prefix, xcom_dir)
    assert_bad_input(run, "single class")
    # The split is checked before anything is replaced: the earlier complete set is intact.
    assert {p.name: p.read_bytes() for p in prefix.iterdir()} == before
    names = sorted(before)
    assert names[0] == "features.json"
    assert [n.split("-")[0] for n in names[1:]] == ["row_ids", "test", "train"]
    assert first.xcom["train_uri"].endswith(f"/train-{first.xcom['train_sha256'][:12]}.parquet")


def test_help_documents_every_option() -> None:
    import subprocess
    import sys

    text = subprocess.run(
        [sys.executable, "-m", "preprocessor", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in ("--dataset", "--input", "--output-prefix", "--target", "--test-size", "--seed", "--force"):
        assert option in text
