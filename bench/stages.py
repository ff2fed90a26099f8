"""Run one pipeline stage as a process (`.venv/bin/python -m <stage>`) or as a container
(`docker run census-pipeline/<stage>:0.1.0`, run the way KubernetesPodOperator runs a pod:
non-root UID, read-only root fs, /tmp tmpfs, no network, a CPU limit) and measure it.

Container CPU and peak memory come from a cgroup made for that one container
(`docker run --cgroup-parent`, cgroup v1 memory.max_usage_in_bytes and cpuacct.usage, or v2
memory.peak and cpu.stat): they survive the container's removal and count every process in it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import RunResult, run_measured

ROOT = Path(__file__).resolve().parents[1]
PY = os.environ.get("BENCH_PYTHON") or str(ROOT / ".venv" / "bin" / "python")
TAG = "0.1.0"
CGROUP = Path("/sys/fs/cgroup")


@dataclass
class StageRun:
    stage: str
    mode: str  # process | container
    ok: bool
    returncode: int | None
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    result: dict[str, Any] = field(default_factory=dict)
    overhead: dict[str, float | None] = field(default_factory=dict)
    error: str = ""
    timed_out: bool = False

    def summary(self) -> dict[str, Any]:
        keep = (
            "rows",
            "n_features",
            "metrics",
            "cv_roc_auc",
            "best_params",
            "n_candidates",
            "n_fits",
            "seconds",
            # promote: what the promotion gate cost and what it decided
            "gate_seconds",
            "rule",
            "promoted",
            "champion_version",
        )
        return {
            "stage": self.stage,
            "mode": self.mode,
            "ok": self.ok,
            "returncode": self.returncode,
            "timed_out": self.timed_out,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "peak_rss_mb": round(self.peak_rss_bytes / 1e6, 1),
            "overhead_s": {k: (round(v, 3) if v is not None else None) for k, v in self.overhead.items()},
            "result": {k: v for k, v in self.result.items() if k in keep},
            "error": self.error,
        }


def echo_indented(prefix: str):
    def echo(text: str) -> None:
        print(f"    {prefix} | {text}", file=sys.stderr, flush=True)

    return echo


def docker_ok() -> bool:
    from shutil import which

    if which("docker") is None:
        return False
    import subprocess

    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


def image_exists(stage: str) -> bool:
    import subprocess

    return (
        subprocess.run(
            ["docker", "image", "inspect", f"census-pipeline/{stage}:{TAG}"], capture_output=True
        ).returncode
        == 0
    )


def _overhead(run: RunResult, xcom: Path, wall_t0: float, result: dict[str, Any]) -> dict[str, float | None]:
    """Start-up and tear-down overhead, from return.json's `timings` (pipeline_common/timing.py).

    start_to_first_work: spawn (of the process, or of `docker run`) -> the stage's first read of
        its input; the marks are epoch seconds, the same clock inside and outside a container.
    last_work_to_result: the stage's work returned -> return.json written.
    result_to_exit: return.json written (its mtime) -> process/container gone.
    start_to_first_log: spawn -> the stage's first log line (arrival time), for reference.
    """
    out: dict[str, float | None] = dict.fromkeys(
        ("start_to_first_work", "last_work_to_result", "result_to_exit", "start_to_first_log")
    )
    logs = [ln for ln in run.lines if ln.stream == "stderr" and ln.text.strip()]
    if logs:
        out["start_to_first_log"] = logs[0].t
    timings = result.get("timings") if isinstance(result.get("timings"), dict) else {}
    if isinstance(timings.get("first_work_at"), int | float):
        out["start_to_first_work"] = max(0.0, timings["first_work_at"] - wall_t0)
    rj = xcom / "return.json"
    if rj.is_file():
        rj_at = rj.stat().st_mtime
        if isinstance(timings.get("last_work_at"), int | float):
            out["last_work_to_result"] = max(0.0, rj_at - timings["last_work_at"])
        out["result_to_exit"] = max(0.0, run.wall_s - (rj_at - wall_t0))
    return out


def _read_cgroup(parent: str) -> tuple[float | None, int | None]:
    """(CPU seconds, peak bytes) of a --cgroup-parent, v1 or v2; (None, None) when unreadable."""
    cpu = peak = None
    try:
        if (CGROUP / "memory" / parent).is_dir():  # v1
            peak = int((CGROUP / "memory" / parent / "memory.max_usage_in_bytes").read_text())
            cpu = int((CGROUP / "cpuacct" / parent / "cpuacct.usage").read_text()) / 1e9
        elif (CGROUP / parent / "memory.peak").is_file():  # v2
            peak = int((CGROUP / parent / "memory.peak").read_text())
            for line in (CGROUP / parent / "cpu.stat").read_text().splitlines():
                if line.startswith("usage_usec"):
                    cpu = int(line.split()[1]) / 1e6
    except (OSError, ValueError):
        pass
    return cpu, peak


def _remove_cgroup(parent: str) -> None:
    for base in [CGROUP, *CGROUP.iterdir()] if CGROUP.is_dir() else []:
        d = base / parent
        if d.is_dir():
            for child in d.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                d.rmdir()


def run_stage(
    stage: str,
    args: list[str],
    *,
    mode: str,
    workdir: Path,
    xcom: Path,
    env: dict[str, str] | None = None,
    cap_s: float | None = None,
    quiet: bool = False,
) -> StageRun:
    """Run one stage (`stage` = extractor|preprocessor|trainer); paths in args must be under workdir."""
    xcom.mkdir(parents=True, exist_ok=True)
    (xcom / "return.json").unlink(missing_ok=True)
    extra = dict(env or {})
    echo = None if quiet else echo_indented(f"{stage}/{mode}")
    parent = None
    if mode == "process":
        cmd = [PY, "-m", stage, *args]
        full_env = {**os.environ, **extra, "XCOM_DIR": str(xcom)}
    else:
        parent = f"census-bench-{uuid.uuid4().hex[:10]}"
        os.chmod(xcom, 0o777)
        cmd = [
            "docker",
            "run",
            "--rm",
            "--cgroup-parent",
            f"/{parent}",
            "--user",
            "10001:10001",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--network",
            # A tracking server on the host's loopback needs the host network; nothing else does.
            "host" if extra.get("MLFLOW_TRACKING_URI", "").startswith("http") else "none",
            "--cpus",
            str(len(os.sched_getaffinity(0))),
            "-v",
            f"{workdir}:{workdir}",
            "-w",
            str(workdir),
            "-e",
            f"XCOM_DIR={xcom}",
            "-e",
            "HOME=/tmp",
            "-e",
            "MPLCONFIGDIR=/tmp",
        ]
        for key, value in extra.items():
            cmd += ["-e", f"{key}={value}"]
        cmd += [f"census-pipeline/{stage}:{TAG}", *args]
        full_env = dict(os.environ)
    wall_t0 = time.time()
    run = run_measured(cmd, env=full_env, cwd=workdir, cap_s=cap_s, echo=echo)
    cpu, peak = run.cpu_s, run.peak_rss_bytes
    if parent is not None:
        cg_cpu, cg_peak = _read_cgroup(parent)
        _remove_cgroup(parent)
        cpu = cg_cpu if cg_cpu is not None else 0.0
        peak = cg_peak if cg_peak is not None else 0
    result: dict[str, Any] = {}
    rj = xcom / "return.json"
    if run.returncode == 0 and rj.is_file():
        result = json.loads(rj.read_text())
    errors = [ln.text for ln in run.lines if ln.text.startswith("ERROR")]
    return StageRun(
        stage=stage,
        mode=mode,
        ok=run.returncode == 0 and bool(result),
        returncode=run.returncode,
        wall_s=run.wall_s,
        cpu_s=cpu,
        peak_rss_bytes=peak,
        result=result,
        overhead=_overhead(run, xcom, wall_t0, result),
        error=(errors[-1] if errors else ("" if run.returncode == 0 else run.text("stderr")[-300:])),
        timed_out=run.timed_out,
    )
