"""Load on the tracking server: 8 trainer-like writers + 50 readers for a bounded time.

The server is the chart's image (census-pipeline/mlflow:0.1.0) when it is built, else
`mlflow server` from .venv, with the workers the chart allows per backend (1 on SQLite, 2 on
PostgreSQL) and artifacts proxied to the GCS emulator; backends SQLite (the chart's default) and
PostgreSQL (the chart's production backend).
Only zero failed requests is asserted; requests/s and p99 latency are printed and kept in
.artifacts/reliability/ for docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.mlflow_load import run_load, table
from tests.fixtures.servers import GcsEmulator
from tests.helpers.stages import ROOT
from tests.reliability.tracking_servers import Tracking, mlflow_tracking, postgres_server

WRITERS, READERS, SECONDS = 8, 50, 20.0
RESULTS = ROOT / ".artifacts" / "reliability"


@pytest.fixture(params=["sqlite", "postgresql"])
def tracking(request: pytest.FixtureRequest, gcs_emulator: GcsEmulator, tmp_path: Path) -> Iterator[Tracking]:
    workdir = tmp_path / f"load-{request.param}"
    workdir.mkdir()
    if request.param == "sqlite":
        # SQLite has one writer at a time: the chart runs a single worker on it (see values.yaml).
        uri = f"sqlite:///{workdir / 'mlflow.db'}"
        with mlflow_tracking(uri, "sqlite", gcs_emulator, workdir, workers=1) as server:
            yield server
    else:
        with postgres_server() as uri, mlflow_tracking(uri, "postgresql", gcs_emulator, workdir) as server:
            yield server


def test_8_writers_and_50_readers_without_a_failed_request(tracking: Tracking) -> None:
    summary = run_load(tracking.url, writers=WRITERS, readers=READERS, seconds=SECONDS)
    summary.update(
        {
            "server": tracking.kind,
            "backend": tracking.backend,
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        }
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"mlflow-load-{tracking.backend}.json").write_text(json.dumps(summary, indent=2) + "\n")
    title = (
        f"\nMLflow load ({tracking.kind}, {tracking.backend}, {tracking.workers} worker(s)): "
        f"{WRITERS} writers + {READERS} readers, "
        f"{summary['seconds']} s, {summary['runs_finished']} runs finished"
    )
    print(table(summary, title))
    assert summary["total"]["requests"] > 0 and summary["runs_finished"] > 0, summary
    assert summary["total"]["failures"] == 0, summary["failure_examples"]
