"""Run an image the way the DAG's KubernetesPodOperator runs a stage pod (dags/census_pipeline/ops.py).

Same entrypoint and `arguments`, the pod's security context translated to `docker run` flags
(read-only root, non-root fixed UID, no capabilities, no privilege escalation, memory/CPU
limits, /tmp as the only writable scratch), and /airflow/xcom as a host directory from which
return.json is read after the container exits, as the xcom sidecar would.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TAG = "0.1.0"
STAGE_UID = 10001
MLFLOW_UID = 10002

# Stage limits of the DAG (ops.STAGES): memory limit and CPU count per stage.
LIMITS: dict[str, tuple[str, int]] = {
    "extract": ("2g", 1),
    "preprocess": ("2g", 1),
    "train": ("4g", 2),
    "promote": ("1g", 1),
}


def image_ref(name: str) -> str:
    return f"census-pipeline/{name}:{TAG}"


@dataclass
class PodRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    result: dict[str, Any] | None  # return.json, if the stage wrote one

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("ERROR")]

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nexit {self.returncode} after {self.seconds:.1f} s\n"
            f"--- stdout (tail)\n{self.stdout[-3000:]}\n--- stderr (tail)\n{self.stderr[-3000:]}"
        )


def xcom_dir(parent: Path) -> Path:
    """A fresh host dir for /airflow/xcom, writable by the stage UID (the pod's fsGroup does that)."""
    path = parent / f"xcom-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    if os.geteuid() == 0:
        os.chown(path, STAGE_UID, STAGE_UID)
    else:
        path.chmod(0o777)
    return path


def run_pod(
    image: str,
    arguments: list[str],
    *,
    stage: str,
    xcom_parent: Path,
    env: dict[str, str] | None = None,
    user: str = f"{STAGE_UID}:{STAGE_UID}",
    timeout: float = 1200,
) -> PodRun:
    memory, cpus = LIMITS[stage]
    xcom = xcom_dir(xcom_parent)
    name = f"census-test-{stage}-{uuid.uuid4().hex[:8]}"
    pod_env = {"STAGE_IMAGE": image, "PIPELINE_CPUS": str(cpus), **(env or {})}
    argv = [
        "docker", "run", "--rm", "--name", name,
        "--read-only", "--tmpfs", "/tmp:rw,nosuid,nodev,size=1g",
        "--volume", f"{xcom}:/airflow/xcom",
        "--user", user,
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--memory", memory, "--memory-swap", memory, "--cpus", str(cpus), "--pids-limit", "1024",
        "--network", "host",
        *[f"--env={key}={value}" for key, value in pod_env.items()],
        image, *arguments,
    ]  # fmt: skip
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run(["docker", "kill", name], capture_output=True, timeout=30, check=False)
        raise
    result_file = xcom / "return.json"
    result = json.loads(result_file.read_text()) if result_file.is_file() else None
    return PodRun(argv, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start, result)


def docker(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


def image_size_mb(image: str) -> float:
    return int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout.strip()) / 1e6
