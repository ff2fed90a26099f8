"""SIGTERM as Terminated in the main thread, raised only where it can unwind, and a bounded exit.

A stage turns SIGTERM into the exception Terminated so that its context managers remove partial
outputs and end the MLflow run FAILED (cli.run). An exception raised from a signal handler lands
between any two bytecodes of the main thread, and two places cannot take it:
- the import machinery (importlib._bootstrap): raised in a module lock's weakref callback right
  after it took the global import lock, the exception was swallowed and the lock stayed held; the
  trainer's next import then waited forever on its background import thread (reproduced: 1 of 80
  SIGTERMs sent as the trainer's search started);
- __del__ methods and weakref callbacks, where Python swallows it ("Exception ignored in ...").
So the handler waits while the main thread is inside an import, and a swallowed Terminated is
raised again; both retry RETRY_SECONDS later through SIGALRM. Whatever happened to the exception,
`check()` raises it again before a stage writes its result, so no result follows a SIGTERM.
After Terminated has been raised, a further SIGTERM does nothing: the clean-up it started must
finish.

A stage run as a process (cli.entry) also gets a watchdog: GRACE_SECONDS after the first SIGTERM
the process exits 143 with one line, whatever its main thread is doing, before Kubernetes' default
30 s grace period ends in SIGKILL.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from pipeline_common.errors import Terminated

EXIT_TERMINATED = 143
GRACE_SECONDS = 20.0
RETRY_SECONDS = 0.05
_IMPORT_MACHINERY = "<frozen importlib._bootstrap"

_signalled_at: float | None = None  # monotonic time of the first SIGTERM, None before one
_raised = False  # Terminated is unwinding the main thread (not swallowed)
_default_unraisablehook = sys.unraisablehook


def install() -> None:
    """Handle SIGTERM (and its retries) in this process from now on; the main thread only."""
    global _signalled_at, _raised
    _signalled_at, _raised = None, False
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGALRM, _on_signal)
    sys.unraisablehook = _on_unraisable


def _in_import(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith(_IMPORT_MACHINERY):
            return True
        frame = frame.f_back
    return False


def _on_signal(signum: int, frame: Any) -> None:
    global _signalled_at, _raised
    if signum == signal.SIGTERM and _signalled_at is None:
        _signalled_at = time.monotonic()
    if _signalled_at is None or _raised:  # a stray SIGALRM, or the clean-up is under way
        return
    if _in_import(frame):
        signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
        return
    _raised = True
    raise Terminated()


def _on_unraisable(unraisable: Any) -> None:
    global _raised
    if isinstance(unraisable.exc_value, Terminated):
        _raised = False
        signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
        return
    _default_unraisablehook(unraisable)


def check() -> None:
    """Raise Terminated if a SIGTERM came: before a stage commits its result, whatever swallowed
    or caught the exception on the way."""
    global _raised
    if _signalled_at is not None:
        _raised = True
        raise Terminated()


def start_watchdog(stage: str) -> None:
    """Exit 143 GRACE_SECONDS after the first SIGTERM if the process is still there."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if _signalled_at is not None and time.monotonic() - _signalled_at > GRACE_SECONDS:
                line = (
                    f"ERROR [{stage}] terminated by SIGTERM; not stopped {GRACE_SECONDS:.0f} s later, "
                    "exiting without clean-up | fix: re-run the task (the retry ends a leftover "
                    "MLflow run KILLED and overwrites partial outputs)\n"
                )
                os.write(2, line.encode())  # not sys.stderr: a stuck thread may hold its lock
                os._exit(EXIT_TERMINATED)

    threading.Thread(target=watch, name="sigterm-watchdog", daemon=True).start()


def exit_now(code: int) -> None:
    """End the process at once after Terminated was handled: threads may still be inside native
    code (LightGBM fits of the search), and interpreter shutdown around them aborted the process
    ("terminate called without an active exception", exit -6 instead of 143). Logs and standard
    streams are flushed first; atexit handlers do not run."""
    import contextlib
    import logging

    # Exiting anyway: a stream that cannot flush must not keep the process alive.
    for flushable in [*logging.getLogger().handlers, sys.stdout, sys.stderr]:
        with contextlib.suppress(Exception):
            flushable.flush()
    os._exit(code)
