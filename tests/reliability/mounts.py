"""Real filesystems for the OS-error and same-file tests: a tiny tmpfs (disk full), a read-only
mount, a bind mount (one directory under two paths), and a stage run as an unprivileged user
(permission denied). Mounting needs root with CAP_SYS_ADMIN (CI and the development container
have it); without it the tests skip and say so.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers.stages import StageRun

NOBODY = 65534


@functools.cache
def _mount_problem() -> str | None:
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    probe = Path(tempfile.mkdtemp(prefix="mount-probe-"))
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            return f"mount -t tmpfs failed: {done.stderr.strip()}"
        subprocess.run(["umount", str(probe)], check=True)
        return None
    finally:
        probe.rmdir()


def require_mounts() -> None:
    problem = _mount_problem()
    if problem:
        pytest.skip(f"{problem} | fix: run the reliability tier as root in a container with CAP_SYS_ADMIN")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


@contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `size` (e.g. 256k) at `path`, read-only when asked (after `prepare` ran)."""
    require_mounts()
    path.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    try:
        if read_only:
            _mount("-o", "remount,ro", str(path))
        yield path
    finally:
        _umount(path)


@contextmanager
def bind(source: Path, alias: Path, *, read_only: bool = False) -> Iterator[Path]:
    """`source` also reachable as `alias` (one directory, two paths; st_dev/st_ino equal)."""
    require_mounts()
    alias.mkdir(parents=True, exist_ok=True)
    _mount("--bind", str(source), str(alias))
    try:
        if read_only:
            _mount("-o", "remount,bind,ro", str(alias))
        yield alias
    finally:
        _umount(alias)


@contextmanager
def world_readable_dir() -> Iterator[Path]:
    """A directory another user can reach (pytest's tmp_path is under a 0700 directory)."""
    import shutil

    path = Path(tempfile.mkdtemp(prefix="reliability-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fill(path: Path, leave: int = 0) -> None:
    """Fill the filesystem holding directory `path`, then free `leave` bytes again.

    (Python's tempfile skips a TMPDIR where it cannot write a 4-byte probe, so a TMPDIR meant to
    be full for the stage's data must keep a page free.)"""
    filler = path / ".filler"
    with open(filler, "wb", buffering=0) as fh:
        try:
            while fh.write(b"\0" * 4096):
                pass
        except OSError:
            pass
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))


def run_as(
    uid: int, module: str, args: Sequence[str], *, xcom_dir: Path, env: Mapping[str, str] | None = None
) -> StageRun:
    """run_stage as another user (setpriv), as a pod with runAsUser would run it."""
    import json

    full = {**os.environ, "XCOM_DIR": str(xcom_dir), "PYTHONUNBUFFERED": "1", "HOME": "/tmp", **(env or {})}
    proc = subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
         sys.executable, "-m", module, *args],
        capture_output=True, text=True, env=full, timeout=300, check=False,
    )  # fmt: skip
    result = xcom_dir / "return.json"
    xcom = json.loads(result.read_text()) if result.exists() else None
    return StageRun(proc.returncode, xcom, proc.stdout, proc.stderr)
