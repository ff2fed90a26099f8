"""A tracking server that fails after the first contact: `trainer train` waits a bounded time
(TRAINER_MLFLOW_TIMEOUT), logs each retry and ends in one line, exit 2, no traceback.

A fault proxy (fault_proxy.py) sits between the trainer and a real `mlflow server`: reads pass,
writes get HTTP 500 (or no answer at all) once the trainer has created its run, or from the start.
Before this bound, MLflow's own client retried each failing call ~250 s and the stage exited 1
with tracebacks.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.servers import MlflowServer
from tests.helpers.stages import assert_bad_input, run_stage
from tests.reliability.fault_proxy import HANG, FaultProxy

BUDGET = 16  # TRAINER_MLFLOW_TIMEOUT of these tests: 8 s of retrying, 2 s per request
READS = ("/search", "/get", "/health", "get-by-name")
KEPT = "kept failing during train"


def _is_write(method: str, path: str) -> bool:
    return method != "GET" and not any(r in path for r in READS)


def writes_fail_after_the_run_exists(status: int) -> Any:
    created = {"run": False}

    def rule(method: str, path: str, body: bytes) -> int | None:
        if not _is_write(method, path):
            return None
        if "/runs/create" in path and not created["run"]:
            created["run"] = True
            return None
        return status if created["run"] else None

    return rule


def every_write_fails(method: str, path: str, body: bytes) -> int | None:
    return 500 if _is_write(method, path) else None


def _train(
    proxy: FaultProxy, features: dict[str, Any], tmp_path: Path, budget: int = BUDGET
) -> tuple[Any, float]:
    env = {"MLFLOW_TRACKING_URI": proxy.url, "TRAINER_MLFLOW_TIMEOUT": str(budget), "PIPELINE_CPUS": "1"}
    args = ["train", "--model", "lgbm", "--features-uri", features["features_uri"],
            "--grid", features["grid"], "--cv", "2",
            "--experiment", f"rel-mlflow-fault-{uuid.uuid4().hex[:8]}"]  # fmt: skip
    started = time.monotonic()
    run = run_stage("trainer", args, xcom_dir=tmp_path / "xcom", env=env, timeout=600)
    return run, time.monotonic() - started


def _failing_since(proxy: FaultProxy) -> float:
    faulted = proxy.seen.faulted()
    assert faulted, "the proxy never faulted a request"
    return faulted[0][0]


@pytest.mark.parametrize(
    ("case", "rule", "words"),
    [
        ("500-after-run-created", writes_fail_after_the_run_exists(500), (KEPT, "HTTP 500")),
        ("503-after-run-created", writes_fail_after_the_run_exists(503), (KEPT, "HTTP 503")),
        ("no-answer-after-run-created", writes_fail_after_the_run_exists(HANG), (KEPT,)),
        ("500-from-the-start", every_write_fails, (KEPT, "HTTP 500")),
    ],
)  # fmt: skip
def test_a_failing_tracking_server_costs_a_bounded_time_and_one_line(
    case: str, rule: Any, words: tuple[str, ...], mlflow_server: MlflowServer, features: dict[str, Any],
    tmp_path: Path,
) -> None:  # fmt: skip
    with FaultProxy(mlflow_server.url, rule) as proxy:
        run, seconds = _train(proxy, features, tmp_path)
        after_fault = time.monotonic() - _failing_since(proxy)
    line = assert_bad_input(run, *words, "TRAINER_MLFLOW_TIMEOUT")
    assert "retry" in run.stderr, "each retry is logged"
    # The bound: from the first fault to the stage's end, at most the budget (plus process exit).
    assert after_fault <= BUDGET + 5, f"{after_fault:.1f} s after the first fault\n{run.stderr[-2000:]}"
    retries = run.stderr.count("; retry ")
    print(f"\n{case}: exit 2 after {seconds:.1f} s ({after_fault:.1f} s after the first fault, "
          f"{retries} retries logged, budget {BUDGET} s): {line[:160]}")  # fmt: skip


def test_the_timeout_setting_is_checked_before_any_work(features: dict[str, Any], tmp_path: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "TRAINER_MLFLOW_TIMEOUT": "soon"}
    args = ["train", "--model", "lgbm", "--features-uri", features["features_uri"], "--experiment", "x"]
    run = run_stage("trainer", args, xcom_dir=tmp_path / "xcom", env=env)
    assert_bad_input(run, "TRAINER_MLFLOW_TIMEOUT='soon'")
