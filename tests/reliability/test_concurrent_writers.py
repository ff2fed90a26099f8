"""Two runs writing one output at once (issue 16, class 7): one commits, the other is refused in
one line, and every return.json that exists describes the bytes that are stored.

Run A starts and reads what the output holds (its commit's precondition), then is stopped
(SIGSTOP) while it reads its input; run B writes the same output and finishes; A resumes. A's
commit must then fail: a GCS generation precondition on gs://, an exclusive lock file + identity
check + rename locally. Before issue 16 both exited 0 and B's return.json described bytes that A
had replaced.
"""

from __future__ import annotations

import hashlib
import json
import signal
import uuid
from pathlib import Path

import pytest

from tests.fixtures.servers import DATA_BUCKET, GcsEmulator
from tests.helpers.census_data import read_raw
from tests.helpers.stages import StageRun, assert_bad_input, run_stage
from tests.reliability import bad_inputs as bad
from tests.reliability.test_faults import _gcs_env, _popen_stage, _wait_for_line

CONFLICT = "another run replaced"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("race")
    small_csv = base / "small.csv"
    small_csv.write_text("".join(bad.csv_lines()))
    small_raw, full_raw = base / "small.parquet", base / "full.parquet"
    small_raw.write_bytes(bad.parquet_bytes(bad.raw_frame()))
    full_raw.write_bytes(bad.parquet_bytes(read_raw()))
    return {"small_csv": small_csv, "small_raw": small_raw, "full_raw": full_raw}


def _stored_bytes(uri: str, gcs: GcsEmulator) -> bytes:
    if uri.startswith("gs://"):
        name = uri.removeprefix(f"gs://{DATA_BUCKET}/")
        return gcs.client().bucket(DATA_BUCKET).blob(name).download_as_bytes()
    return Path(uri.removeprefix("file://")).read_bytes()


def _race(
    module: str, slow: list[str], fast: list[str], needle: str, env: dict[str, str], tmp: Path
) -> tuple:
    """A (slow) stopped after `needle`, B (fast) run to the end, then A resumed."""
    a = _popen_stage(module, slow, tmp / "a", env)
    try:
        _wait_for_line(a, needle)
        a.send_signal(signal.SIGSTOP)
        b = run_stage(module, fast, xcom_dir=tmp / "b", env=env)
        a.send_signal(signal.SIGCONT)
        _, err = a.communicate(timeout=300)
    finally:
        if a.poll() is None:
            a.send_signal(signal.SIGCONT)
            a.kill()
    result = tmp / "a" / "return.json"
    return StageRun(a.returncode, json.loads(result.read_text()) if result.exists() else None, "", err), b


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_two_extracts_of_one_output(
    where: str,
    inputs: dict[str, Path],
    big_csv_gz: Path,
    gcs_emulator: GcsEmulator,
    tmp_path: Path,
) -> None:
    env = _gcs_env(gcs_emulator)
    out = (f"gs://{DATA_BUCKET}/reliability/race-{uuid.uuid4().hex[:8]}/raw.parquet" if where == "gcs"
           else str(tmp_path / "out" / "raw.parquet"))  # fmt: skip
    a, b = _race(
        "extractor", ["--source", str(big_csv_gz), "--output", out],
        ["--source", str(inputs["small_csv"]), "--output", out], "hashing it", env, tmp_path,
    )  # fmt: skip
    assert b.rc == 0, b.stderr[-2000:]
    assert_bad_input(a, CONFLICT, out)
    stored = _stored_bytes(b.xcom["raw_uri"], gcs_emulator)
    assert hashlib.sha256(stored).hexdigest() == b.xcom["sha256"], "B's return.json describes other bytes"
    if where == "local":
        left = [p.name for p in Path(out).parent.iterdir() if p.name.startswith(".")]
        assert not left, f"temp or lock files stayed: {left}"


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_two_preprocessors_of_one_prefix(
    where: str, inputs: dict[str, Path], gcs_emulator: GcsEmulator, tmp_path: Path
) -> None:
    env = _gcs_env(gcs_emulator)
    key = f"reliability/race-{uuid.uuid4().hex[:8]}/features"
    prefix = f"gs://{DATA_BUCKET}/{key}" if where == "gcs" else str(tmp_path / "features")
    a, b = _race(
        "preprocessor", ["--input", str(inputs["full_raw"]), "--output-prefix", prefix],
        ["--input", str(inputs["small_raw"]), "--output-prefix", prefix, "--seed", "7"],
        "reading ", env, tmp_path,
    )  # fmt: skip
    assert b.rc == 0, b.stderr[-2000:]
    line = assert_bad_input(a, CONFLICT, "features.json")
    manifest = json.loads(_stored_bytes(b.xcom["features_uri"], gcs_emulator))
    for which in ("train", "test"):
        assert manifest[f"{which}_uri"] == b.xcom[f"{which}_uri"], line
        stored = _stored_bytes(b.xcom[f"{which}_uri"], gcs_emulator)
        assert hashlib.sha256(stored).hexdigest() == b.xcom[f"{which}_sha256"]
    # A removed its own splits: only B's output is under the prefix.
    if where == "gcs":
        names = {n.rsplit("/", 1)[1] for n in gcs_emulator.list_blobs(DATA_BUCKET, key + "/")}
    else:
        names = {p.name for p in Path(prefix).iterdir()}
    assert names == {
        "features.json",
        *(manifest[f"{w}_uri"].rsplit("/", 1)[1] for w in ("train", "test", "row_ids")),
    }, line
