"""Logging set-up and progress reports with an ETA for long loops."""

from __future__ import annotations

import logging
import os
import sys
import time

FORMAT = "%(asctime)s %(levelname)s [{stage}] %(name)s: %(message)s"


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
    """Logs `label: done/total (pct) elapsed, ETA` at most every `every` seconds and at the end."""

    def __init__(self, label: str, total: int, logger: logging.Logger, every: float = 5.0) -> None:
        self.label, self.total, self.logger, self.every = label, max(total, 0), logger, every
        self.done = 0
        self.started = time.monotonic()
        self._last = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.done >= self.total or now - self._last >= self.every:
            self._last = now
            self.logger.info("%s", self.message(now))

    def message(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self.started
        pct = 100.0 * self.done / self.total if self.total else 100.0
        text = f"{self.label}: {self.done}/{self.total} ({pct:.0f}%) elapsed {_fmt_seconds(elapsed)}"
        if 0 < self.done < self.total:
            text += f", ETA {_fmt_seconds(elapsed / self.done * (self.total - self.done))}"
        return text
