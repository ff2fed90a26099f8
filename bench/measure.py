"""Run a command and measure it: wall time, CPU time and peak memory of its whole process tree.

Why not just os.wait4: its ru_maxrss is one process's peak and, on Linux, includes the RSS the
child inherited from the harness at fork; joblib/loky workers are separate processes whose memory
adds up, and their CPU reaches ru_utime only once reaped. So a sampler reads /proc for the tree:
RSS summed over live processes, VmHWM (each process's exact own peak), and CPU as the last-seen
utime+stime of every process ever seen; os.wait4 adds the exact CPU of the reaped child.
Every output line is timestamped on arrival (monotonic, sub-millisecond): per-step timings come
from marker lines, stage start-up/tear-down overheads from log lines, without needing millisecond
timestamps in the logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "@@bench "  # prefix of machine-readable step markers printed by bench.baseline
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _tree(root: int) -> list[int]:
    children, out, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _hwm(pid: int) -> int:
    """VmHWM: the process's own peak RSS since exec (bytes), 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _proc_cpu_rss(pid: int) -> tuple[float, int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    # fields[0] is state (field 3 of stat); utime=14, stime=15, rss=24 (1-based in proc(5)).
    return (int(fields[11]) + int(fields[12])) / _TICK, int(fields[21]) * _PAGE


@dataclass
class Sample:
    t: float  # seconds since start
    rss: int  # bytes, summed over the live tree
    cpu: float  # seconds, cumulative over every process seen


class TreeSampler:
    """Samples the process tree under `root`; thread-safe so readers can sample on markers."""

    def __init__(self, root: int, t0: float) -> None:
        self.root, self.t0 = root, t0
        self._cpu_seen: dict[int, float] = {}
        self._lock = threading.Lock()
        self.samples: list[Sample] = []
        self.peak_rss = 0
        self.peak_hwm = 0  # the largest single-process VmHWM seen
        self.max_procs = 0

    def sample(self) -> Sample:
        with self._lock:
            rss, pids = 0, _tree(self.root)
            for pid in pids:
                got = _proc_cpu_rss(pid)
                if got is None:
                    continue
                cpu, proc_rss = got
                if proc_rss == 0 and pid == self.root:  # zombie: keep last CPU seen
                    continue
                self._cpu_seen[pid] = max(cpu, self._cpu_seen.get(pid, 0.0))
                self.peak_hwm = max(self.peak_hwm, _hwm(pid))
                rss += proc_rss
            self.max_procs = max(self.max_procs, len(pids))
            self.peak_rss = max(self.peak_rss, rss)
            s = Sample(time.monotonic() - self.t0, rss, sum(self._cpu_seen.values()))
            self.samples.append(s)
            return s


@dataclass
class Line:
    t: float  # seconds since start, at arrival
    stream: str
    text: str


@dataclass
class RunResult:
    cmd: list[str]
    returncode: int | None
    timed_out: bool
    wall_s: float
    cpu_s: float  # max(tree sampler, wait4 utime+stime incl. reaped children)
    peak_rss_bytes: int  # max(tree RSS sum sampled, largest VmHWM of one process)
    ru_maxrss_bytes: int  # wait4's: NOT used as peak, it includes the parent's RSS at fork time
    lines: list[Line] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    markers: list[tuple[float, dict]] = field(default_factory=list)
    sampled_peak_rss_bytes: int = 0

    def text(self, stream: str | None = None) -> str:
        return "\n".join(ln.text for ln in self.lines if stream in (None, ln.stream))

    def window(self, start: float, end: float) -> tuple[float, int]:
        """CPU seconds and peak tree RSS between two times, from the samples."""
        inside = [s for s in self.samples if start <= s.t <= end]
        before = [s for s in self.samples if s.t <= start]
        after = [s for s in self.samples if s.t >= end]
        cpu0 = before[-1].cpu if before else 0.0
        cpu1 = after[0].cpu if after else (self.samples[-1].cpu if self.samples else 0.0)
        peak = max([s.rss for s in inside] + ([before[-1].rss] if before else []) + [0])
        return max(0.0, cpu1 - cpu0), peak


def run_measured(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    cap_s: float | None = None,
    interval: float = 0.2,
    echo: Callable[[str], None] | None = None,
    heartbeat: Callable[[Sample], None] | None = None,
    heartbeat_every: float = 30.0,
) -> RunResult:
    """Run `cmd` in its own session; kill the whole group when it exceeds `cap_s` seconds."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        list(cmd),
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        start_new_session=True,
    )
    sampler = TreeSampler(proc.pid, t0)
    result = RunResult(list(cmd), None, False, 0.0, 0.0, 0, 0)

    def reader(stream, name: str) -> None:
        for raw in stream:
            t = time.monotonic() - t0
            text = raw.rstrip("\n")
            if text.startswith(MARKER):
                sampler.sample()  # a sample exactly at the step boundary
                with contextlib.suppress(json.JSONDecodeError):
                    result.markers.append((t, json.loads(text[len(MARKER) :])))
            result.lines.append(Line(t, name, text))
            if echo is not None:
                echo(text)

    threads = [
        threading.Thread(target=reader, args=(proc.stdout, "stdout"), daemon=True),
        threading.Thread(target=reader, args=(proc.stderr, "stderr"), daemon=True),
    ]
    for th in threads:
        th.start()
    rusage = None
    status = 0
    killed_at: float | None = None
    next_beat = heartbeat_every
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        sample = sampler.sample()
        elapsed = time.monotonic() - t0
        if heartbeat is not None and elapsed >= next_beat:
            next_beat += heartbeat_every
            heartbeat(sample)
        if cap_s is not None and not result.timed_out and elapsed > cap_s:
            result.timed_out, killed_at = True, elapsed
            _killpg(proc.pid, signal.SIGTERM)
        elif killed_at is not None and elapsed > killed_at + 5:
            _killpg(proc.pid, signal.SIGKILL)
        time.sleep(interval)
    wall = time.monotonic() - t0
    if result.timed_out:
        _killpg(proc.pid, signal.SIGKILL)  # loky workers may outlive the child
    for th in threads:
        th.join(timeout=10)
    proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.samples.append(Sample(wall, 0, sampler.samples[-1].cpu if sampler.samples else 0.0))
    wait_cpu = rusage.ru_utime + rusage.ru_stime
    maxrss = rusage.ru_maxrss * 1024  # Linux: KiB
    result.returncode = proc.returncode
    result.wall_s = wall
    result.cpu_s = max(wait_cpu, sampler.samples[-1].cpu)
    result.ru_maxrss_bytes = maxrss
    result.sampled_peak_rss_bytes = sampler.peak_rss
    # Not ru_maxrss: Linux carries the pre-exec (forked parent's) RSS into it, so a big harness
    # process would inflate every child's figure.
    result.peak_rss_bytes = max(sampler.peak_hwm, sampler.peak_rss)
    result.samples = sampler.samples
    result.markers.sort(key=lambda m: m[0])
    result.lines.sort(key=lambda ln: ln.t)
    return result


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def steps_from_markers(result: RunResult) -> dict[str, dict]:
    """{step: {wall_s, cpu_s, peak_rss_bytes}} from `start`/`end` marker pairs."""
    starts: dict[str, float] = {}
    steps: dict[str, dict] = {}
    for t, marker in result.markers:
        step = marker.get("step")
        if marker.get("event") == "start":
            starts[step] = t
        elif marker.get("event") == "end" and step in starts:
            cpu, peak = result.window(starts[step], t)
            steps[step] = {"wall_s": t - starts[step], "cpu_s": cpu, "peak_rss_bytes": peak, "complete": True}
    for step, t in starts.items():  # started but killed by the cap
        if step not in steps:
            end = result.wall_s
            cpu, peak = result.window(t, end)
            steps[step] = {"wall_s": end - t, "cpu_s": cpu, "peak_rss_bytes": peak, "complete": False}
    return steps
