"""Values a dataset spec lets through on purpose, said in the log (issue 16, class 2): a stated
tolerance drops a handful of invalid rows and names them; NULLs drop the row where the value is
required (the target included) and become the unknown category where the spec allows. The
refusals (impossible ages, negative hours, mislabelled targets, infinite measurements) are cases
of the bad-input matrix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.stages import ROOT, run_stage
from tests.reliability import bad_inputs as bad


def _preprocess(tmp_path: Path, raw: bytes, *extra: str) -> Any:
    (tmp_path / "raw.parquet").write_bytes(raw)
    args = ["--input", str(tmp_path / "raw.parquet"), "--output-prefix", str(tmp_path / "features"), *extra]
    return run_stage("preprocessor", args, xcom_dir=tmp_path / "x")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    run = _preprocess(tmp_path_factory.mktemp("baseline"), bad.parquet_bytes(bad.raw_frame()))
    assert run.rc == 0, run.stderr
    return run.xcom


def _rows(result: dict[str, Any]) -> int:
    return result["rows_train"] + result["rows_test"]


def test_a_stated_tolerance_drops_a_handful_and_names_them(baseline: dict[str, Any], tmp_path: Path) -> None:
    spec = tmp_path / "census.yaml"
    spec.write_text(
        (ROOT / "datasets" / "census.yaml").read_text().replace("max_invalid_rows: 0", "max_invalid_rows: 5")
    )
    run = _preprocess(tmp_path, bad.with_values("age", {3: 0, 4: -5, 5: 999}), "--dataset", str(spec))
    assert run.rc == 0, run.stderr[-2000:]
    assert "dropping 3 row(s) that break the data contract (max_invalid_rows 5 allows them)" in run.stderr
    assert "age: 3 row(s)" in run.stderr and _rows(run.xcom) == _rows(baseline) - 3
    # A handful gone: the positive rate barely moves (a mislabelled target would move it 4-fold).
    assert abs(run.xcom["positive_rate"] - baseline["positive_rate"]) < 0.005


def test_more_than_the_tolerance_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "census.yaml"
    spec.write_text(
        (ROOT / "datasets" / "census.yaml").read_text().replace("max_invalid_rows: 0", "max_invalid_rows: 2")
    )
    run = _preprocess(tmp_path, bad.with_values("age", {3: 0, 4: -5, 5: 999}), "--dataset", str(spec))
    assert run.rc == 2 and "in 3 row(s) (max_invalid_rows 2)" in run.stderr, run.stderr[-2000:]


@pytest.mark.parametrize(
    ("column", "rows", "dropped"),
    [("age", 4, 4), ("marital_status", 2, 2), ("workclass", 3, 0), ("native_country", 2, 0)],
)
def test_nulls_drop_the_row_or_become_unknown_as_the_spec_says(
    column: str, rows: int, dropped: int, baseline: dict[str, Any], tmp_path: Path
) -> None:
    run = _preprocess(tmp_path, bad.with_values(column, dict.fromkeys(range(10, 10 + rows))))
    assert run.rc == 0, run.stderr[-2000:]
    assert _rows(run.xcom) == _rows(baseline) - dropped
    assert f"kept {_rows(run.xcom)} of 2000 rows" in run.stderr
    if not dropped:  # a `missing: category` column: the row stays, its value is the unknown category
        manifest = json.loads(Path(run.xcom["features_uri"].removeprefix("file://")).read_text())
        assert f"{column}_Unknown" in manifest["features"]
