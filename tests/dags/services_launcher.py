"""Start fake-gcs-server and an MLflow server for the DAG tier, from the project venv.

The Airflow venv lacks the servers' packages, so the DAG tests run this module with .venv's
Python (`python -m tests.dags.services_launcher LOG_DIR WORKDIR`). It reuses
tests/fixtures/servers.py and seeds the emulator the way the kind deploy does: the buckets and
the object k8s/gcs-seed-job.yaml uploads (its BUCKETS and SEED_URI, parsed from the Job; the same
bytes: data/census_adult_income.csv.gz decompressed). It prints one JSON line
({"gcs_url", "mlflow_url", "source"}: source is that seed object) and stops both servers when its
stdin closes or on SIGTERM.
"""

from __future__ import annotations

import gzip
import json
import signal
import sys
from pathlib import Path

import yaml

from tests.fixtures import servers

SEED_JOB = servers.ROOT / "k8s" / "gcs-seed-job.yaml"


def seed_job_env() -> dict[str, str]:
    """The env of the seed Job's container in k8s/gcs-seed-job.yaml (BUCKETS, SEED_FILE, SEED_URI)."""
    job = next(d for d in yaml.safe_load_all(SEED_JOB.read_text()) if d and d["kind"] == "Job")
    return {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


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
        env = seed_job_env()
        for bucket in env["BUCKETS"].split(","):
            gcs.create_bucket(bucket)
        workdir.mkdir(parents=True, exist_ok=True)
        seed = workdir / "seed.csv"
        seed.write_bytes(gzip.decompress(servers.census_csv_path().read_bytes()))  # as seed_gcs.py does
        bucket, _, name = env["SEED_URI"].removeprefix("gs://").partition("/")
        gcs.upload(bucket, name, seed)
        mlflow = servers.start_mlflow(gcs, workdir, log_dir)
        try:
            info = {"gcs_url": gcs.url, "mlflow_url": mlflow.url, "source": env["SEED_URI"]}
            print(json.dumps(info), flush=True)
            sys.stdin.read()  # returns when the test session closes the pipe (or dies)
        finally:
            mlflow.stop()
    finally:
        gcs.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
