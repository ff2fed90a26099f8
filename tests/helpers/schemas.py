"""The pinned public schemas of schemas/schemas.lock, found and sha256-checked for the charts tier.

    path = schema_path("airflow-chart-values.schema.json")

Looked for, in order: $SCHEMAS_DIR, .cache/schemas/ (what `make schemas` fills), and
../shared/schemas/ beside the repository (a copy some workplace machines keep). A file counts only
with the sha256 the lock pins. Missing everywhere, the test fails with one line naming the fix.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "schemas" / "schemas.lock"


def pinned() -> dict[str, tuple[str, str]]:
    """NAME -> (URL, SHA256) from schemas/schemas.lock."""
    entries: dict[str, tuple[str, str]] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, url, sha = line.split()
            entries[name] = (url, sha)
    return entries


def search_dirs() -> list[Path]:
    dirs = [Path(os.environ["SCHEMAS_DIR"])] if os.environ.get("SCHEMAS_DIR") else []
    return [*dirs, ROOT / ".cache" / "schemas", ROOT.parent / "shared" / "schemas"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_schema(name: str) -> Path | None:
    """The first copy of `name` whose sha256 is the pinned one, or None."""
    _, sha = pinned()[name]
    for directory in search_dirs():
        candidate = directory / name
        if candidate.is_file() and _sha256(candidate) == sha:
            return candidate
    return None


def schema_path(name: str) -> Path:
    """Path of the pinned schema `name`; fails the calling test in one line when none is found."""
    path = find_schema(name)
    if path is None:
        import pytest

        looked = ", ".join(str(d) for d in search_dirs())
        pytest.fail(
            f"ERROR [charts] pinned schema {name} not found (looked in {looked}) "
            "| fix: run `make schemas` (or set SCHEMAS_DIR to a folder holding it)",
            pytrace=False,
        )
    return path
