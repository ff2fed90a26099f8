"""`make demo STORE=services` reads census from the BigQuery emulator, as the README says
("BigQuery -> gs:// -> MLflow"), with the env file `make services` writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.fixtures import servers
from tests.fixtures.servers import BigQueryEmulator
from tests.helpers.stages import ROOT


def test_demo_with_the_services_reads_the_bigquery_table(
    stage_env: dict[str, str], bigquery_emulator: BigQueryEmulator, tmp_path: Path
) -> None:
    env_file = tmp_path / "env.sh"
    # What scripts/services.py writes: the stages' environment and the census table's name.
    env_file.write_text(
        servers.export_lines({**stage_env, "CENSUS_BIGQUERY_TABLE": bigquery_emulator.census_table}) + "\n"
    )
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            "--store",
            "services",
            "--services-env",
            str(env_file),
            "--workdir",
            str(tmp_path / "demo"),
            "--models",
            "lgbm,logreg",
            "--experiment",
            "demo-on-services",
            "--model-name",
            "demo-on-services",  # the session's MLflow server is shared with other tests
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["source"] == f"bigquery://{bigquery_emulator.census_table}"
    assert summary["extract"]["read_api"] == "bigquery-storage" and summary["extract"]["rows"] == 32561
    assert summary["extract"]["raw_uri"].startswith(f"gs://{servers.DATA_BUCKET}/runs/demo/census/")
    assert summary["tracking_uri"] == stage_env["MLFLOW_TRACKING_URI"]
    # What a person reads is true: no line that contradicts what happened (issue 18).
    log = proc.stdout + proc.stderr
    assert "already exists" not in log  # the first registration of the model on a real server
    assert "Waiting up to" not in log  # MLflow's 300 s announcement for a sub-second registration
    assert "hashing" not in log  # a BigQuery read has no file to hash, the preprocessor says nothing
    assert "(1.0x fewer)" not in log and "nothing to share" in log  # the demo lgbm grid shares no fit
    assert log.count("(100%) elapsed") == 3, log  # the BigQuery read and both searches, once each
    first_progress = next(line for line in log.splitlines() if "cv fits: " in line)
    assert "ETA" not in first_progress  # no ETA before the warm-up
    # The run summary: built by promote, printed once by the demo (not in promote's log too).
    assert log.count("* best candidate: ") == 1 and "model card lgbm: runs:/" in proc.stdout
