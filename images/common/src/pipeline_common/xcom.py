"""The stage result: one small JSON object in $XCOM_DIR/return.json (KubernetesPodOperator's
xcom sidecar reads that file after the main container exits)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline_common import os_errors
from pipeline_common.errors import StageError

DEFAULT_XCOM_DIR = "/airflow/xcom"
# XCom rows live in the Airflow metadata DB: keep results to URIs and facts, never data.
MAX_BYTES = 64 * 1024


def xcom_dir() -> Path:
    return Path(os.environ.get("XCOM_DIR") or DEFAULT_XCOM_DIR)


def result_path() -> Path:
    return (xcom_dir() / "return.json").absolute()


def require_writable() -> None:
    """Fail before any work when return.json could not be written at the end (a read-only or
    foreign-owned XCOM_DIR): the stage's work would be done, and then lost to the task."""
    from pipeline_common.storage import require_local_writable

    try:
        require_local_writable(result_path())
    except StageError as exc:
        raise StageError(f"XCOM_DIR: {exc.problem}", exc.fix) from None


def write_result(result: dict[str, Any]) -> Path:
    """Write the result atomically; refuse NaN (invalid JSON) and oversized payloads."""
    text = json.dumps(result, sort_keys=True, allow_nan=False, default=str)
    if len(text.encode()) > MAX_BYTES:
        raise ValueError(
            f"return.json would be {len(text)} bytes (> {MAX_BYTES}); results carry URIs, not data"
        )
    target = result_path()
    directory = target.parent
    tmp = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".return.", suffix=".json", dir=directory)
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
        translated = os_errors.translate(exc, target)
        if translated is None:
            raise
        raise translated from exc
    return target
