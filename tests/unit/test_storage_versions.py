"""Compare-and-swap commits, guarded removals, content-addressed outputs, OS errors as one line,
same-file checks and writability before work (pipeline_common: versions, storage, os_errors, uris)."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest
from pipeline_common import os_errors, storage, uris, versions
from pipeline_common.errors import StageError


def loc(path: Path) -> uris.Location:
    return uris.parse_location(str(path))


def test_a_commit_lands_only_on_the_version_it_saw(tmp_path: Path) -> None:
    out = loc(tmp_path / "out.bin")
    seen = storage.version_of(out)
    assert seen is None
    with storage.atomic_output(out, expect=seen) as tmp:
        tmp.write_bytes(b"first")
    first = storage.version_of(out)
    with (
        pytest.raises(versions.Conflict, match="another run replaced"),
        storage.atomic_output(out, expect=None) as tmp,
    ):
        tmp.write_bytes(b"second")  # expected it absent: someone wrote it meanwhile
    assert (tmp_path / "out.bin").read_bytes() == b"first"
    box: list[storage.Written] = []
    with storage.atomic_output(out, box, expect=first) as tmp:
        tmp.write_bytes(b"third")
    assert box[0].version == storage.version_of(out) != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"], "no temp or lock file stays"


def test_a_guarded_removal_spares_a_newer_version(tmp_path: Path) -> None:
    out = loc(tmp_path / "x")
    box: list[storage.Written] = []
    with storage.atomic_output(out, box) as tmp:
        tmp.write_bytes(b"mine")
    with storage.atomic_output(out) as tmp:
        tmp.write_bytes(b"theirs")
    assert storage.remove_if_unchanged(out, box[0].version) is False
    assert (tmp_path / "x").read_bytes() == b"theirs"
    assert storage.remove_if_unchanged(out, storage.version_of(out)) is True


def test_a_lock_left_by_a_killed_committer_is_broken_after_its_lease(tmp_path: Path) -> None:
    lock = tmp_path / ".out.bin.lock"
    lock.touch()
    old = time.time() - versions.LOCK_STALE_SECONDS - 1
    os.utime(lock, (old, old))
    with storage.atomic_output(loc(tmp_path / "out.bin")) as tmp:
        tmp.write_bytes(b"x")
    assert (tmp_path / "out.bin").read_bytes() == b"x" and not lock.exists()


def test_content_addressed_names_follow_the_bytes(tmp_path: Path) -> None:
    prefix = loc(tmp_path / "p")
    written: list[storage.Written] = []
    for _ in range(2):
        with storage.content_addressed_output(prefix, "train", ".parquet", written) as tmp:
            tmp.write_bytes(b"same bytes")
    assert (
        written[0].loc == written[1].loc and written[0].loc.name == f"train-{written[0].sha256[:12]}.parquet"
    )


def test_a_failed_output_set_keeps_what_the_committed_output_names(tmp_path: Path) -> None:
    prefix = loc(tmp_path / "p")
    shared = prefix.join("shared.bin")
    with pytest.raises(ValueError), storage.OutputSet(keep=lambda: {shared}) as out:
        with out.output(shared) as tmp:
            tmp.write_bytes(b"named by the committed manifest")
        with out.output(prefix.join("own.bin")) as tmp:
            tmp.write_bytes(b"only this attempt's")
        raise ValueError("failed before the commit")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["shared.bin"]


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "no space left on the device holding /data/out"),
        (errno.EROFS, "/data/out is on a read-only filesystem"),
        (errno.EACCES, "permission denied on /data/out"),
        (errno.EDQUOT, "quota"),
        (errno.ENOTDIR, "is a file, not a directory"),
    ],
)
def test_os_errors_a_user_can_fix_become_one_line(code: int, words: str) -> None:
    error = os_errors.translate(OSError(code, os.strerror(code)), "/data/out")
    assert error is not None and words in error.problem and error.fix
    assert os_errors.translate(OSError(errno.ECONNRESET, "reset"), "/x") is None  # not the user's to fix
    assert os_errors.translate(ValueError("no"), "/x") is None


def test_pyarrow_io_errors_without_errno_are_recognised_by_their_text() -> None:
    error = os_errors.translate(OSError("IOError: [Errno 28] No space left on device"), "/x/train.parquet")
    assert error is not None and "no space left" in error.problem


def test_an_unwritable_output_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StageError, match="is a file, not a directory"):
        storage.require_writable(loc(tmp_path / "file" / "out.parquet"))
    with pytest.raises(StageError, match="is a directory"):
        storage.require_writable(loc(tmp_path))
    monkeypatch.setenv("XCOM_DIR", str(tmp_path / "xcom"))
    with pytest.raises(StageError, match="result file"):
        storage.require_writable(loc(tmp_path / "xcom" / "return.json"))
    storage.require_writable(loc(tmp_path / "not" / "yet" / "there.parquet"))  # created on write


def test_same_file_compares_files_not_strings(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    os.link(tmp_path / "a", tmp_path / "b")
    assert uris.same_file(loc(tmp_path / "a"), loc(tmp_path / "b"))
    assert not uris.same_file(loc(tmp_path / "a"), loc(tmp_path / "missing"))
    assert uris.same_file(uris.parse_location("gcs://bkt/x/y"), uris.parse_location("gs://bkt/x/y"))


@pytest.mark.parametrize("uri", ["gs://bkt/a/../b.csv", "gs://bkt/./b.csv", "gs://bkt/a/./b"])
def test_dot_segments_are_refused_in_gs_uris(uri: str) -> None:
    with pytest.raises(StageError, match=r"'\.' or '\.\.' segment"):
        uris.parse_location(uri)
