"""Run a pipeline stage CLI as a real process, the way a KubernetesPodOperator pod runs it.

result = run_stage("extractor", ["--source", src, "--output", out], xcom_dir=tmp_path / "xcom")
assert result.rc == 0, result.stderr
result.xcom["rows"]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
CENSUS_CSV_GZ = DATA / "census_adult_income.csv.gz"
CENSUS_TEST_CSV_GZ = DATA / "census_adult_income_test.csv.gz"
PENGUINS_CSV = DATA / "penguins.csv"
PROJECT_VERSION = (ROOT / "VERSION").read_text().strip()


@dataclass
class StageRun:
    rc: int
    xcom: dict[str, Any] | None  # parsed return.json, None if the stage wrote none
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("ERROR [")]


def run_stage(
    module: str,
    args: Sequence[str],
    *,
    xcom_dir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
) -> StageRun:
    """`python -m <module> args...` with XCOM_DIR=xcom_dir; any earlier return.json is removed first."""
    xcom_dir.mkdir(parents=True, exist_ok=True)
    result_file = xcom_dir / "return.json"
    result_file.unlink(missing_ok=True)
    full_env = {**os.environ, "XCOM_DIR": str(xcom_dir), "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    xcom = json.loads(result_file.read_text()) if result_file.exists() else None
    return StageRun(proc.returncode, xcom, proc.stdout, proc.stderr)


def assert_bad_input(run: StageRun, *words: str) -> str:
    """Exit 2, exactly one `ERROR [stage] problem | fix: ...` line naming `words`, no return.json."""
    assert run.rc == 2, f"rc={run.rc}\n{run.stderr}"
    assert len(run.error_lines) == 1, run.stderr
    line = run.error_lines[0]
    assert " | fix: " in line, line
    problem, fix = line.split(" | fix: ", 1)
    assert problem.strip() and fix.strip(), line
    for word in words:
        assert word.lower() in line.lower(), f"{word!r} not in {line!r}"
    assert run.xcom is None, run.xcom
    assert "Traceback" not in run.stderr, run.stderr
    return line
