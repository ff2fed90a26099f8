"""The MLflow connection: URI from MLFLOW_TRACKING_URI only, reached with bounded retries.

MLflow's own HTTP client retries a refused connection for minutes; the probe here disables that
and retries on its own budget (TRAINER_MLFLOW_RETRIES attempts after the first, exponential
backoff from TRAINER_MLFLOW_BACKOFF seconds), then fails with one clear line.

Every later MLflow call of train, promote, ledger and rollback runs inside `bounded`: a tracking
server that fails after the first contact (errors, timeouts, refused connections) costs a command
at most TRAINER_MLFLOW_TIMEOUT seconds (default 120), each retry is logged, and the end is one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pipeline_common import env
from pipeline_common.errors import StageError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 2.0  # seconds; 2+4+8+16+32 = about a minute before giving up
# Tags every trainer run carries (prefix "pipeline."; the run also names its dataset).
TASK_KEY = "pipeline.task_key"
MODEL_TAG = "pipeline.model"


# The schemes MLflow has tracking stores for (mlflow.tracking._tracking_service.utils; a unit test
# compares), checked here without importing MLflow (3 s): a typo fails before any data is read.
STORE_SCHEMES = (
    "http",
    "https",
    "file",
    "sqlite",
    "postgresql",
    "mysql",
    "mssql",
    "databricks",
    "databricks-uc",
    "uc",
)
FIX_URI = (
    "set it to the MLflow server, e.g. http://mlflow.mlflow.svc.cluster.local:5000 "
    "(or sqlite:///path/mlflow.db locally)"
)


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, checked for a scheme MLflow can store runs at (and a host for http)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        raise StageError("MLFLOW_TRACKING_URI is not set", FIX_URI)
    found = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", uri)
    scheme = found.group(1).lower() if found and not re.match(r"^[A-Za-z]:[\\/]", uri) else ""
    if scheme and scheme.split("+", 1)[0] not in STORE_SCHEMES:
        raise StageError(
            f"MLFLOW_TRACKING_URI={uri} has unsupported scheme {scheme!r}",
            f"use one of {', '.join(STORE_SCHEMES)}: {FIX_URI}",
        )
    if scheme in ("http", "https"):
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise StageError(f"MLFLOW_TRACKING_URI={uri} is malformed ({exc})", FIX_URI) from None
        if not parts.hostname:
            raise StageError(f"MLFLOW_TRACKING_URI={uri} names no host", FIX_URI)
    return uri


@contextlib.contextmanager
def _no_inner_retries() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "10"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def connect() -> MlflowClient:
    """Point mlflow at MLFLOW_TRACKING_URI and check it answers; StageError after the retries."""
    uri = tracking_uri()
    retries = int(env.number("TRAINER_MLFLOW_RETRIES", DEFAULT_RETRIES, minimum=0))
    backoff = env.number("TRAINER_MLFLOW_BACKOFF", DEFAULT_BACKOFF, kind=float, minimum=0)
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    for attempt in range(retries + 1):
        try:
            with _no_inner_retries():
                client.search_experiments(max_results=1)
            return client
        except Exception as exc:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            if attempt == retries:
                raise StageError(
                    f"MLflow tracking server MLFLOW_TRACKING_URI={uri} unreachable after "
                    f"{retries + 1} attempt(s): {reason}",
                    "start the MLflow server or fix MLFLOW_TRACKING_URI (and the network path to it)",
                ) from exc
            delay = backoff * 2**attempt
            log.warning(
                "MLflow at %s not reachable (%s); retry %d/%d in %.1f s",
                uri,
                reason,
                attempt + 1,
                retries,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id, created if missing (a concurrent creator wins the race harmlessly)."""
    from mlflow.exceptions import MlflowException

    if not name.strip():
        raise StageError("--experiment is empty", "name the MLflow experiment, e.g. census-income")
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except MlflowException:
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage != "active":
        raise StageError(
            f"MLflow experiment {name!r} is deleted",
            "restore it (mlflow experiments restore) or use another --experiment",
        )
    return found.experiment_id


def existing_experiment(client: MlflowClient, name: str) -> str:
    """The id of an active experiment that must already exist (promote never creates one)."""
    if not name.strip():
        raise StageError("--experiment is empty", "name the MLflow experiment, e.g. census-income")
    found = client.get_experiment_by_name(name)
    if found is None:
        raise StageError(
            f"MLflow experiment {name!r} does not exist",
            "pass the --experiment the fit tasks logged their runs to",
        )
    if found.lifecycle_stage != "active":
        raise StageError(
            f"MLflow experiment {name!r} is deleted",
            "restore it (mlflow experiments restore) or use another --experiment",
        )
    return str(found.experiment_id)


# What a failing tracking server may cost a command: MLflow's REST client otherwise retries a
# failing call 7 times with doubling backoff (~250 s) and waits 120 s per request.
TIMEOUT_ENV = "TRAINER_MLFLOW_TIMEOUT"
DEFAULT_TIMEOUT = 120.0
MLFLOW_RETRY_LIMIT = 10  # MLflow refuses more (_MLFLOW_HTTP_REQUEST_MAX_RETRIES_LIMIT)
# Error codes of a server that failed, not of a request that was wrong.
_SERVER_ERRORS = {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"}


def _server_failure(exc: BaseException) -> bool:
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.error_code in _SERVER_ERRORS or str(exc).startswith("API request to")
    try:
        import requests
    except ImportError:  # pragma: no cover - MLflow depends on requests
        return False
    return isinstance(exc, requests.exceptions.RequestException)


@dataclass
class Limits:
    """How long one command waits for a failing tracking server (from TRAINER_MLFLOW_TIMEOUT).

    A request waits at most `request` seconds; a failing request is retried for `retrying`
    seconds after its first failure; once one gave up, the others of the block get one attempt
    (the run's end, marking it FAILED). Worst case: request + retrying + request for the call that
    fails, plus one request for the run's end, which is the total."""

    total: float

    @property
    def request(self) -> float:
        return self.total / 8

    @property
    def retrying(self) -> float:
        return self.total / 2


def limits() -> Limits:
    total = env.number(TIMEOUT_ENV, DEFAULT_TIMEOUT, kind=float, minimum=0)
    if total < 1:
        raise StageError(
            f"{TIMEOUT_ENV}={total} is too short", f"set it to e.g. {DEFAULT_TIMEOUT:.0f} (seconds)"
        )
    return Limits(total)


@dataclass
class _Failures:
    """The tracking server's failures inside one bounded block."""

    limits: Limits
    first: float = 0.0  # when the request being retried first failed
    gave_up: bool = False
    last: str = ""  # the last failure, for the error line


def _retry_class(failures: _Failures) -> type:
    """urllib3's Retry with the block's time limit, a log line per retry, and no retries once a
    call of the block gave up. MLflow builds every session's Retry from this class while the
    block runs (request_utils.Retry), for REST and proxied-artifact calls alike."""
    from urllib3.exceptions import MaxRetryError, ResponseError
    from urllib3.util.retry import Retry

    class BoundedRetry(Retry):
        def increment(self, method: Any = None, url: Any = None, response: Any = None, error: Any = None,
                      _pool: Any = None, _stacktrace: Any = None) -> Any:  # fmt: skip
            now = time.monotonic()
            if not self.history:
                failures.first = now
            status = getattr(response, "status", None)
            reason = (
                f"HTTP {status}" if status else (str(error).splitlines() or [type(error).__name__])[0][:160]
            )
            path = urlsplit(str(url or "")).path
            if not failures.gave_up:  # the error line names the call that gave up, not the run's end
                failures.last = f"{reason} on {method} {path}"
            try:
                new = super().increment(method, url, response, error, _pool, _stacktrace)
            except MaxRetryError:
                # Out of retries. A call that wanted none (connect()'s probe has its own loop)
                # says nothing about the calls after it.
                failures.gave_up = failures.gave_up or bool(self.history)
                raise
            spent = now - failures.first
            if failures.gave_up or spent >= failures.limits.retrying:
                failures.gave_up = True
                cause = error or ResponseError(f"gave up after {spent:.0f} s: {reason}")
                raise MaxRetryError(_pool, url, cause) from cause
            log.warning(
                "MLflow %s %s failed (%s); retry %d in %.1f s (gives up %.0f s after the first failure)",
                method, path, reason, len(new.history), new.get_backoff_time(), failures.limits.retrying,
            )  # fmt: skip
            return new

        def get_backoff_time(self) -> float:
            left = failures.limits.retrying - (time.monotonic() - failures.first)
            return max(0.0, min(super().get_backoff_time(), left))

    return BoundedRetry


@contextlib.contextmanager
def _mlflow_retry(retry_class: type) -> Iterator[None]:
    from mlflow.utils import request_utils

    saved = request_utils.Retry
    request_utils.Retry = retry_class
    request_utils._cached_get_request_session.cache_clear()  # sessions hold their Retry
    try:
        yield
    finally:
        request_utils.Retry = saved
        request_utils._cached_get_request_session.cache_clear()


@contextlib.contextmanager
def bounded(what: str) -> Iterator[None]:
    """Bound every MLflow call made inside by TRAINER_MLFLOW_TIMEOUT (unless the environment
    sets MLflow's own request limits), log each retry, and turn a tracking server that fails
    mid-way into one clear line instead of a traceback."""
    failures = _Failures(limits())
    http = {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(MLFLOW_RETRY_LIMIT),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": f"{failures.limits.request:.0f}",
    }
    saved = {k: os.environ.get(k) for k in http}
    for key, value in http.items():
        os.environ.setdefault(key, value)
    try:
        with _mlflow_retry(_retry_class(failures)):
            yield
    except StageError:
        raise
    except Exception as exc:
        if not _server_failure(exc):
            raise
        uri = os.environ.get("MLFLOW_TRACKING_URI", "")
        if failures.gave_up:
            problem = (
                f"the MLflow tracking server at {uri} kept failing during {what} ({failures.last}); "
                f"gave up {failures.limits.retrying:.0f} s after the first failure"
            )
        else:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            problem = f"the MLflow tracking server failed during {what}: {reason}"
        raise StageError(
            problem,
            f"check the server at MLFLOW_TRACKING_URI={uri} ({TIMEOUT_ENV}="
            f"{failures.limits.total:.0f} s bounds the wait), then re-run (a re-run of {what} is safe)",
        ) from exc
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
