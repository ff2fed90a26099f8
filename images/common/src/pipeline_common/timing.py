"""When a stage started, began and finished its useful work: the `timings` of return.json.

Overhead is what a stage costs beyond its work: interpreter (and container) start and imports
before it first reads its input, and tear-down after. The stage marks `first_work` when it first
reads its input (storage.open_read and the BigQuery reader do it) and cli.run marks `last_work`
when the stage's function returns and `result` as the result is completed, just before
return.json is written (the file's mtime is the exact time). All marks are epoch seconds, so a
harness outside the process (or the container) can subtract its own spawn time.
"""

from __future__ import annotations

import os
import time

_marks: dict[str, float] = {}


def _process_start() -> float | None:
    """Epoch seconds at which this process was created (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/stat") as fh:
            # Field 22 (starttime, clock ticks since boot); the command name may contain spaces.
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def mark(name: str) -> None:
    """Record `name` now, once: later calls keep the first time."""
    _marks.setdefault(name, time.time())


def first_work() -> None:
    mark("first_work")


def timings() -> dict[str, float]:
    """The marks as {name_at: epoch seconds}, with the process start when /proc has it."""
    out = {f"{k}_at": round(v, 3) for k, v in _marks.items()}
    started = _process_start()
    if started is not None:
        out["process_start_at"] = round(started, 2)  # clock-tick resolution (10 ms)
    return out


def reset() -> None:
    """Forget all marks (tests run several stages in one process)."""
    _marks.clear()
