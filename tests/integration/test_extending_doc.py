"""docs/extending.md, run as written: every `bash` block in order, in a copy of the repository,
against the local services (what `make services` would start), each checked for what it promises.

The copy gets the repository's tracked files (modification times kept, so `make venv` is up to
date) and uses the project venv; PYTHONPATH puts the copy's stage packages first, so a step the
document adds to feature_steps.py is the one that runs, and the copy's datasets/ and models/ are
the ones read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import servers
from tests.fixtures.servers import BigQueryEmulator
from tests.helpers.stages import ROOT

DOC = ROOT / "docs" / "extending.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```$", re.MULTILINE | re.DOTALL)
STRIPPED_ENV = ("MLFLOW_TRACKING_URI", "PIPELINE_CONFIG_DIR", "AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_DAG_RUN_ID")


def _copy_repository(dest: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / name.decode()
        if source.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (dest / ".venv").symlink_to(ROOT / ".venv")
    return dest


def _summary(repo: Path) -> dict[str, Any]:
    return json.loads((repo / ".demo" / "summary.json").read_text())


def _features(repo: Path) -> list[str]:
    uri = _summary(repo)["preprocess"]["features_uri"]
    return json.loads(Path(uri.removeprefix("file://")).read_text())["features"]


def _check_csv(repo: Path) -> None:
    summary = _summary(repo)
    assert (summary["dataset"], summary["target"]) == ("churn", "churned")
    assert summary["champion"]["model_name"] == "churn-churned"
    assert {f["model"] for f in summary["fits"]} == {"logreg", "lgbm"}
    assert summary["extract"]["rows"] == 800
    assert "region_Unknown" in _features(repo) and not any(
        f.startswith("customer_id") for f in _features(repo)
    )


def _check_bigquery(repo: Path) -> None:
    summary = _summary(repo)
    assert summary["source"].startswith("bigquery://") and summary["source"].endswith(".crm.churn")
    assert summary["extract"]["read_api"] == "bigquery-storage" and summary["extract"]["rows"] == 800


def _check_target(repo: Path) -> None:
    summary = _summary(repo)
    assert (summary["dataset"], summary["target"]) == ("census", "income_over_50k")
    assert summary["champion"]["model_name"] == "census-income-over-50k"


def _check_features(repo: Path) -> None:
    assert _features(repo)[-4:] == ["tenure_new", "tenure_settled", "tenure_loyal", "fee_per_call"]
    assert _summary(repo)["preprocess"]["cached"] is False


def _check_model(repo: Path) -> None:
    assert {f["model"] for f in _summary(repo)["fits"]} == {"forest", "logreg"}


# What each block promises, by a line the block holds; blocks that only write files have no check.
CHECKS = {
    "make demo DATASET=churn DEMO_SOURCE=churn.csv DEMO_MODELS=logreg,lgbm": _check_csv,
    "make demo STORE=services DATASET=churn": _check_bigquery,
    "make demo TARGET=income_over_50k": _check_target,
    "make demo DATASET=churn DEMO_SOURCE=churn.csv DEMO_MODELS=logreg\n": _check_features,
    "DEMO_MODELS=forest,logreg": _check_model,
}


def test_the_document_runs_as_written(
    stage_env: dict[str, str], bigquery_emulator: BigQueryEmulator, tmp_path: Path
) -> None:
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 7, "docs/extending.md lost its worked examples"
    checked = {key: False for key in CHECKS}
    repo = _copy_repository(tmp_path / "repo")
    # What `make services` writes: the stages' environment and the census table's name.
    (repo / ".services").mkdir()
    (repo / ".services" / "env.sh").write_text(
        servers.export_lines({**stage_env, "CENSUS_BIGQUERY_TABLE": bigquery_emulator.census_table}) + "\n"
    )
    packages = [str(repo / "images" / p / "src") for p in ("common", "extractor", "preprocessor", "trainer")]
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED_ENV}
    env["PYTHONPATH"] = os.pathsep.join(packages)
    for number, block in enumerate(blocks, 1):
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert proc.returncode == 0, (
            f"block {number} failed:\n{block}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        for key, check in CHECKS.items():
            if key in block + "\n":
                check(repo)
                checked[key] = True
    assert all(checked.values()), f"no block matched {[k for k, v in checked.items() if not v]}"


@pytest.mark.parametrize("name", ["datasets/README.md", "models/README.md"])
def test_the_document_links_the_key_references(name: str) -> None:
    assert f"../{name}" in DOC.read_text() and (ROOT / name).is_file()
