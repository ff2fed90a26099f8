"""Real Airflow for the DAG tier: a private AIRFLOW_HOME with a migrated SQLite DB, the DAG bag.

Runs in the Airflow venv (`make test-dags`); Airflow reads its configuration on first import, so
the environment is set in pytest_configure, before any test module imports airflow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dags.dagtools import DAGS_FOLDER, ROOT, LoadedDags

_SAVED_ENV: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    # Airflow 3.3 itself reads dags/.airflowignore through a deprecated pathspec API.
    config.addinivalue_line("filterwarnings", "ignore:GitWildMatchPattern:DeprecationWarning")
    # ... and dag.test() drives its in-process execution API through starlette's TestClient.
    config.addinivalue_line("filterwarnings", "ignore:Using `httpx` with `starlette.testclient`")
    if importlib.util.find_spec("airflow") is None:
        raise pytest.UsageError(
            f"tests/dags needs Apache Airflow, which {sys.executable} lacks | fix: run `make test-dags` "
            "(or .venv-airflow/bin/python -m pytest tests/dags; create it with `make venv-airflow`)"
        )
    home = Path(tempfile.mkdtemp(prefix="airflow-home-"))
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
    }
    # Hermetic: no Variable or Connection from the caller's environment leaks into the DAGs.
    leaked = [k for k in os.environ if k.startswith(("AIRFLOW_VAR_", "AIRFLOW_CONN_", "AIRFLOW__"))]
    for key in [*env, *leaked]:
        _SAVED_ENV.setdefault(key, os.environ.get(key))
    for key in leaked:
        del os.environ[key]
    os.environ.update(env)


def pytest_unconfigure(config: pytest.Config) -> None:
    home = os.environ.get("AIRFLOW_HOME", "")
    for key, value in _SAVED_ENV.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if Path(home).name.startswith("airflow-home-"):
        shutil.rmtree(home, ignore_errors=True)


STAGE_IMAGES = [f"census-pipeline/{stage}:0.1.0" for stage in ("extractor", "preprocessor", "trainer")]


def pytest_report_header(config: pytest.Config) -> str:
    from tests.dags.pod_runner import pod_mode

    if pod_mode() == "process":
        return "DAG tier: stage pods run as .venv processes (DAG_PODS=process was asked for)"
    return "DAG tier: stage pods run as Docker containers of " + ", ".join(STAGE_IMAGES)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # Printed even with -q: which way this tier ran the stage pods.
    terminalreporter.write_line(pytest_report_header(terminalreporter.config))


@pytest.fixture(scope="session")
def stage_pod_mode() -> str:
    """How whole DAG runs execute their pods; containers unless DAG_PODS=process. Fails in one line
    when a stage image is missing: `make test-dags` builds them first."""
    from tests.dags.pod_runner import missing_images, pod_mode

    mode = pod_mode()
    if mode == "containers" and (missing := missing_images(STAGE_IMAGES)):
        pytest.fail(
            f"ERROR [dags] stage images not built: {', '.join(missing)} | fix: `make test-dags` builds "
            "them (scripts/build_images.sh extractor preprocessor trainer); DAG_PODS=process runs "
            "the stages as .venv processes instead",
            pytrace=False,
        )
    return mode


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """`airflow db migrate` on the session's SQLite file (what `dag.test()` records runs in)."""
    airflow = Path(sys.executable).parent / "airflow"
    proc = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"airflow db migrate failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"


@pytest.fixture(scope="session")
def dags(airflow_db: Path) -> LoadedDags:
    return LoadedDags()


@pytest.fixture
def no_pod(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Makes any attempt to start a pod fail the test; yields the ids of tasks that tried."""
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    started: list[str] = []

    def refuse(self: Any, context: Any) -> None:
        started.append(self.task_id)
        raise AssertionError(f"task {self.task_id} tried to start a pod")

    monkeypatch.setattr(KubernetesPodOperator, "execute", refuse)
    yield started


@pytest.fixture(scope="session")
def pipeline_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """fake-gcs-server + MLflow started from .venv (tests/fixtures/servers.py via services_launcher).

    Yields {"gcs_url", "mlflow_url", "source"}; source is the census CSV in the data bucket.
    """
    python = ROOT / ".venv" / "bin" / "python"
    assert python.exists(), f"{python} missing | fix: `make venv` (the stages and servers run from it)"
    log_dir = ROOT / ".artifacts" / "services"
    proc = subprocess.Popen(
        [
            str(python),
            "-m",
            "tests.dags.services_launcher",
            str(log_dir),
            str(tmp_path_factory.mktemp("mlflow")),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, f"services launcher exited {proc.wait()} before starting; see {log_dir}/*.log"
        yield json.loads(line)
    finally:
        if proc.stdin:
            proc.stdin.close()  # the launcher stops both servers
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=30)
