"""Compare-and-swap on stored objects: which version of an object a writer saw, a commit that
lands only if the object is still that version, and a removal that only takes the version it
names. Two writers of one key then cannot both succeed, and a result always describes the bytes
that are stored (docs/reliability.md, "Concurrent writers").

On gs:// a version is the object's generation and the checks are GCS preconditions
(ifGenerationMatch, evaluated by the server). Locally it is the file's identity (device, inode,
mtime, size); the check and the rename happen under an exclusive lock file created beside the
target (O_CREAT|O_EXCL), held for the few microseconds of check + rename.

Errors other than a lost race are raised as they come; storage.py translates them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pipeline_common.errors import StageError
from pipeline_common.uris import Location, filesystem

Version = int | tuple[int, int, int, int]
ANY = object()  # no precondition: the commit replaces whatever is there
# Local lock: a holder keeps it for microseconds, so one older than this was left by a killed
# process (SIGKILL between create and unlink) and is broken.
LOCK_STALE_SECONDS = 30.0
LOCK_WAIT_SECONDS = 10.0
# One request up to this size (GCS's multipart upload); larger objects are sent resumably.
SIMPLE_UPLOAD_MAX = 32 << 20
CHUNK = 16 << 20  # resumable chunk, a multiple of 256 KiB as GCS requires
OCTETS = "application/octet-stream"


class Conflict(StageError):
    """Another writer changed the object between this run's read and its commit."""

    def __init__(self, loc: Location) -> None:
        super().__init__(
            f"another run replaced {loc.uri} while this one was writing it; this run's output "
            "was not committed",
            "let one task write each output (two DAG runs or tasks share this key?), then re-run "
            "this task: it starts from what is stored now",
        )


@dataclass(frozen=True)
class Stored:
    """One stored object: where, which version, and when that version was created (epoch s)."""

    loc: Location
    version: Version
    created: float


# --------------------------------------------------------------------------- local files


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _local_version(path: Path) -> Version | None:
    try:
        return _identity(path.stat())
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def _local_lock(target: Path) -> Iterator[None]:
    """Exclusive create of `.<name>.lock` beside the target: one committer at a time."""
    lock = target.with_name(f".{target.name}.lock")
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            break
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - lock.stat().st_mtime > LOCK_STALE_SECONDS:
                    lock.unlink()
                    continue
            if time.monotonic() > deadline:
                raise StageError(
                    f"{lock} has been held for over {LOCK_WAIT_SECONDS:.0f} s",
                    "another run is committing the same output; re-run this task when it ends",
                ) from None
            time.sleep(0.02)
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _local_commit(tmp: Path, loc: Location, expect: Any) -> Stored:
    target = Path(loc.path)
    with _local_lock(target):
        if expect is not ANY and _local_version(target) != expect:
            raise Conflict(loc)
        os.replace(tmp, target)  # same directory: atomic
        st = target.stat()
    return Stored(loc, _identity(st), st.st_mtime)


def _local_remove_if(loc: Location, version: Version) -> bool:
    target = Path(loc.path)
    with _local_lock(target):
        if _local_version(target) != version:
            return False
        target.unlink()
    return True


def _local_listing(prefix: Location) -> list[Stored]:
    out = []
    try:
        entries = list(os.scandir(prefix.path))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            out.append(Stored(prefix.join(entry.name), _identity(st), st.st_mtime))
    return out


# --------------------------------------------------------------------------- gs://


def _split(loc: Location) -> tuple[str, str]:
    bucket, key = loc.path.split("/", 1)
    return bucket, key


def _created(resource: dict[str, Any]) -> float:
    return datetime.fromisoformat(resource["timeCreated"].replace("Z", "+00:00")).timestamp()


def _gcs_stat(loc: Location) -> dict[str, Any] | None:
    bucket, key = _split(loc)
    try:
        return filesystem("gs").call("GET", "b/{}/o/{}", bucket, key, json_out=True)
    except FileNotFoundError:
        return None


def _md5_b64(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode()


def _gcs_upload(tmp: Path, loc: Location, expect: Any) -> dict[str, Any]:
    """Upload with ifGenerationMatch (0: only if absent); returns the object resource."""
    from fsspec.asyn import sync
    from gcsfs.core import upload_chunk

    fs = filesystem("gs")
    bucket, key = _split(loc)
    condition = {} if expect is ANY else {"ifGenerationMatch": str(expect or 0)}
    size = tmp.stat().st_size
    url = f"{fs._location}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
    try:
        if size <= SIMPLE_UPLOAD_MAX:
            head = (
                "--==0==\nContent-Type: application/json; charset=UTF-8\n\n"
                + json.dumps({"name": key})
                + f"\n--==0==\nContent-Type: {OCTETS}\n\n"
            ).encode()
            body = head + tmp.read_bytes() + b"\n--==0==--"
            resource = fs.call(
                "POST", url, uploadType="multipart", data=body, json_out=True,
                headers={"Content-Type": 'multipart/related; boundary="==0=="'}, **condition,
            )  # fmt: skip
        else:
            # The precondition is checked when the session starts and again when it finalises.
            headers, _ = fs.call(
                "POST", f"{url}?name={quote(key, safe='')}", uploadType="resumable", json={"name": key},
                headers={"X-Upload-Content-Type": OCTETS}, **condition,
            )  # fmt: skip
            location = headers["Location"]
            resource, offset = None, 0
            with open(tmp, "rb") as fh:
                while block := fh.read(CHUNK):
                    resource = sync(fs.loop, upload_chunk, fs, location, block, offset, size, OCTETS)
                    offset += len(block)
    except FileExistsError:
        # 412: the generation changed, unless this very upload landed and its response was lost
        # (gcsfs retried the request): then the object holds our bytes.
        current = _gcs_stat(loc)
        if current is not None and current.get("md5Hash") == _md5_b64(tmp):
            return current
        raise Conflict(loc) from None
    finally:
        fs.invalidate_cache(loc.path)
    return resource if isinstance(resource, dict) and "generation" in resource else (_gcs_stat(loc) or {})


def _gcs_remove_if(loc: Location, version: Version) -> bool:
    fs = filesystem("gs")
    bucket, key = _split(loc)
    try:
        fs.call("DELETE", "b/{}/o/{}", bucket, key, ifGenerationMatch=str(version))
    except (FileExistsError, FileNotFoundError):  # 412: replaced since; 404: already gone
        return False
    finally:
        fs.invalidate_cache(loc.path)
    return True


def _gcs_listing(prefix: Location) -> list[Stored]:
    """Objects directly under the prefix (one level, like a directory listing)."""
    fs = filesystem("gs")
    bucket, key = _split(prefix)
    out, token = [], None
    while True:
        page = fs.call(
            "GET", "b/{}/o", bucket, prefix=f"{key}/", delimiter="/", pageToken=token, json_out=True
        )
        for item in page.get("items", []):
            loc = Location("gs", f"{bucket}/{item['name']}")
            out.append(Stored(loc, int(item["generation"]), _created(item)))
        token = page.get("nextPageToken")
        if not token:
            return out


# --------------------------------------------------------------------------- either


def version_of(loc: Location) -> Version | None:
    """The object's current version, None if it does not exist."""
    if loc.scheme == "file":
        return _local_version(Path(loc.path))
    found = _gcs_stat(loc)
    return None if found is None else int(found["generation"])


def commit(tmp: Path, loc: Location, expect: Any = ANY) -> Stored:
    """Move the finished local file `tmp` to `loc` if `loc` is still at version `expect`
    (None: absent; ANY: no condition). Conflict otherwise; `tmp` is consumed locally."""
    if loc.scheme == "file":
        return _local_commit(tmp, loc, expect)
    resource = _gcs_upload(tmp, loc, expect)
    return Stored(loc, int(resource["generation"]), _created(resource))


def remove_if(loc: Location, version: Version) -> bool:
    """Remove `loc` only if it is still at `version`; True if this call removed it."""
    if loc.scheme == "file":
        return _local_remove_if(loc, version)
    return _gcs_remove_if(loc, version)


def listing(prefix: Location) -> list[Stored]:
    """The objects directly under a prefix (a directory locally), with versions and times."""
    if prefix.scheme == "file":
        return _local_listing(prefix)
    return _gcs_listing(prefix)
