"""Operating-system errors where a stage writes (issue 16, class 6): a full disk, a read-only
mount, a directory the stage's user may not write, a path that is a file or a directory. Each is
one line `ERROR [stage] <path>: problem | fix: ...`, exit 2, no traceback, and nothing left
behind; what can be known before the work (read-only, not writable, not a directory) is refused
before the input is read. Real filesystems: tmpfs mounts and an unprivileged user (mounts.py).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.servers import DATA_BUCKET, GcsEmulator
from tests.helpers.census_data import read_raw
from tests.helpers.stages import assert_bad_input, run_stage
from tests.reliability import bad_inputs as bad
from tests.reliability import mounts
from tests.reliability.test_faults import _gcs_env


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sources")
    (base / "small.csv").write_text("".join(bad.csv_lines()))
    (base / "full.parquet").write_bytes(bad.parquet_bytes(read_raw()))
    (base / "small.parquet").write_bytes(bad.parquet_bytes(bad.raw_frame()))
    base.chmod(0o755)
    for path in base.iterdir():
        path.chmod(0o644)
    return {p.stem if p.suffix != ".parquet" else f"{p.stem}_raw": p for p in base.iterdir()}


def _extract(source: Path, output: Path | str, xcom: Path, env: dict[str, str] | None = None) -> Any:
    started = time.monotonic()
    run = run_stage("extractor", ["--source", str(source), "--output", str(output)], xcom_dir=xcom, env=env)
    run.seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return run


def _not_read(run: Any) -> None:
    assert "hashing it" not in run.stderr, "the source was read before the output was found unwritable"


def test_read_only_output_directory_is_refused_before_the_source_is_read(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    with mounts.tmpfs(tmp_path / "ro", "64k", read_only=True) as ro:
        run = _extract(sources["small"], ro / "raw.parquet", tmp_path / "x")
    assert_bad_input(run, "read-only filesystem", str(ro / "raw.parquet"))
    _not_read(run)


def test_full_disk_while_writing_the_extract(sources: dict[str, Path], tmp_path: Path) -> None:
    with mounts.tmpfs(tmp_path / "disk", "96k") as disk:
        run = _extract(sources["full_raw"], disk / "raw.parquet", tmp_path / "x")
        left = sorted(p.name for p in disk.iterdir())
    assert_bad_input(run, "no space left on the device holding", str(disk / "raw.parquet"))
    assert left == [], f"left behind: {left}"


def test_directory_the_stage_user_cannot_write(sources: dict[str, Path]) -> None:
    mounts.require_mounts()  # root, to set it up; the stage runs as nobody
    with mounts.world_readable_dir() as base:
        source = base / "small.csv"
        shutil.copy(sources["small"], source)
        raw = base / "small.parquet"
        shutil.copy(sources["small_raw"], raw)
        out = base / "owned-by-root"
        out.mkdir(mode=0o755)
        xcom = base / "xcom"
        xcom.mkdir()
        xcom.chmod(0o777)
        args = ["--source", str(source), "--output", str(out / "raw.parquet")]
        run = mounts.run_as(mounts.NOBODY, "extractor", args, xcom_dir=xcom)
        assert_bad_input(run, "permission denied", str(out / "raw.parquet"), f"uid {mounts.NOBODY}")
        _not_read(run)
        args = ["--input", str(raw), "--output-prefix", str(out / "features")]
        pre = mounts.run_as(mounts.NOBODY, "preprocessor", args, xcom_dir=xcom)
        assert_bad_input(pre, "permission denied", str(out / "features"))
        assert list(out.iterdir()) == []


def test_output_path_through_a_file_or_onto_a_directory(sources: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    through = _extract(sources["small"], tmp_path / "a-file" / "raw.parquet", tmp_path / "x")
    assert_bad_input(through, "is a file, not a directory")
    (tmp_path / "a-dir").mkdir()
    onto = _extract(sources["small"], tmp_path / "a-dir", tmp_path / "x")
    assert_bad_input(onto, "is a directory")
    _not_read(onto)


def test_read_only_xcom_dir_is_refused_before_any_work(sources: dict[str, Path], tmp_path: Path) -> None:
    with mounts.tmpfs(tmp_path / "xcom", "64k", read_only=True) as xcom:
        args = ["--source", str(sources["small"]), "--output", str(tmp_path / "out" / "raw.parquet")]
        run = mounts.run_as(os.getuid(), "extractor", args, xcom_dir=xcom)  # run_stage would clean xcom
    assert_bad_input(run, "XCOM_DIR", "read-only filesystem", "return.json")
    assert not (tmp_path / "out").exists(), "the output was written although its result could not be"


def test_full_xcom_dir_is_one_line(sources: dict[str, Path], tmp_path: Path) -> None:
    with mounts.tmpfs(tmp_path / "xcom", "64k") as xcom:
        mounts.fill(xcom)
        run = _extract(sources["small"], tmp_path / "out" / "raw.parquet", xcom)
    assert_bad_input(run, "no space left on the device holding", "return.json")


def test_full_tmpdir_for_a_gcs_extract(
    sources: dict[str, Path], gcs_emulator: GcsEmulator, tmp_path: Path
) -> None:
    out = f"gs://{DATA_BUCKET}/reliability/tmpdir-full/raw.parquet"
    with mounts.tmpfs(tmp_path / "tmp", "64k") as tmpdir:
        mounts.fill(tmpdir, leave=8192)
        run = _extract(
            sources["full_raw"], out, tmp_path / "x", {**_gcs_env(gcs_emulator), "TMPDIR": str(tmpdir)}
        )
    assert_bad_input(run, "no space left on the device holding", "TMPDIR", out)
    assert gcs_emulator.list_blobs(DATA_BUCKET, "reliability/tmpdir-full/") == {}


def test_full_tmpdir_for_the_trainer(features: dict[str, Any], tmp_path: Path, mlflow_server: Any) -> None:
    with mounts.tmpfs(tmp_path / "tmp", "64k") as tmpdir:
        mounts.fill(tmpdir, leave=8192)
        env = {"TMPDIR": str(tmpdir), "MLFLOW_TRACKING_URI": mlflow_server.url, "PIPELINE_CPUS": "1"}
        args = ["train", "--model", "lgbm", "--features-uri", features["features_uri"],
                "--grid", features["grid"], "--cv", "2", "--experiment", "rel-tmpdir-full"]  # fmt: skip
        run = run_stage("trainer", args, xcom_dir=tmp_path / "x", env=env, timeout=600)
    assert_bad_input(run, "no space left on the device holding")
