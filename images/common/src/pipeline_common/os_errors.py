"""Operating-system errors a user or an operator can cause, as one line that names the path and
the fix: a full disk, a read-only mount, a directory the stage's user may not write, a path that
is not what it should be. Anything else stays a bug (exit 1 with its traceback).

pyarrow raises its I/O failures as OSError subclasses without errno; their text carries the
strerror ("No space left on device"), so the text is matched too.
"""

from __future__ import annotations

import errno
import os

from pipeline_common.errors import StageError

_BY_ERRNO: dict[int, tuple[str, str]] = {
    errno.ENOSPC: (
        "no space left on the device holding {path}",
        "free space there, or give the stage a larger volume (emptyDir sizeLimit, "
        "ephemeral-storage request) and re-run",
    ),
    errno.EDQUOT: (
        "the disk quota of the device holding {path} is exhausted",
        "free space or raise the quota, then re-run",
    ),
    errno.EROFS: (
        "{path} is on a read-only filesystem",
        "write to a writable volume (the images write only /tmp and /airflow/xcom) or mount it read-write",
    ),
    errno.EACCES: (
        "permission denied on {path}",
        "make the directory writable for the stage's user (uid {uid}; fsGroup in the pod) or write elsewhere",
    ),
    errno.EPERM: (
        "operation not permitted on {path}",
        "make the directory writable for the stage's user (uid {uid}; fsGroup in the pod) or write elsewhere",
    ),
    errno.EISDIR: ("{path} is a directory", "name a file, not a directory"),
    errno.ENOTDIR: ("a parent of {path} is a file, not a directory", "fix the path"),
    errno.ENAMETOOLONG: ("the path {path} is too long for the filesystem", "use a shorter path"),
    errno.ELOOP: ("{path} is a symbolic link loop", "fix the link or the path"),
    errno.EIO: (
        "input/output error on {path} (the disk or network filesystem failed)",
        "check the volume, then re-run",
    ),
}
# Text pyarrow and others put in errors that carry no errno.
_BY_TEXT = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES,
}


def _errno_of(exc: BaseException) -> int | None:
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code in _BY_ERRNO:
        return code
    text = str(exc)
    return next((code for needle, code in _BY_TEXT.items() if needle in text), None)


def translate(exc: BaseException, path: str | os.PathLike[str] | None = None) -> StageError | None:
    """The StageError for an OS error a user or operator can fix, or None if it is not one.

    `path` is what the stage was writing (its output, not a temporary name) when the error does
    not carry a file name of its own."""
    if not isinstance(exc, OSError):
        return None
    code = _errno_of(exc)
    if code is None:
        return None
    where = path if path is not None else (exc.filename or "a file the stage writes")
    problem, fix = _BY_ERRNO[code]
    return StageError(problem.format(path=os.fspath(where)), fix.format(uid=os.getuid()))
