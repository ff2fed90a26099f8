"""How many CPUs this stage may use: joblib workers x native threads must not exceed it.

In a pod the CPU limit is a cgroup quota, which os.cpu_count() ignores; oversubscribed OpenMP
(LightGBM) under a quota is catastrophically slow, so stages size their pools from this.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from pipeline_common import env

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def _cgroup_quota(root: Path) -> float | None:
    cpu_max = root / "cpu.max"  # cgroup v2: "<quota|max> <period>"
    if cpu_max.is_file():
        quota, _, period = cpu_max.read_text().strip().partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota_file, period_file = root / "cpu" / "cpu.cfs_quota_us", root / "cpu" / "cpu.cfs_period_us"
    if quota_file.is_file() and period_file.is_file():  # cgroup v1
        quota, period = int(quota_file.read_text()), int(period_file.read_text())
        if quota > 0 and period > 0:
            return quota / period
    return None


def available_cpus(cgroup_root: str | os.PathLike[str] = "/sys/fs/cgroup") -> int:
    """PIPELINE_CPUS if set, else min(cgroup quota rounded up, this stage's share of the CPUs in
    the affinity mask).

    The share is the node's CPUs divided by PIPELINE_CPU_SHARERS (default 1): the number of stage
    pods that run on the node's CPUs at once. The multi-model DAG sets it for its trainers, so two
    of them on a 2-CPU node take one CPU each rather than both oversubscribing two (measured
    faster: docs/benchmarks.md, "Scheduling the trainers"), while on a larger node each still gets
    its whole CPU limit.
    """
    override = env.number("PIPELINE_CPUS", None, example=2)
    if override is not None:
        return int(override)
    sharers = int(env.number("PIPELINE_CPU_SHARERS", 1, example=2))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    cpus = max(1, cpus // sharers)
    try:
        quota = _cgroup_quota(Path(cgroup_root))
    except (OSError, ValueError):
        quota = None
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def pin_native_threads(n: int) -> None:
    """Cap OpenMP/BLAS pools; call before numpy/lightgbm are imported so the env is seen."""
    for name in THREAD_ENV:
        os.environ[name] = str(n)
