"""Start fake-gcs-server and an MLflow server for the DAG tier, from the project venv.

The Airflow venv lacks the servers' packages, so the DAG tests run this module with .venv's
Python (`python -m tests.dags.services_launcher LOG_DIR WORKDIR`). It reuses
tests/fixtures/servers.py, uploads the first SAMPLE_ROWS rows of the census CSV (gzipped, to keep
the DAG runs short) to the data bucket, prints one JSON line ({"gcs_url", "mlflow_url", "source"})
and stops both servers when its stdin closes or on SIGTERM.
"""

from __future__ import annotations

import gzip
import itertools
import json
import signal
import sys
from pathlib import Path

from tests.fixtures import servers

SAMPLE_ROWS = 8000


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(143)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m tests.dags.services_launcher LOG_DIR WORKDIR", file=sys.stderr)
        return 2
    log_dir, workdir = Path(argv[0]), Path(argv[1])
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    gcs = servers.start_gcs(log_dir)
    try:
        for bucket in (servers.DATA_BUCKET, servers.MLFLOW_BUCKET):
            gcs.create_bucket(bucket)
        sample = workdir / "census_sample.csv.gz"
        workdir.mkdir(parents=True, exist_ok=True)
        csv = servers.census_csv_path()
        opener = gzip.open if csv.suffix == ".gz" else open
        with opener(csv, "rt") as src, gzip.open(sample, "wt") as dst:
            dst.writelines(itertools.islice(src, SAMPLE_ROWS + 1))  # + the header line
        name = f"inputs/{sample.name}"
        gcs.upload(servers.DATA_BUCKET, name, sample)
        mlflow = servers.start_mlflow(gcs, workdir, log_dir)
        try:
            info = {
                "gcs_url": gcs.url,
                "mlflow_url": mlflow.url,
                "source": f"gs://{servers.DATA_BUCKET}/{name}",
            }
            print(json.dumps(info), flush=True)
            sys.stdin.read()  # returns when the test session closes the pipe (or dies)
        finally:
            mlflow.stop()
    finally:
        gcs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
