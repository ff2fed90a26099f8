"""A stage's input and its output are one file by another path (issue 16, class 9): a symlink, a
hard link, a bind mount of the directory, the stage's own result file. Compared by the files
themselves (device and inode) where the filesystem can, never as strings only. The gs:// aliases
(gcs://, '..' segments) are cases of the bad-input matrix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers.stages import assert_bad_input, run_stage
from tests.reliability import bad_inputs as bad
from tests.reliability import mounts


@pytest.fixture
def csv_source(tmp_path: Path) -> Path:
    source = tmp_path / "data" / "census.csv"
    source.parent.mkdir()
    source.write_text("".join(bad.csv_lines()))
    return source


def _extract(source: Path, output: Path | str, tmp_path: Path) -> object:
    return run_stage("extractor", ["--source", str(source), "--output", str(output)], xcom_dir=tmp_path / "x")


@pytest.mark.parametrize("alias", ["symlink", "hard link", "bind mount"])
def test_extract_output_that_is_its_source(alias: str, csv_source: Path, tmp_path: Path) -> None:
    before = csv_source.read_bytes()
    if alias == "symlink":
        (tmp_path / "link.parquet").symlink_to(csv_source)
        run = _extract(csv_source, tmp_path / "link.parquet", tmp_path)
    elif alias == "hard link":
        os.link(csv_source, tmp_path / "same.parquet")
        run = _extract(csv_source, tmp_path / "same.parquet", tmp_path)
    else:
        with mounts.bind(csv_source.parent, tmp_path / "mnt") as mnt:
            run = _extract(csv_source, mnt / csv_source.name, tmp_path)
    assert_bad_input(run, "is the source itself")
    assert csv_source.read_bytes() == before


def test_extract_output_that_is_the_result_file(csv_source: Path, tmp_path: Path) -> None:
    run = _extract(csv_source, tmp_path / "x" / "return.json", tmp_path)
    assert_bad_input(run, "is the stage's result file")


@pytest.fixture
def raw_in_prefix(tmp_path: Path) -> Path:
    """A raw census table stored under the output prefix with a name the stage owns."""
    prefix = tmp_path / "features"
    prefix.mkdir()
    raw = prefix / "train.parquet"
    raw.write_bytes(bad.parquet_bytes(bad.raw_frame()))
    return raw


def test_preprocess_input_through_a_bind_mount_of_its_prefix(raw_in_prefix: Path, tmp_path: Path) -> None:
    before = raw_in_prefix.read_bytes()
    with mounts.bind(raw_in_prefix.parent, tmp_path / "alias") as alias:
        run = run_stage("preprocessor", ["--input", str(alias / raw_in_prefix.name), "--output-prefix",
                                         str(raw_in_prefix.parent)], xcom_dir=tmp_path / "x")  # fmt: skip
    assert_bad_input(run, "part of the output set")
    assert raw_in_prefix.read_bytes() == before and sorted(
        p.name for p in raw_in_prefix.parent.iterdir()
    ) == ["train.parquet"]


def test_preprocess_input_through_a_symlink_into_its_prefix(raw_in_prefix: Path, tmp_path: Path) -> None:
    (tmp_path / "raw.parquet").symlink_to(raw_in_prefix)
    run = run_stage("preprocessor", ["--input", str(tmp_path / "raw.parquet"), "--output-prefix",
                                     str(raw_in_prefix.parent)], xcom_dir=tmp_path / "x")  # fmt: skip
    assert_bad_input(run, "part of the output set")


def test_preprocess_input_hard_linked_into_its_prefix_is_safe(raw_in_prefix: Path, tmp_path: Path) -> None:
    """A hard link is a second name of the bytes: the stage replaces names (rename) and removes
    only names under its prefix, so the input's own name keeps its bytes."""
    source = tmp_path / "raw.parquet"
    os.link(raw_in_prefix, source)
    before = source.read_bytes()
    run = run_stage("preprocessor", ["--input", str(source), "--output-prefix", str(raw_in_prefix.parent)],
                    xcom_dir=tmp_path / "x")  # fmt: skip
    assert run.rc == 0, run.stderr[-2000:]
    assert source.read_bytes() == before
