"""Reading and atomic writing of objects on GCS or local disk.

A consumer never sees a half-written output: local files are written beside the target and
renamed into place; a GCS object upload is atomic by itself (the object appears when finalised).
Outputs made of several objects commit by writing their manifest last (see OutputSet).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline_common import timing
from pipeline_common.errors import StageError
from pipeline_common.uris import Location, filesystem

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def _translate(exc: Exception, loc: Location, action: str) -> StageError:
    """Turn storage exceptions into errors that name the location and the fix."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, FileNotFoundError) or "No such object" in text or "Not Found" in text:
        said_bucket = "bucket" in text.lower() and "not exist" in text.lower()
        if loc.scheme == "gs" and (said_bucket or _bucket_missing(loc)):
            return _no_bucket(loc)
        return StageError(
            f"cannot {action} {loc.uri}: it does not exist", "check the URI and the upstream stage"
        )
    if isinstance(exc, PermissionError) or "403" in text or "Forbidden" in text:
        return StageError(
            f"cannot {action} {loc.uri}: permission denied",
            "grant the stage's service account access to the bucket (Workload Identity) or fix the URI",
        )
    if _is_connection_error(exc):
        return _unreachable(loc, action, exc)
    return StageError(
        f"cannot {action} {loc.uri}: {text.splitlines()[0][:300]}", "check the URI and credentials"
    )


def _is_connection_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    # aiohttp's connector errors are OSErrors; FileNotFound/Permission are answers, not outages.
    refused = "cannot connect" in text or "connection refused" in text
    is_os = isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, PermissionError))
    return isinstance(exc, ConnectionError) or refused or (is_os and "connect" in text)


def _unreachable(loc: Location, action: str, exc: BaseException) -> StageError:
    first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
    return StageError(
        f"cannot {action} {loc.uri}: storage endpoint unreachable ({first})",
        "check network access to GCS, or STORAGE_EMULATOR_HOST when using the emulator",
    )


def _bucket_missing(loc: Location) -> bool:
    """True only if the bucket of a gs:// location is known not to exist (gcsfs reports a
    missing bucket and a missing object alike, as FileNotFoundError of the path)."""
    if loc.scheme != "gs":
        return False
    try:
        # Only a 404 of the bucket resource counts: fs.exists() would also say False for an
        # empty bucket the stage may not `buckets.get` (objectAdmin lacks that permission).
        filesystem("gs").call("GET", f"b/{loc.bucket}", json_out=True)
    except FileNotFoundError:
        return True
    except Exception as exc:
        if _is_connection_error(exc):
            raise _unreachable(loc, "reach", exc) from exc
        return False
    return False


def _no_bucket(loc: Location) -> StageError:
    problem = f"bucket {loc.bucket!r} of {loc.uri} does not exist"
    return StageError(problem, "create the bucket or fix the URI")


def require_bucket(loc: Location) -> None:
    """Fail before any work when an output's bucket does not exist (no-op for local paths)."""
    if _bucket_missing(loc):
        raise _no_bucket(loc)


def exists(loc: Location) -> bool:
    try:
        return bool(filesystem(loc.scheme).exists(loc.path))
    except Exception as exc:
        raise _translate(exc, loc, "check") from exc


def size(loc: Location) -> int:
    try:
        return int(filesystem(loc.scheme).size(loc.path))
    except Exception as exc:
        raise _translate(exc, loc, "stat") from exc


@contextlib.contextmanager
def open_read(loc: Location) -> Iterator[Any]:
    timing.first_work()
    try:
        fh = filesystem(loc.scheme).open(loc.path, "rb")
    except Exception as exc:
        raise _translate(exc, loc, "read") from exc
    with fh:
        yield fh


def read_bytes(loc: Location) -> bytes:
    with open_read(loc) as fh:
        return fh.read()


def read_json(loc: Location) -> Any:
    data = read_bytes(loc)
    try:
        return json.loads(data)
    except ValueError as exc:
        raise StageError(
            f"{loc.uri} is not valid JSON ({exc})", "point at the manifest the upstream stage wrote"
        ) from exc


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(loc: Location) -> str:
    digest = hashlib.sha256()
    with open_read(loc) as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def remove(loc: Location) -> None:
    with contextlib.suppress(FileNotFoundError):
        fs = filesystem(loc.scheme)
        if fs.exists(loc.path):
            fs.rm_file(loc.path)


class Written:
    """What was committed: location, byte size and sha256."""

    def __init__(self, loc: Location, nbytes: int, sha256: str) -> None:
        self.loc, self.bytes, self.sha256 = loc, nbytes, sha256


def _commit(local: Path, loc: Location) -> Written:
    nbytes, digest = local.stat().st_size, sha256_file(local)
    try:
        if loc.scheme == "file":
            target = Path(loc.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(local, target)  # same directory, so the rename is atomic
        else:
            filesystem("gs").put_file(str(local), loc.path)
    except Exception as exc:
        raise _translate(exc, loc, "write") from exc
    log.info("wrote %s (%.1f MB)", loc.uri, nbytes / 1e6)
    return Written(loc, nbytes, digest)


@contextlib.contextmanager
def atomic_output(loc: Location, result: list[Written] | None = None) -> Iterator[Path]:
    """Yield a local temp path to write; on success move it to `loc`, on failure leave nothing.

    The temp file sits beside a local target (atomic rename) or in TMPDIR for GCS.
    """
    if loc.scheme == "file":
        directory = Path(loc.path).parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _translate(exc, loc, "write") from exc
    else:
        directory = None
    fd, tmp = tempfile.mkstemp(prefix=f".{loc.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        written = _commit(tmp_path, loc)
        if result is not None:
            result.append(written)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(loc: Location, obj: Any) -> Written:
    box: list[Written] = []
    with atomic_output(loc, box) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return box[0]


class OutputSet:
    """Several objects that form one output. If anything fails before `commit`, the objects
    written so far in this attempt are removed, so no partial output stays behind."""

    def __init__(self) -> None:
        self.written: list[Written] = []
        self._committed = False

    @contextlib.contextmanager
    def output(self, loc: Location) -> Iterator[Path]:
        with atomic_output(loc, self.written) as tmp:
            yield tmp

    def commit(self) -> None:
        self._committed = True

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None and not self._committed:
            for item in reversed(self.written):
                try:
                    remove(item.loc)
                    log.warning("removed partial output %s", item.loc.uri)
                except Exception:
                    log.exception("could not remove partial output %s", item.loc.uri)
