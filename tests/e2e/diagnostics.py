"""On failure: everything needed to debug a kind run, written under .artifacts/e2e/."""

from __future__ import annotations

import subprocess
from pathlib import Path

NAMESPACES = ("ml-pipeline", "mlflow", "airflow")


def _save(cmd: list[str], path: Path, timeout: float = 120) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        path.write_text(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}")
    except (OSError, subprocess.TimeoutExpired) as err:
        path.write_text(f"$ {' '.join(cmd)}\nFAILED: {err}\n")


def dump(context: str, cluster: str, out: Path) -> Path:
    """kubectl describe/get/events, every pod's logs (current and previous) and `kind export logs`."""
    kc = ["kubectl", "--context", context]
    _save([*kc, "get", "all,pvc,jobs,configmaps", "-A", "-o", "wide"], out / "get-all.txt")
    _save([*kc, "get", "events", "-A", "--sort-by=.lastTimestamp"], out / "events.txt")
    for ns in NAMESPACES:
        _save(
            [*kc, "-n", ns, "describe", "pods,deployments,statefulsets,jobs,services"],
            out / f"describe-{ns}.txt",
        )
        try:
            names = subprocess.run(
                [*kc, "-n", ns, "get", "pods", "-o", "name"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            ).stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            names = []
        for name in names:
            pod = name.removeprefix("pod/")
            _save(
                [*kc, "-n", ns, "logs", pod, "--all-containers", "--prefix"], out / "logs" / ns / f"{pod}.log"
            )
            _save(
                [*kc, "-n", ns, "logs", pod, "--all-containers", "--prefix", "--previous"],
                out / "logs" / ns / f"{pod}.previous.log",
            )
    _save(["kind", "export", "logs", str(out / "kind-logs"), "--name", cluster], out / "kind-export.txt", 300)
    return out
