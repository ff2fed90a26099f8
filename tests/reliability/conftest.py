"""Fixtures shared by the reliability tier's test files."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.stages import run_stage
from tests.reliability import bad_inputs as bad

# A grid of one small candidate: the faults are about the run's life, not the search.
TINY_GRID = "lgbm:\n  n_estimators: [20]\n  learning_rate: [0.1]\n  num_leaves: [15]\n  max_depth: [8]\n"
FIT_TIMEOUT = 600


@pytest.fixture(scope="session")
def features(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small real split (2,000 census rows through the preprocessor), local files, and a grid
    file of one candidate (`grid`)."""
    base = tmp_path_factory.mktemp("features")
    (base / "raw.parquet").write_bytes(bad.parquet_bytes(bad.raw_frame()))
    run = run_stage(
        "preprocessor",
        ["--input", str(base / "raw.parquet"), "--output-prefix", str(base / "features")],
        xcom_dir=base / "xcom",
    )
    assert run.rc == 0, run.stderr
    (base / "grid.yaml").write_text(TINY_GRID)
    return {**run.xcom, "grid": str(base / "grid.yaml")}
