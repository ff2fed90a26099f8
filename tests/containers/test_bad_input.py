"""A stage container given bad input fails like the contract says: exit 2, one ERROR line, no return.json."""

from __future__ import annotations

import pytest

from tests.containers.kpo import run_pod

BAD_RUNS = {
    "extractor": ("extract", ["--source", "/data/missing/census.csv", "--output", "/tmp/out/census.parquet"]),
    "preprocessor": ("preprocess", ["--input", "/data/missing/raw.parquet", "--output-prefix", "/tmp/out"]),
    "trainer": (
        "train",
        [
            "train",
            "--model",
            "lgbm",
            "--features-uri",
            "/data/missing/features.json",
            "--experiment",
            "census-bad-input",
            "--grid",
            "demo",
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_RUNS))
def test_bad_input_exits_2_with_one_error_line(built_images: dict[str, str], name: str, tmp_path) -> None:
    stage, args = BAD_RUNS[name]
    run = run_pod(
        built_images[name],
        args,
        stage=stage,
        xcom_parent=tmp_path,
        env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )
    assert run.returncode == 2, run.describe()
    assert len(run.error_lines()) == 1, run.describe()
    assert "| fix:" in run.error_lines()[0], run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    assert run.result is None, "a failed stage must not leave return.json"
