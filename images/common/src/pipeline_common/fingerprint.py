"""Content hashes for cache keys: a stage reuses an earlier output only when its input, its
parameters, the dataset spec and its own code are the same, never because a version string matches.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

# The Parquet key-value metadata key of the extractor's provenance stamp (its cache key and the
# source it read); the preprocessor reads the source from it for the features manifest.
EXTRACT_STAMP_KEY = b"census_pipeline.extract"


@functools.cache
def code_fingerprint(*packages: str) -> str:
    """sha256 over the Python source of `packages` (relative path and bytes of every .py file).

    Editing any module of a stage (or of pipeline_common) changes it; byte-compiled files, caches
    and the install location do not. A few milliseconds for a stage's ~20 files.
    """
    digest = hashlib.sha256()
    for package in sorted(set(packages)):
        root = Path(str(resources.files(package)))
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def cache_key(**parts: Any) -> str:
    """sha256 of the parts as canonical JSON: every input that decides an output's bytes."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
