"""Logging set-up and progress reports with a rate and an ETA for long loops."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable

FORMAT = "%(asctime)s %(levelname)s [{stage}] %(name)s: %(message)s"
# No ETA before this share of the work and this many items after the first are done: the first
# items of a search include the workers' start-up and, in a grid listed costliest first, its
# slowest fits, so an ETA from them alone said "ETA 50m37s" for a search that took 2m22s.
WARMUP_FRACTION = 0.05
WARMUP_ITEMS = 3


def setup_logging(stage: str) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT.format(stage=stage), datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for noisy in ("urllib3", "google", "fsspec", "asyncio", "matplotlib", "alembic", "git"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # gcsfs logs a traceback per retry of an unreachable endpoint; the stage reports the outcome
    # itself as one ERROR line (storage._translate), so only its critical messages are kept.
    logging.getLogger("gcsfs").setLevel(logging.CRITICAL)


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, sec = divmod(seconds, 60)
    return f"{minutes}m{sec:02d}s" if minutes else f"{sec}s"


class Progress:
    """Logs `label: done/total (pct) elapsed, rate, ETA` at most every `every` seconds, and once at the end.

    The rate and the ETA are measured from the first item done, so start-up (worker processes,
    imports) is not taken for the items' cost. Items may differ in cost: `work` is the total cost
    in any unit and each `advance` says what its items cost (default: 1 per item); the ETA is then
    the work left at the work rate seen so far, which a grid listed costliest first does not fool.
    No ETA is shown before the warm-up (WARMUP_FRACTION of the work, WARMUP_ITEMS items after the
    first), and the first line comes after `every` seconds, so a quick loop logs its end only.
    A loop that learns its items' costs as it goes (a search's first run) updates the total with
    `expect`; while it cannot say, `expect(None)`, no ETA is shown. `clock` is injectable for tests.
    """

    def __init__(
        self,
        label: str,
        total: int,
        logger: logging.Logger,
        every: float = 5.0,
        *,
        work: float | None = None,
        unit: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label, self.total, self.logger, self.every = label, max(total, 0), logger, every
        self.unit = unit
        self.work_total: float | None = float(self.total if work is None else work)
        self.clock = clock
        self.done = 0
        self.work_done = 0.0
        self.started = clock()
        self._last = self.started
        self._first: tuple[float, int, float] | None = None  # (time, items, work) at the first item
        self._ended = False

    def advance(self, n: int = 1, work: float | None = None) -> None:
        if n <= 0 and not work:
            return  # nothing new to say (a reader that re-reads its last position)
        self.done += n
        self.work_done += float(n if work is None else work)
        now = self.clock()
        if self._first is None:
            self._first = (now, self.done, self.work_done)
        if self.done >= self.total:
            if not self._ended:  # the 100% line once, however many calls reach it
                self._ended = True
                self.logger.info("%s", self.message(now))
            return
        if now - self._last >= self.every:
            self._last = now
            self.logger.info("%s", self.message(now))

    def expect(self, work_total: float | None) -> None:
        """A new estimate of the whole work (done + left, in `advance`'s unit); None: not known yet."""
        self.work_total = None if work_total is None else float(work_total)

    def _warm(self) -> bool:
        if self._first is None:
            return False
        _, items, _ = self._first
        if self.done - items < WARMUP_ITEMS:
            return False
        return self.work_total is None or self.work_done >= WARMUP_FRACTION * self.work_total

    def rate(self, now: float | None = None) -> float | None:
        """Items per second since the first item, once warmed up; else None."""
        now = self.clock() if now is None else now
        if not self._warm() or self._first is None or now <= self._first[0]:
            return None
        return (self.done - self._first[1]) / (now - self._first[0])

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left: the work left at the work rate since the first item; None before warm-up."""
        now = self.clock() if now is None else now
        if self.work_total is None or not self._warm() or self._first is None or now <= self._first[0]:
            return None
        t0, _, w0 = self._first
        per_second = (self.work_done - w0) / (now - t0)
        if per_second <= 0:
            return None
        return max(self.work_total - self.work_done, 0.0) / per_second

    def message(self, now: float | None = None) -> str:
        now = self.clock() if now is None else now
        elapsed = now - self.started
        pct = 100.0 * self.done / self.total if self.total else 100.0
        text = f"{self.label}: {self.done}/{self.total} ({pct:.0f}%) elapsed {_fmt_seconds(elapsed)}"
        if 0 < self.done < self.total:
            rate, eta = self.rate(now), self.eta(now)
            if rate is not None and self.unit:
                text += f", {rate:.1f} {self.unit}/s" if rate >= 1 else f", {rate:.2f} {self.unit}/s"
            if eta is not None:
                text += f", ETA {_fmt_seconds(eta)}"
        return text
