"""A rewrite of a prefix that holds a complete earlier output, failing in the middle: the earlier
output stays complete and readable, nothing of the failed attempt is left (issue 16, class 1).

The preprocessor writes content-addressed splits beside the earlier ones, swaps features.json
last (the only commit) and removes superseded splits only after it. Faults, locally and on
fake-gcs-server: SIGTERM while the commit waits (a lock held by another committer locally, an
upload the server never answers on gs://), a full disk (a tiny tmpfs; a full TMPDIR for gs://),
a GCS error (403 from the fault proxy) on the second split.
"""

from __future__ import annotations

import hashlib
import json
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.servers import DATA_BUCKET, GcsEmulator
from tests.helpers.census_data import read_raw
from tests.helpers.stages import assert_bad_input, run_stage
from tests.reliability import bad_inputs as bad
from tests.reliability import mounts
from tests.reliability.fault_proxy import HANG, FaultProxy
from tests.reliability.test_faults import _gcs_env, _popen_stage


@pytest.fixture(scope="module")
def raw_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The 2,000-row census table (the earlier output's input) and the whole table (larger)."""
    base = tmp_path_factory.mktemp("raw")
    small, full = base / "small.parquet", base / "full.parquet"
    small.write_bytes(bad.parquet_bytes(bad.raw_frame()))
    full.write_bytes(bad.parquet_bytes(read_raw()))
    return {"small": small, "full": full}


def _preprocess(
    raw: Path | str, prefix: str, xcom: Path, *extra: str, env: dict[str, str] | None = None
) -> Any:
    return run_stage("preprocessor", ["--input", str(raw), "--output-prefix", prefix, *extra],
                     xcom_dir=xcom, env=env)  # fmt: skip


def _local_state(prefix: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(prefix.iterdir())}


def _readable_locally(prefix: Path) -> bool:
    """What a trainer holding the features_uri sees: a manifest whose splits exist with its sha256s."""
    try:
        manifest = json.loads((prefix / "features.json").read_text())
        return all(
            hashlib.sha256(Path(manifest[f"{s}_uri"].removeprefix("file://")).read_bytes()).hexdigest()
            == manifest[f"{s}_sha256"]
            for s in ("train", "test", "row_ids")
        )
    except (OSError, ValueError, KeyError):
        return False


# --------------------------------------------------------------------------- local


def test_sigterm_while_the_commit_waits_keeps_the_earlier_output(
    raw_inputs: dict[str, Path], tmp_path: Path
) -> None:
    prefix = tmp_path / "features"
    assert _preprocess(raw_inputs["small"], str(prefix), tmp_path / "x1").rc == 0
    earlier = _local_state(prefix)
    lock = prefix / ".features.json.lock"  # another committer holds the manifest
    lock.touch()
    proc = _popen_stage("preprocessor", ["--input", str(raw_inputs["small"]), "--output-prefix", str(prefix),
                                         "--seed", "7"], tmp_path / "x2", {})  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        # The new train, test and row ids objects.
        while len(set(p.name for p in prefix.iterdir() if not p.name.startswith(".")) - set(earlier)) < 3:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the new splits never appeared"
            time.sleep(0.05)
        # Both new splits are stored, the commit has not happened: the old features_uri still works.
        assert (
            _readable_locally(prefix) and (prefix / "features.json").read_bytes() == earlier["features.json"]
        )
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        lock.unlink(missing_ok=True)
    assert proc.returncode == 143, err[-3000:]
    assert _local_state(prefix) == earlier, "the failed rewrite changed the earlier output"
    assert _readable_locally(prefix)


def test_disk_full_mid_rewrite_keeps_the_earlier_output(raw_inputs: dict[str, Path], tmp_path: Path) -> None:
    with mounts.tmpfs(tmp_path / "disk", "384k") as disk:
        prefix = disk / "features"
        assert _preprocess(raw_inputs["small"], str(prefix), tmp_path / "x1").rc == 0
        earlier = _local_state(prefix)
        run = _preprocess(raw_inputs["full"], str(prefix), tmp_path / "x2")  # ~1.4 MB of splits
        assert_bad_input(run, "no space left on the device holding", str(prefix))
        assert _local_state(prefix) == earlier, "a full disk damaged the earlier output or left files"
        assert _readable_locally(prefix)


def test_a_rewrite_replaces_the_output_then_removes_what_it_superseded(
    raw_inputs: dict[str, Path], tmp_path: Path
) -> None:
    prefix = tmp_path / "features"
    first = _preprocess(raw_inputs["small"], str(prefix), tmp_path / "x1")
    second = _preprocess(raw_inputs["small"], str(prefix), tmp_path / "x2", "--seed", "7")
    assert first.rc == 0 and second.rc == 0, second.stderr
    names = {p.name for p in prefix.iterdir()}
    manifest = json.loads((prefix / "features.json").read_text())
    new = {manifest[f"{part}_uri"].rsplit("/", 1)[1] for part in ("train", "test", "row_ids")}
    assert names == {"features.json", *new}, names
    assert _readable_locally(prefix)
    for which in ("train", "test"):
        stored = Path(second.xcom[f"{which}_uri"].removeprefix("file://")).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == second.xcom[f"{which}_sha256"]


# --------------------------------------------------------------------------- gs://


def _gcs_state(gcs: GcsEmulator, prefix: str) -> dict[str, Any]:
    return {b.name: (b.generation, b.md5_hash) for b in gcs.client().list_blobs(DATA_BUCKET, prefix=prefix)}


def _readable_on_gcs(gcs: GcsEmulator, key: str) -> bool:
    bucket = gcs.client().bucket(DATA_BUCKET)
    try:
        manifest = json.loads(bucket.blob(f"{key}/features.json").download_as_bytes())
        for split in ("train", "test", "row_ids"):
            name = manifest[f"{split}_uri"].removeprefix(f"gs://{DATA_BUCKET}/")
            if (
                hashlib.sha256(bucket.blob(name).download_as_bytes()).hexdigest()
                != manifest[f"{split}_sha256"]
            ):
                return False
        return True
    except Exception:
        return False


@pytest.fixture
def gcs_prefix(gcs_emulator: GcsEmulator, raw_inputs: dict[str, Path], tmp_path: Path) -> dict[str, Any]:
    """A prefix on the emulator holding a complete earlier output."""
    key = f"reliability/replace-{uuid.uuid4().hex[:8]}/features"
    uri = f"gs://{DATA_BUCKET}/{key}"
    assert _preprocess(raw_inputs["small"], uri, tmp_path / "x0", env=_gcs_env(gcs_emulator)).rc == 0
    return {"key": key, "uri": uri, "earlier": _gcs_state(gcs_emulator, key)}


def test_gcs_error_on_the_second_split_keeps_the_earlier_output(
    gcs_emulator: GcsEmulator, gcs_prefix: dict[str, Any], raw_inputs: dict[str, Path], tmp_path: Path
) -> None:
    name = f'"name": "{gcs_prefix["key"]}/test'.encode()

    def rule(method: str, path: str, body: bytes) -> int | None:
        return 403 if method == "POST" and name in body else None

    with FaultProxy(gcs_emulator.url, rule) as proxy:
        env = {**_gcs_env(gcs_emulator), "STORAGE_EMULATOR_HOST": proxy.url}
        run = _preprocess(raw_inputs["small"], gcs_prefix["uri"], tmp_path / "x", "--seed", "7", env=env)
        assert proxy.seen.faulted(), "the fault was never injected"
    assert_bad_input(run, "permission denied", "/test-")
    assert _gcs_state(gcs_emulator, gcs_prefix["key"]) == gcs_prefix["earlier"]
    assert _readable_on_gcs(gcs_emulator, gcs_prefix["key"])


def test_sigterm_while_the_manifest_upload_hangs_keeps_the_earlier_output(
    gcs_emulator: GcsEmulator, gcs_prefix: dict[str, Any], raw_inputs: dict[str, Path], tmp_path: Path
) -> None:
    name = f'"name": "{gcs_prefix["key"]}/features.json"'.encode()

    def rule(method: str, path: str, body: bytes) -> int | None:
        return HANG if method == "POST" and name in body else None

    with FaultProxy(gcs_emulator.url, rule) as proxy:
        env = {**_gcs_env(gcs_emulator), "STORAGE_EMULATOR_HOST": proxy.url}
        args = ["--input", str(raw_inputs["small"]), "--output-prefix", gcs_prefix["uri"], "--seed", "7"]
        proc = _popen_stage("preprocessor", args, tmp_path / "x", env)
        try:
            deadline = time.monotonic() + 120
            while not proxy.seen.faulted():
                assert proc.poll() is None and time.monotonic() < deadline, (
                    "the manifest upload never started"
                )
                time.sleep(0.05)
            # Both new splits are stored, the manifest is not swapped: the old features_uri works.
            assert _readable_on_gcs(gcs_emulator, gcs_prefix["key"])
            # The earlier manifest, splits and row ids, and the new splits and row ids.
            assert len(_gcs_state(gcs_emulator, gcs_prefix["key"])) == 7
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert _gcs_state(gcs_emulator, gcs_prefix["key"]) == gcs_prefix["earlier"]


def test_full_tmpdir_for_a_gcs_rewrite_is_one_line_and_keeps_the_earlier_output(
    gcs_emulator: GcsEmulator, gcs_prefix: dict[str, Any], raw_inputs: dict[str, Path], tmp_path: Path
) -> None:
    with mounts.tmpfs(tmp_path / "tmp", "64k") as tmpdir:
        mounts.fill(tmpdir, leave=8192)  # room for tempfile's probe of TMPDIR, not for a split
        env = {**_gcs_env(gcs_emulator), "TMPDIR": str(tmpdir)}
        run = _preprocess(raw_inputs["small"], gcs_prefix["uri"], tmp_path / "x", "--seed", "7", env=env)
    assert_bad_input(run, "no space left on the device holding", "TMPDIR", gcs_prefix["uri"])
    assert _gcs_state(gcs_emulator, gcs_prefix["key"]) == gcs_prefix["earlier"]
