"""Extractor and preprocessor against fake-gcs-server: gs:// in and out, missing objects/buckets."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.fixtures.servers import DATA_BUCKET, GcsEmulator
from tests.helpers.stages import CENSUS_CSV_GZ, assert_bad_input, run_stage


@pytest.fixture
def run_id() -> str:
    return f"runs/test-{uuid.uuid4().hex[:8]}"


def test_gs_in_and_out_with_cache(gcs: GcsEmulator, gcs_env: dict[str, str], run_id: str, tmp_path) -> None:
    gcs.upload(DATA_BUCKET, f"{run_id}/in/census.csv.gz", CENSUS_CSV_GZ)
    raw_uri = f"gs://{DATA_BUCKET}/{run_id}/extract/census.parquet"
    args = ["--source", f"gs://{DATA_BUCKET}/{run_id}/in/census.csv.gz", "--output", raw_uri]
    first = run_stage("extractor", args, xcom_dir=tmp_path, env=gcs_env)
    assert first.rc == 0, first.stderr
    assert first.xcom["raw_uri"] == raw_uri and first.xcom["rows"] == 32561 and first.xcom["cached"] is False
    again = run_stage("extractor", args, xcom_dir=tmp_path, env=gcs_env)
    assert again.rc == 0 and again.xcom["cached"] is True and again.xcom["sha256"] == first.xcom["sha256"]
    prefix = f"gs://{DATA_BUCKET}/{run_id}/preprocess"
    pre = run_stage(
        "preprocessor", ["--input", raw_uri, "--output-prefix", prefix + "/"], xcom_dir=tmp_path, env=gcs_env
    )
    assert pre.rc == 0, pre.stderr
    assert (
        pre.xcom["features_uri"] == f"{prefix}/features.json"
        and pre.xcom["input_sha256"] == first.xcom["sha256"]
    )
    objects = gcs.list_blobs(DATA_BUCKET, run_id)
    split_names = [f"preprocess/{s}-{pre.xcom[f'{s}_sha256'][:12]}.parquet" for s in ("train", "test")]
    # The row ids' object, content-addressed like the splits (the manifest names it).
    split_names += [
        n.removeprefix(f"{run_id}/") for n in objects if re.search(r"/row_ids-[0-9a-f]{12}\.parquet$", n)
    ]
    assert sorted(objects) == sorted(
        f"{run_id}/{name}"
        for name in ("in/census.csv.gz", "extract/census.parquet", *split_names, "preprocess/features.json")
    )
    assert objects[f"{run_id}/extract/census.parquet"] == first.xcom["bytes"]


def test_missing_object(gcs_env: dict[str, str], run_id: str, tmp_path) -> None:
    run = run_stage(
        "extractor",
        [
            "--source",
            f"gs://{DATA_BUCKET}/{run_id}/nope.csv",
            "--output",
            f"gs://{DATA_BUCKET}/{run_id}/out.parquet",
        ],
        xcom_dir=tmp_path,
        env=gcs_env,
    )
    assert_bad_input(run, f"gs://{DATA_BUCKET}/{run_id}/nope.csv", "does not exist")


@pytest.mark.parametrize("which", ["source", "output"])
def test_missing_bucket(which: str, gcs: GcsEmulator, gcs_env: dict[str, str], run_id: str, tmp_path) -> None:
    gcs.upload(DATA_BUCKET, f"{run_id}/in.csv.gz", CENSUS_CSV_GZ)
    source = (
        f"gs://no-such-bucket-{run_id[-8:]}/in.csv.gz"
        if which == "source"
        else f"gs://{DATA_BUCKET}/{run_id}/in.csv.gz"
    )
    output = (
        f"gs://no-such-bucket-{run_id[-8:]}/out.parquet"
        if which == "output"
        else f"gs://{DATA_BUCKET}/{run_id}/out.parquet"
    )
    run = run_stage("extractor", ["--source", source, "--output", output], xcom_dir=tmp_path, env=gcs_env)
    assert_bad_input(run, "bucket 'no-such-bucket-", "does not exist", "create the bucket")
    assert "hashing" not in run.stderr  # the output bucket is checked before any work
    assert sorted(gcs.list_blobs(DATA_BUCKET, run_id)) == [f"{run_id}/in.csv.gz"]
    pre = run_stage(
        "preprocessor",
        ["--input", source, "--output-prefix", output.removesuffix(".parquet")],
        xcom_dir=tmp_path,
        env=gcs_env,
    )
    assert_bad_input(pre, "bucket 'no-such-bucket-", "does not exist")


def test_bad_source_on_gcs_leaves_no_object_and_keeps_earlier(
    gcs: GcsEmulator, gcs_env: dict[str, str], run_id: str, tmp_path
) -> None:
    gcs.upload(DATA_BUCKET, f"{run_id}/bad.csv", b"age,workclass\n39, State-gov\n")
    gcs.upload(DATA_BUCKET, f"{run_id}/out/earlier.parquet", b"earlier")
    before = gcs.client().bucket(DATA_BUCKET).get_blob(f"{run_id}/out/earlier.parquet").generation
    run = run_stage(
        "extractor",
        [
            "--source",
            f"gs://{DATA_BUCKET}/{run_id}/bad.csv",
            "--output",
            f"gs://{DATA_BUCKET}/{run_id}/out/census.parquet",
        ],
        xcom_dir=tmp_path,
        env=gcs_env,
    )
    assert_bad_input(run, "is not the census table")
    assert sorted(gcs.list_blobs(DATA_BUCKET, f"{run_id}/out")) == [f"{run_id}/out/earlier.parquet"]
    assert gcs.client().bucket(DATA_BUCKET).get_blob(f"{run_id}/out/earlier.parquet").generation == before
