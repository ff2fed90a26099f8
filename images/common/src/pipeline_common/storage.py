"""Reading and atomic writing of objects on GCS or local disk.

A consumer never sees a half-written output: local files are written beside the target and
renamed into place; a GCS object upload is atomic by itself (the object appears when finalised).
A commit can be conditional on the version the writer saw (versions.py), so two writers of one
key cannot both succeed. Outputs made of several objects commit by writing their manifest last
(see OutputSet). Every failure a user or operator can cause (a missing object, a denied bucket,
a full or read-only disk) becomes one StageError naming the location and the fix.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipeline_common import os_errors, timing, versions
from pipeline_common.errors import StageError
from pipeline_common.uris import Location, filesystem
from pipeline_common.versions import ANY, Version

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def _translate(exc: Exception, loc: Location, action: str) -> StageError:
    """Turn storage exceptions into errors that name the location and the fix."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, StageError):
        return exc
    if loc.scheme == "file" and (translated := os_errors.translate(exc, loc.path)) is not None:
        return translated
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


def require_writable(loc: Location) -> None:
    """Fail before any work when an output cannot be written: a missing bucket, a local directory
    that is read-only, not writable for this user or a file, or the stage's own result file
    (return.json would replace it). Reads nothing, writes nothing."""
    if loc.scheme != "file":
        require_bucket(loc)
        return
    from pipeline_common.uris import same_file
    from pipeline_common.xcom import result_path

    result = Location("file", str(result_path()))
    if same_file(loc, result) or (same_file(loc.parent, result.parent) and loc.name == result.name):
        raise StageError(
            f"{loc.uri} is the stage's result file (XCOM_DIR/return.json)", "write the output elsewhere"
        )
    require_local_writable(Path(loc.path))


def require_local_writable(path: Path) -> None:
    """Fail unless `path` can be created or replaced: the nearest existing directory on its way
    must be a writable directory (examined, not written)."""
    if path.is_dir():
        raise _os_error(errno.EISDIR, path)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise _os_error(errno.ENOTDIR, path)
    if not os.access(parent, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
        raise _os_error(errno.EROFS if read_only else errno.EACCES, path)


def _os_error(code: int, path: Path) -> StageError:
    translated = os_errors.translate(OSError(code, os.strerror(code)), path)
    assert translated is not None  # every code used here is in os_errors' table
    return translated


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


def version_of(loc: Location) -> Version | None:
    """The version of the object now (GCS generation, local file identity); None if absent."""
    try:
        return versions.version_of(loc)
    except Exception as exc:
        raise _translate(exc, loc, "check") from exc


class Written:
    """What was committed: location, byte size, sha256, and the version stored (versions.py)."""

    def __init__(
        self, loc: Location, nbytes: int, sha256: str, version: Version | None = None, created: float = 0.0
    ) -> None:
        self.loc, self.bytes, self.sha256 = loc, nbytes, sha256
        self.version, self.created = version, created


def _commit(local: Path, loc: Location, expect: Any = ANY, digest: str | None = None) -> Written:
    nbytes, digest = local.stat().st_size, digest or sha256_file(local)
    try:
        stored = versions.commit(local, loc, expect)
    except Exception as exc:
        raise _translate(exc, loc, "write") from exc
    log.info("wrote %s (%.1f MB)", loc.uri, nbytes / 1e6)
    return Written(loc, nbytes, digest, stored.version, stored.created)


def _temp_file(loc: Location) -> Path:
    """An empty temp file beside a local target (atomic rename) or in TMPDIR for GCS."""
    if loc.scheme == "file":
        directory: Path | None = Path(loc.path).parent
        where = loc.path
    else:
        directory, where = None, f"{tempfile.gettempdir()} (TMPDIR, the local copy of {loc.uri})"
    try:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{loc.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise os_errors.translate(exc, where) or _translate(exc, loc, "write") from exc
    os.close(fd)
    return Path(tmp)


@contextlib.contextmanager
def _writing(loc: Location, tmp: Path) -> Iterator[None]:
    """OS errors while the caller writes the temp file, as one line naming the output."""
    try:
        yield
    except OSError as exc:
        where = loc.path if loc.scheme == "file" else f"{tmp} (TMPDIR, the local copy of {loc.uri})"
        translated = os_errors.translate(exc, where)
        if translated is None:
            raise
        raise translated from exc


@contextlib.contextmanager
def atomic_output(loc: Location, result: list[Written] | None = None, *, expect: Any = ANY) -> Iterator[Path]:
    """Yield a local temp path to write; on success move it to `loc`, on failure leave nothing.

    `expect`: the version `loc` must still have when the file is committed (None: it must not
    exist; ANY, the default: no condition), else versions.Conflict and nothing is written.
    """
    tmp_path = _temp_file(loc)
    try:
        with _writing(loc, tmp_path):
            yield tmp_path
        written = _commit(tmp_path, loc, expect)
        if result is not None:
            result.append(written)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def content_addressed_output(
    prefix: Location, stem: str, suffix: str, result: list[Written]
) -> Iterator[Path]:
    """Like atomic_output, but the object is named `<stem>-<sha256[:12]><suffix>` under `prefix`
    once its bytes are known: a new version never replaces the object an earlier manifest
    names, and the same bytes always get the same name (a retry writes the same keys)."""
    plain = prefix.join(f"{stem}{suffix}")  # the temp file goes beside it, in the final directory
    tmp_path = _temp_file(plain)
    try:
        with _writing(plain, tmp_path):
            yield tmp_path
        digest = sha256_file(tmp_path)
        result.append(_commit(tmp_path, prefix.join(f"{stem}-{digest[:12]}{suffix}"), digest=digest))
    finally:
        tmp_path.unlink(missing_ok=True)


def remove_if_unchanged(loc: Location, version: Version) -> bool:
    """Remove `loc` only if it still holds `version`: never someone else's newer object."""
    try:
        return versions.remove_if(loc, version)
    except Exception as exc:
        raise _translate(exc, loc, "remove") from exc


def listing(prefix: Location) -> list[versions.Stored]:
    """The objects directly under `prefix`, with their versions and creation times."""
    try:
        return versions.listing(prefix)
    except Exception as exc:
        raise _translate(exc, prefix, "list") from exc


def write_json(loc: Location, obj: Any) -> Written:
    box: list[Written] = []
    with atomic_output(loc, box) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return box[0]


class OutputSet:
    """Several objects that form one output. If anything fails before `commit`, the objects
    written so far in this attempt are removed, so no partial output stays behind.

    Only the versions this attempt wrote are removed (a concurrent writer's newer object of the
    same name stays), and never an object `keep()` names: what the committed output refers to
    at that moment (content-addressed objects are shared by every writer of the same bytes)."""

    def __init__(self, keep: Callable[[], set[Location]] | None = None) -> None:
        self.written: list[Written] = []
        self._committed = False
        self._keep = keep

    @contextlib.contextmanager
    def output(self, loc: Location, *, expect: Any = ANY) -> Iterator[Path]:
        with atomic_output(loc, self.written, expect=expect) as tmp:
            yield tmp

    @contextlib.contextmanager
    def content_addressed(self, prefix: Location, stem: str, suffix: str) -> Iterator[Path]:
        with content_addressed_output(prefix, stem, suffix, self.written) as tmp:
            yield tmp

    def commit(self) -> None:
        self._committed = True

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None or self._committed or not self.written:
            return
        try:
            keep = self._keep() if self._keep else set()
        except Exception as problem:  # cannot tell what is shared: keep everything, say so
            log.warning("partial outputs kept: cannot read what the committed output names (%s)", problem)
            return
        for item in reversed(self.written):
            if item.loc in keep or item.version is None:
                continue
            try:
                if remove_if_unchanged(item.loc, item.version):
                    log.warning("removed partial output %s", item.loc.uri)
            except Exception as problem:
                log.warning("could not remove partial output %s (%s)", item.loc.uri, problem)
