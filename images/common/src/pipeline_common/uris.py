"""Where data lives: `gs://bucket/key`, `file:///abs/path` or a plain local path.

The emulator switch is configuration only: with STORAGE_EMULATOR_HOST set, gs:// goes to that
endpoint with anonymous credentials; unset or empty, to real GCS with Application Default
Credentials (Workload Identity on GKE).
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipeline_common.errors import StageError

if TYPE_CHECKING:
    import fsspec

# GCS bucket naming rules (simplified: dotted names are allowed up to 222 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
URI_HELP = "use gs://BUCKET/path, file:///absolute/path or a local path"


@dataclass(frozen=True)
class Location:
    """A parsed storage location. `path` is `bucket/key` for gs, an absolute path for file."""

    scheme: str
    path: str

    @property
    def uri(self) -> str:
        return f"gs://{self.path}" if self.scheme == "gs" else f"file://{self.path}"

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)

    def join(self, *parts: str) -> Location:
        return Location(self.scheme, posixpath.join(self.path, *parts))

    @property
    def bucket(self) -> str:
        """The bucket of a gs:// location ('' for local paths)."""
        return self.path.split("/", 1)[0] if self.scheme == "gs" else ""

    @property
    def parent(self) -> Location:
        return Location(self.scheme, posixpath.dirname(self.path))

    def __str__(self) -> str:
        return self.uri


def parse_location(uri: str, *, what: str = "URI") -> Location:
    """Parse and validate a storage URI; raise a StageError that says how to write it."""
    if not uri or not uri.strip():
        raise StageError(f"{what} is empty", URI_HELP)
    uri = uri.strip()
    if "://" not in uri:
        return Location("file", str(Path(uri).expanduser().resolve()))
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise StageError(f"{what} {uri!r} names a host", "file URIs look like file:///absolute/path")
        return Location("file", str(Path(parts.path).resolve()))
    if scheme in ("gs", "gcs"):
        bucket, key = parts.netloc, parts.path.lstrip("/")
        if not _BUCKET.match(bucket or ""):
            raise StageError(f"{what} {uri!r} has an invalid bucket name {bucket!r}", URI_HELP)
        if not key or key.endswith("/") or "//" in key:
            raise StageError(
                f"{what} {uri!r} names no object", "give a full object path: gs://BUCKET/dir/file"
            )
        if any(part in (".", "..") for part in key.split("/")):
            # GCS stores 'a/../b' literally while tools that normalise paths read 'b': one URI
            # would name two objects, so a stage could not tell an input from its output.
            raise StageError(f"{what} {uri!r} has a '.' or '..' segment", "give the object path without them")
        return Location("gs", f"{bucket}/{key}")
    raise StageError(f"{what} {uri!r} has unsupported scheme {scheme!r}", URI_HELP)


def same_file(a: Location, b: Location) -> bool:
    """True when two locations are one object: equal after parsing (which resolves symlinks and
    normalises gs:// URIs), or two local paths of one file or directory by device and inode
    (a hard link, a bind mount). False when either does not exist."""
    if a == b:
        return True
    if a.scheme != "file" or b.scheme != "file":
        return False
    try:
        return os.path.samefile(a.path, b.path)
    except OSError:
        return False


def emulator_host() -> str | None:
    host = os.environ.get("STORAGE_EMULATOR_HOST", "").strip()
    return host or None


def filesystem(scheme: str) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem of a scheme, created once per process."""
    return _filesystem(scheme, emulator_host())


@functools.cache
def _filesystem(scheme: str, emulator: str | None) -> fsspec.AbstractFileSystem:
    if scheme == "file":
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(auto_mkdir=True)
    if emulator:
        # gcsfs otherwise probes a gRPC endpoint on every call (60 s timeouts against an emulator).
        os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
    import gcsfs

    if emulator:
        endpoint = emulator if "://" in emulator else f"http://{emulator}"
        return gcsfs.GCSFileSystem(token="anon", endpoint_url=endpoint)  # noqa: S106 - not a secret
    return gcsfs.GCSFileSystem()
