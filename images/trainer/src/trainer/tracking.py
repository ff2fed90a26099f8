"""The MLflow connection: URI from MLFLOW_TRACKING_URI only, reached with bounded retries.

MLflow's own HTTP client retries a refused connection for minutes; the probe here disables that
and retries on its own budget (TRAINER_MLFLOW_RETRIES attempts after the first, exponential
backoff from TRAINER_MLFLOW_BACKOFF seconds), then fails with one clear line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pipeline_common.errors import StageError

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF = 2.0  # seconds; 2+4+8+16+32 = about a minute before giving up
# Tags every trainer run carries (prefix "pipeline."; the run also names its dataset).
TASK_KEY = "pipeline.task_key"
MODEL_TAG = "pipeline.model"


def _env_number(name: str, default: float, kind: type) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise StageError(
            f"{name}={raw!r} is not a non-negative number", f"set {name} to e.g. {default}, or unset it"
        )
    return value


def tracking_uri() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if not uri:
        raise StageError(
            "MLFLOW_TRACKING_URI is not set",
            "set it to the MLflow server, e.g. http://mlflow.mlflow.svc.cluster.local:5000 "
            "(or sqlite:///path/mlflow.db locally)",
        )
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
    retries = int(_env_number("TRAINER_MLFLOW_RETRIES", DEFAULT_RETRIES, int))
    backoff = _env_number("TRAINER_MLFLOW_BACKOFF", DEFAULT_BACKOFF, float)
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


# What a short command's MLflow calls may cost at most: MLflow's REST client otherwise retries a
# failing call 7 times with doubling backoff and waits 120 s per request (minutes per call).
BOUNDED_HTTP = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
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


@contextlib.contextmanager
def bounded(what: str) -> Iterator[None]:
    """Cap every MLflow call made inside (unless the environment sets its own limits), and turn a
    tracking server that fails mid-way into one clear line instead of a traceback."""
    saved = {k: os.environ.get(k) for k in BOUNDED_HTTP}
    for key, value in BOUNDED_HTTP.items():
        os.environ.setdefault(key, value)
    try:
        yield
    except StageError:
        raise
    except Exception as exc:
        if not _server_failure(exc):
            raise
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise StageError(
            f"the MLflow tracking server failed during {what}: {reason}",
            f"check the server at MLFLOW_TRACKING_URI={os.environ.get('MLFLOW_TRACKING_URI', '')}, then "
            f"re-run (a re-run of {what} is safe)",
        ) from exc
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
