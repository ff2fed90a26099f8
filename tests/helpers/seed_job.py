"""k8s/gcs-seed-job.yaml as data: what it uploads where (its SEEDS env), parsed, never copied."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SEED_JOB = ROOT / "k8s" / "gcs-seed-job.yaml"


def job() -> dict:
    return next(d for d in yaml.safe_load_all(SEED_JOB.read_text()) if d and d["kind"] == "Job")


def env() -> dict[str, str]:
    """The env of the seed container (STORAGE_EMULATOR_HOST, BUCKETS, SEEDS, ...)."""
    return {e["name"]: e["value"] for e in job()["spec"]["template"]["spec"]["containers"][0]["env"]}


def seeds() -> dict[str, str]:
    """File name in the seed-data ConfigMap -> the gs:// URI the Job uploads it to."""
    out = {}
    for line in env()["SEEDS"].splitlines():
        if line.strip():
            path, _, uri = line.strip().partition("=")
            out[Path(path).name] = uri
    return out


def seed_uri(local_source: str) -> str:
    """Where the Job puts a dataset's shipped copy (its spec's local_source, e.g. data/penguins.csv)."""
    return seeds()[Path(local_source).name]
