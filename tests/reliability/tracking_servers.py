"""MLflow servers for the load and auth tests: the chart's image when built, else `mlflow server`
from .venv; a throwaway PostgreSQL (Debian's postgresql package) as the production-like backend.

Process handling (own process group, log file, readiness probe) is tests/fixtures/servers.py's.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures import servers
from tests.fixtures.servers import GcsEmulator, ServerProcess

MLFLOW_IMAGE = "census-pipeline/mlflow:0.1.0"  # docs/contract.md; built by `make images`
MLFLOW_UID = 10002


def mlflow_image_available() -> bool:
    if not shutil.which("docker"):
        return False
    found = subprocess.run(["docker", "image", "inspect", MLFLOW_IMAGE], capture_output=True, check=False)
    return found.returncode == 0


@dataclass
class Tracking:
    url: str
    kind: str  # "image" or "venv"
    backend: str  # "sqlite" or "postgresql"
    process: ServerProcess
    workers: int


@contextmanager
def mlflow_tracking(
    backend_uri: str, backend: str, gcs: GcsEmulator, workdir: Path, *, workers: int = 2,
    extra_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None, use_image: bool | None = None,
) -> Iterator[Tracking]:  # fmt: skip
    """`mlflow server` (image or venv) with artifacts proxied to gs://census-pipeline-mlflow/<dir>."""
    port = servers.free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        "server", "--backend-store-uri", backend_uri,
        "--serve-artifacts", "--artifacts-destination", f"gs://{servers.MLFLOW_BUCKET}/{workdir.name}/",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *extra_args,
    ]  # fmt: skip
    env = {
        "STORAGE_EMULATOR_HOST": gcs.url,
        "GOOGLE_CLOUD_PROJECT": "local-emulator",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        **(extra_env or {}),
    }
    gcs.create_bucket(servers.MLFLOW_BUCKET)
    if mlflow_image_available() if use_image is None else use_image:
        kind = "image"
        name = f"mlflow-load-{port}"
        argv = ["docker", "run", "--rm", "--name", name, "--network", "host", "--read-only",
                "--tmpfs", "/tmp", "--user", f"{MLFLOW_UID}:{MLFLOW_UID}"]  # fmt: skip
        for key, value in env.items():
            argv += ["-e", f"{key}={value}"]
        # The workdir (SQLite files, auth config) at the same path inside, owned by the image's UID.
        os.chown(workdir, MLFLOW_UID, MLFLOW_UID)
        argv += ["-v", f"{workdir}:{workdir}"]
        argv += [MLFLOW_IMAGE, *args]
        process_env = dict(os.environ)
    else:
        kind = "venv"
        argv = [str(servers.VENV_BIN / "mlflow"), *args]
        process_env = {**os.environ, **env}
        for key in ("MLFLOW_TRACKING_URI", "GOOGLE_APPLICATION_CREDENTIALS"):
            process_env.pop(key, None)
    proc = ServerProcess(f"mlflow-{backend}", argv, servers.DEFAULT_LOG_DIR / f"mlflow-{backend}-{port}.log",
                         process_env, cwd=workdir)  # fmt: skip
    proc.start()
    try:
        proc.wait_ready(lambda: servers.http_ok(f"{url}/health"), timeout=240)
        yield Tracking(url=url, kind=kind, backend=backend, process=proc, workers=workers)
    finally:
        proc.stop()
        if kind == "image":
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path:
    found = shutil.which("postgres") or next(
        iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))), None
    )
    if not found:
        raise AssertionError(
            "PostgreSQL is not installed | fix: apt-get install -y postgresql (Debian 12: 15)"
        )
    return Path(found).resolve().parent


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@contextmanager
def postgres_server() -> Iterator[str]:
    """A fresh cluster on a free loopback port; yields the SQLAlchemy URI of database `mlflow`."""
    bindir = postgres_bin()
    # Not under pytest's tmp (mode 0700, owned by root): the postgres user must reach it.
    root = Path(tempfile.mkdtemp(prefix="reliability-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        os.chmod(root, 0o755)
        shutil.chown(sockets, "postgres", "postgres")
        data.mkdir()
        shutil.chown(data, "postgres", "postgres")
    init = subprocess.run(
        _as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "mlflow", "-E", "UTF8"]),
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr[-2000:]
    port = servers.free_port()
    argv = _as_postgres([
        str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
        "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
    ])  # fmt: skip
    proc = ServerProcess(
        "postgresql", argv, servers.DEFAULT_LOG_DIR / f"postgresql-{port}.log", dict(os.environ)
    )
    proc.start()
    try:

        def ready() -> bool:
            probe = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                capture_output=True,
                check=False,
            )
            return probe.returncode == 0

        proc.wait_ready(ready, timeout=60)
        created = subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow", "mlflow"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        # Explicit driver: SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3, which neither
        # .venv nor the MLflow image installs (they ship psycopg2-binary).
        yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"
    finally:
        proc.stop()
        shutil.rmtree(root, ignore_errors=True)
