"""Fixtures shared by the reliability tier's test files."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.stages import CENSUS_CSV_GZ, run_stage
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


@pytest.fixture(scope="session")
def big_csv_gz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The census rows ten times over (325k rows): long enough to be stopped half-way."""
    with gzip.open(CENSUS_CSV_GZ, "rt") as fh:
        header, *rows = fh.readlines()
    path = tmp_path_factory.mktemp("big") / "census_x10.csv.gz"
    with gzip.open(path, "wt", compresslevel=1) as fh:
        fh.write(header)
        for _ in range(10):
            fh.writelines(rows)
    return path
