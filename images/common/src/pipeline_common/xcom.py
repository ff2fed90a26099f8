"""The stage result: one small JSON object in $XCOM_DIR/return.json (KubernetesPodOperator's
xcom sidecar reads that file after the main container exits)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

DEFAULT_XCOM_DIR = "/airflow/xcom"
# XCom rows live in the Airflow metadata DB: keep results to URIs and facts, never data.
MAX_BYTES = 64 * 1024


def xcom_dir() -> Path:
    return Path(os.environ.get("XCOM_DIR") or DEFAULT_XCOM_DIR)


def write_result(result: dict[str, Any]) -> Path:
    """Write the result atomically; refuse NaN (invalid JSON) and oversized payloads."""
    text = json.dumps(result, sort_keys=True, allow_nan=False, default=str)
    if len(text.encode()) > MAX_BYTES:
        raise ValueError(
            f"return.json would be {len(text)} bytes (> {MAX_BYTES}); results carry URIs, not data"
        )
    directory = xcom_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".return.", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    target = directory / "return.json"
    os.replace(tmp, target)
    return target
