"""The one way every stage runs: logging, timing, errors as one line, SIGTERM, return.json."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from pipeline_common import __version__, os_errors, termination, timing
from pipeline_common.errors import StageError, Terminated
from pipeline_common.logs import setup_logging
from pipeline_common.xcom import require_writable, write_result

log = logging.getLogger(__name__)
EXIT_BAD_INPUT, EXIT_BUG = 2, 1
EXIT_TERMINATED = termination.EXIT_TERMINATED


def run(
    stage: str,
    main: Callable[[Sequence[str] | None], dict[str, Any]],
    argv: Sequence[str] | None = None,
    closing: Callable[[dict[str, Any]], str | None] | None = None,
) -> int:
    """Run `main(argv)`, write its result as return.json, and map failures to exit codes.

    main returns the result dict; `stage`, `version` and `seconds` are filled in here. `closing`
    may turn the result into text that ends the log (promote's run summary), after the result
    is written. An OS error a user or operator can fix (disk full, read-only or foreign-owned
    directory) that a stage did not translate where it wrote is still one line naming the path
    (os_errors.py).
    """
    setup_logging(stage)
    termination.install()  # SIGTERM raises Terminated where it can unwind (termination.py)
    started = time.monotonic()
    timing.reset()
    try:
        if not _asks_for_help(argv):  # --help writes no result, so needs no XCOM_DIR
            require_writable()  # before any work: a result that cannot be written loses the work
        result = main(argv)
        timing.mark("last_work")
        result.setdefault("stage", stage)
        result.setdefault("version", __version__)
        result["seconds"] = round(time.monotonic() - started, 3)
        timing.mark("result")
        result["timings"] = timing.timings()
        termination.check()
        path = write_result(result)
        log.info("done in %.1f s; result in %s", result["seconds"], path)
        text = closing(result) if closing else None
        if text:
            log.info("%s", text)
        return 0
    except StageError as exc:
        print(exc.one_line(stage), file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except OSError as exc:
        translated = os_errors.translate(exc)
        if translated is None:
            return _bug(stage, exc)
        print(translated.one_line(stage), file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except Terminated:
        print(
            f"ERROR [{stage}] terminated by SIGTERM; partial outputs removed | fix: re-run the task",
            file=sys.stderr,
        )
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"ERROR [{stage}] interrupted; partial outputs removed | fix: re-run the task", file=sys.stderr)
        return 130
    except Exception as exc:
        return _bug(stage, exc)


def _asks_for_help(argv: Sequence[str] | None) -> bool:
    args = sys.argv[1:] if argv is None else argv
    return any(arg in ("-h", "--help") for arg in args)


def _bug(stage: str, exc: Exception) -> int:
    log.error("unexpected failure", exc_info=exc)
    first = (str(exc).splitlines() or [""])[0][:300]
    fix = "see the traceback above; report it if the input is valid"
    print(f"ERROR [{stage}] unexpected {type(exc).__name__}: {first} | fix: {fix}", file=sys.stderr)
    return EXIT_BUG


def entry(
    stage: str,
    main: Callable[[Sequence[str] | None], dict[str, Any]],
    argv: Sequence[str] | None = None,
    closing: Callable[[dict[str, Any]], str | None] | None = None,
) -> int:
    """run() for a stage's process entry point, whose exit code it returns; the process ends next.

    gc.freeze() afterwards: the interpreter's final collections then skip the objects of every
    imported module (MLflow, scikit-learn, ...), so the trainer exits ~0.1 s after return.json
    instead of ~0.8 s. atexit handlers and log flushing still run. Only here, never in run(),
    which tests call in their own process.

    On SIGTERM the process is bounded: a watchdog exits 143 if it is still there
    termination.GRACE_SECONDS later, and once Terminated was handled it exits at once
    (termination.exit_now: the search's threads may still be in native code).
    """
    termination.start_watchdog(stage)
    code = run(stage, main, argv, closing)
    if code == EXIT_TERMINATED:
        termination.exit_now(code)
    gc.freeze()
    return code
