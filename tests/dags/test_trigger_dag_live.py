"""scripts/trigger_dag.py against a real Airflow 3: api-server, scheduler and dag-processor.

The kind e2e tier drives the same script against the cluster; here it meets the real REST API v2
(JWT from /auth/token, PATCH unpause, POST dagRuns with logical_date null, task instances with
map_index, XCom) on this machine: two tiny DAGs, one that succeeds (with a mapped task) and one
that fails, run by LocalExecutor. The script runs as a process, so exit codes and output are the
user's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.skaffold_config import ROOT

pytestmark = pytest.mark.slow

SCRIPT = ROOT / "scripts" / "trigger_dag.py"
USER, PASSWORD = "tester", "not-a-real-secret-test-only"
STARTUP_SECONDS = 420  # three Airflow processes importing on a busy 2-core machine
# What trigger-ok's promote task returns as its run summary (trainer promote's `summary`).
SUMMARY = "model   roc_auc\nlgbm *   0.8985\n\n* best candidate: lgbm (run 446953dc) holds m@champion as v1"

DAGS = textwrap.dedent(
    """
    from __future__ import annotations

    import pendulum
    from airflow.sdk import dag, task

    START = pendulum.datetime(2026, 1, 1, tz="UTC")
    SUMMARY = SUMMARY_TEXT


    @dag(dag_id="trigger-ok", schedule=None, start_date=START, catchup=False, is_paused_upon_creation=True)
    def ok():
        @task
        def first(**context):
            return {"stage": "extract", "conf": context["dag_run"].conf}

        @task
        def fit(model: str):
            return {"stage": "train", "model": model}

        @task
        def promote():
            # trainer promote's return.json carries the run summary table (trainer/summary.py).
            return {"stage": "promote", "summary": SUMMARY}

        first() >> fit.expand(model=["a", "b"]) >> promote()


    @dag(dag_id="trigger-fails", schedule=None, start_date=START, catchup=False)
    def fails():
        @task(retries=0)
        def boom():
            raise RuntimeError("boom")

        @task
        def after():
            return 1

        boom() >> after()


    ok()
    fails()
    """
).replace("SUMMARY_TEXT", repr(SUMMARY))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def airflow_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    airflow = Path(sys.executable).parent / "airflow"
    assert airflow.is_file(), f"no airflow CLI beside {sys.executable} | fix: run this tier in .venv-airflow"
    home = tmp_path_factory.mktemp("airflow-live")
    (home / "dags").mkdir()
    (home / "dags" / "trigger_dags.py").write_text(DAGS)
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_VAR_", "AIRFLOW_CONN_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        }
    )
    subprocess.run([str(airflow), "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    procs = []
    try:
        for component in ("api-server", "scheduler", "dag-processor"):
            log = (home / f"{component}.log").open("w")
            procs.append(
                subprocess.Popen(
                    [str(airflow), component],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=10) as response:
                    health = json.loads(response.read())
                if (
                    health["scheduler"]["status"] == "healthy"
                    and health["dag_processor"]["status"] == "healthy"
                ):
                    break
            except (OSError, KeyError, ValueError):
                pass
            dead = [p.args[1] for p in procs if p.poll() is not None]
            assert not dead and time.monotonic() < deadline, (
                f"Airflow did not come up (exited: {dead}); logs in {home}"
            )
            time.sleep(3)
        yield url
    finally:
        for proc in procs:  # each component in its own session: stop it and the children it forked
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _trigger(url: str, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRFLOW_USERNAME": USER, "AIRFLOW_PASSWORD": password}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--url", url, "--poll", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_run_is_followed_to_success_with_live_task_states(airflow_url):
    done = _trigger(airflow_url, "trigger-ok", "--conf", '{"grid": "demo"}', "--timeout", "600")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "triggered trigger-ok run " in out
    for task in ("first", "fit[0]", "fit[1]", "promote"):  # mapped instances are followed one by one
        assert any(
            line.split()[1:2] == [task] and line.endswith("-> success") for line in out.splitlines()
        ), out
    assert out.rstrip().splitlines()[-1].startswith("run ") and "succeeded" in out
    # The run summary promote returned is printed when the run ends, before the closing line.
    assert f"\n{SUMMARY}\n\nrun " in out, out[-800:]
    # The script's client reads what the run produced: the conf arrived, the DAG is unpaused.
    sys.path.insert(0, str(SCRIPT.parent))
    import trigger_dag

    client = trigger_dag.AirflowClient(airflow_url, USER, PASSWORD)
    run_id = out.split("triggered trigger-ok run ", 1)[1].split(";", 1)[0]
    assert client.return_value("trigger-ok", run_id, "first") == {
        "stage": "extract",
        "conf": {"grid": "demo"},
    }
    assert client.return_value("trigger-ok", run_id, "fit", map_index=1) == {"stage": "train", "model": "b"}
    assert client.call("GET", "/api/v2/dags/trigger-ok")[1]["is_paused"] is False


def test_failed_run_exits_1_naming_the_failed_tasks(airflow_url):
    done = _trigger(airflow_url, "trigger-fails", "--timeout", "600")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "boom" in done.stdout and "-> failed" in done.stdout
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("ERROR [trigger] run ") and "ended failed; failed tasks: after, boom" in line


def test_wrong_password_is_one_line_and_exit_2(airflow_url):
    done = _trigger(airflow_url, "trigger-ok", password="wrong")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "refused the credentials of user 'tester'" in line and "| fix: set AIRFLOW_USERNAME" in line
    assert done.stdout == ""


def test_unknown_dag_is_one_line_and_exit_2(airflow_url):
    done = _trigger(airflow_url, "no-such-dag", "--wait-for-parse", "1")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "does not know DAG 'no-such-dag'" in line and "| fix: check the DAG id" in line
