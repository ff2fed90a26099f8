"""The real census split for trainer tests: the shipped CSV through the real extractor and
preprocessor CLIs, once per test process."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any

from tests.helpers.stages import CENSUS_CSV_GZ, run_stage


@functools.cache
def census_features() -> dict[str, Any]:
    """The preprocessor's return.json (features_uri, train/test URIs) for the shipped census data."""
    base = Path(tempfile.mkdtemp(prefix="trainer-census-"))
    extract = run_stage(
        "extractor",
        ["--source", str(CENSUS_CSV_GZ), "--output", str(base / "raw.parquet")],
        xcom_dir=base / "x1",
    )
    assert extract.rc == 0 and extract.xcom, extract.stderr
    pre = run_stage(
        "preprocessor",
        ["--input", extract.xcom["raw_uri"], "--output-prefix", str(base / "features")],
        xcom_dir=base / "x2",
    )
    assert pre.rc == 0 and pre.xcom, pre.stderr
    return pre.xcom


def manifest() -> dict[str, Any]:
    return json.loads(Path(census_features()["features_uri"].removeprefix("file://")).read_text())
