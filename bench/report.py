"""What the benchmark prints: the machine and versions, and plain-text tables."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

PACKAGES = ("pandas", "pyarrow", "numpy", "scikit-learn", "lightgbm", "mlflow", "google-cloud-bigquery")
STAGES = ("census-pipeline-common", "census-extractor", "census-preprocessor", "census-trainer")


def say(msg: str) -> None:
    """Progress goes to stderr, live; the tables go to stdout."""
    print(msg, file=sys.stderr, flush=True)


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _meminfo_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _cmd(args: Sequence[str]) -> str | None:
    try:
        out = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment(root: Path) -> dict:
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": {
            "cpus_affinity": len(os.sched_getaffinity(0)),
            "cpu_count": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "memory_gib": _meminfo_gib(),
            "os": platform.platform(),
            "loadavg_start": os.getloadavg(),
        },
        "versions": {
            "python": platform.python_version(),
            **{p: _version(p) for p in PACKAGES},
            **{p: _version(p) for p in STAGES},
            "docker_server": _cmd(["docker", "version", "--format", "{{.Server.Version}}"]),
        },
        "git_commit": _cmd(["git", "-C", str(root), "rev-parse", "--short", "HEAD"]),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> str:
    """A fixed-width text table (also valid Markdown: pipes and a separator row)."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = []
    if title:
        lines.append(title)
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def auc(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def secs(value: float | None, lower_bound: bool = False) -> str:
    if value is None:
        return "-"
    return (">=" if lower_bound else "") + f"{value:.1f}"


def mb(value_bytes: float | None) -> str:
    return "-" if value_bytes is None else f"{value_bytes / 1e6:.0f}"


def ratio(num: float | None, den: float | None, lower_bound: bool = False) -> str:
    if not num or not den:
        return "-"
    return (">=" if lower_bound else "") + f"{num / den:.1f}x"
