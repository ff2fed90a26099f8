"""Start fake-gcs-server and an MLflow server for the DAG tier, from the project venv.

The Airflow venv lacks the servers' packages, so the DAG tests run this module with .venv's
Python (`python -m tests.dags.services_launcher LOG_DIR WORKDIR`). It reuses
tests/fixtures/servers.py and seeds the emulator the way the kind deploy does: the buckets and
the objects k8s/gcs-seed-job.yaml uploads (its BUCKETS and SEEDS, parsed from the Job; the same
bytes: the files of data/, a .gz decompressed). It prints one JSON line
({"gcs_url", "mlflow_url", "source"}: source is the census seed object) and stops both servers when
its stdin closes or on SIGTERM.
"""

from __future__ import annotations

import gzip
import json
import signal
import sys
from pathlib import Path

from tests.fixtures import servers
from tests.helpers import seed_job


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
        for bucket in seed_job.env()["BUCKETS"].split(","):
            gcs.create_bucket(bucket)
        workdir.mkdir(parents=True, exist_ok=True)
        for file_name, uri in seed_job.seeds().items():
            data = (servers.ROOT / "data" / file_name).read_bytes()
            seed = workdir / file_name.removesuffix(".gz")
            seed.write_bytes(gzip.decompress(data) if file_name.endswith(".gz") else data)  # as seed_gcs.py
            bucket, _, name = uri.removeprefix("gs://").partition("/")
            gcs.upload(bucket, name, seed)
        mlflow = servers.start_mlflow(gcs, workdir, log_dir)
        try:
            census = seed_job.seeds()["census_adult_income.csv.gz"]
            info = {"gcs_url": gcs.url, "mlflow_url": mlflow.url, "source": census}
            print(json.dumps(info), flush=True)
            sys.stdin.read()  # returns when the test session closes the pipe (or dies)
        finally:
            mlflow.stop()
    finally:
        gcs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
