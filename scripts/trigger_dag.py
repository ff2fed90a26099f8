#!/usr/bin/env python3
"""Trigger an Airflow DAG through the REST API v2 and follow the run to its end.

    python scripts/trigger_dag.py DAG_ID [--url URL] [--conf JSON] [--timeout S]

Steps: a JWT from POST /auth/token, unpause (PATCH /api/v2/dags/{id}), a new run
(POST /api/v2/dags/{id}/dagRuns with logical_date null), then task states printed as they change;
when the run ends, the run summary its `promote` task returned (models, scores, the decision).
Credentials come from AIRFLOW_USERNAME / AIRFLOW_PASSWORD (never from the command line, so they
stay out of shell history and `ps`).

Exit codes: 0 run succeeded; 1 run failed or timed out; 2 bad input, configuration or credentials.
Standard library only, so it runs from any Python 3.11 without the project's venv. Its functions
are what tests/e2e drives.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TextIO

NAME = "trigger"
DEFAULT_URL = "http://localhost:8080"
TERMINAL_RUN_STATES = frozenset({"success", "failed"})
# Task states after which a task instance will not change again within this run.
FINISHED_TASK_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})
PAGE_SIZE = 100  # the api-server's default maximum page size


class TriggerError(Exception):
    """Bad input, configuration or credentials: one line naming the problem and the fix, exit 2."""

    exit_code = 2

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def one_line(self) -> str:
        return " ".join(f"ERROR [{NAME}] {self.problem} | fix: {self.fix}".split())


class RunFailed(Exception):
    """The DAG run ended in a state other than success, or did not end in time (exit 1)."""

    exit_code = 1


@dataclass
class AirflowClient:
    """The few Airflow REST API v2 calls this script needs, with a JWT obtained on demand."""

    base_url: str
    username: str
    password: str
    timeout: float = 30.0
    retries: int = 5  # connection errors while polling (api-server restarting) before giving up
    _token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        parsed = urllib.parse.urlsplit(self.base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise TriggerError(
                f"bad Airflow URL {self.base_url!r}", "pass --url http://HOST:PORT (the api-server)"
            )
        self.base_url = self.base_url.rstrip("/")

    # -- auth -------------------------------------------------------------------------------------
    def login(self) -> str:
        """POST /auth/token with the username and password; returns the access token."""
        status, body = self._send(
            "POST", "/auth/token", {"username": self.username, "password": self.password}, auth=False
        )
        if status in (401, 403):
            raise TriggerError(
                f"Airflow refused the credentials of user {self.username!r} (HTTP {status})",
                "set AIRFLOW_USERNAME and AIRFLOW_PASSWORD to an Airflow user allowed to trigger DAGs",
            )
        if status not in (200, 201) or not isinstance(body, dict) or "access_token" not in body:
            raise TriggerError(
                f"POST {self.base_url}/auth/token answered HTTP {status} without an access_token",
                "point --url at the Airflow 3 api-server (it serves /auth/token)",
            )
        self._token = str(body["access_token"])
        return self._token

    # -- API calls --------------------------------------------------------------------------------
    def unpause(self, dag_id: str) -> dict[str, Any]:
        path = f"/api/v2/dags/{_q(dag_id)}?update_mask=is_paused"
        return self._expect(self.call("PATCH", path, {"is_paused": False}), path, dag_id)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new run now: logical_date null lets Airflow 3 start runs without a schedule date."""
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns"
        body = {"logical_date": None, "conf": conf or {}}
        return self._expect(self.call("POST", path, body), path, dag_id)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        path = f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}"
        return self._expect(self.call("GET", path), path, dag_id)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones too), across pages."""
        items: list[dict[str, Any]] = []
        while True:
            path = (
                f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances"
                f"?limit={PAGE_SIZE}&offset={len(items)}"
            )
            page = self._expect(self.call("GET", path), path, dag_id)
            batch = page.get("task_instances", [])
            items.extend(batch)
            if not batch or len(items) >= int(page.get("total_entries", len(items))):
                return items

    def return_value(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        """The task instance's `return_value` XCom (a stage's return.json), or None if it has none."""
        path = (
            f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances/{_q(task_id)}"
            f"/xcomEntries/return_value?map_index={map_index}&deserialize=true"
        )
        status, payload = self.call("GET", path)
        if status == 404:
            return None
        value = self._expect((status, payload), path, dag_id).get("value")
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One authenticated call; logs in first, and again once if the token has expired."""
        if self._token is None:
            self.login()
        status, payload = self._send(method, path, body)
        if status == 401:
            self.login()
            status, payload = self._send(method, path, body)
        return status, payload

    # -- plumbing ---------------------------------------------------------------------------------
    def _expect(self, response: tuple[int, Any], path: str, dag_id: str) -> dict[str, Any]:
        status, payload = response
        if 200 <= status < 300 and isinstance(payload, dict):
            return payload
        detail = payload.get("detail") if isinstance(payload, dict) else payload
        if status == 404:
            raise TriggerError(
                f"Airflow does not know DAG {dag_id!r} (HTTP 404 on {path}): {detail}",
                "check the DAG id (Airflow UI > Dags) and that the DAG file parsed without errors",
            )
        if status == 403:
            raise TriggerError(
                f"user {self.username!r} may not call {path} (HTTP 403)",
                "use an Airflow user with the Op or Admin role",
            )
        raise TriggerError(f"{path} answered HTTP {status}: {detail}", "see the api-server log for the cause")

    def _send(self, method: str, path: str, body: Any = None, auth: bool = True) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        # The scheme was checked to be http(s) in __post_init__.
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)  # noqa: S310
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    return response.status, _json(response.read())
            except urllib.error.HTTPError as err:
                return err.code, _json(err.read())
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                if attempt == self.retries:
                    raise TriggerError(
                        f"cannot reach Airflow at {self.base_url} ({_reason(err)})",
                        "start the cluster (make kind-up deploy) or pass --url of a running api-server",
                    ) from err
                time.sleep(min(2**attempt, 10))
        raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class RunResult:
    state: str
    run_id: str
    tasks: dict[str, str]  # "task_id" or "task_id[map_index]" -> last state seen
    seconds: float

    @property
    def failed_tasks(self) -> list[str]:
        return sorted(k for k, v in self.tasks.items() if v in ("failed", "upstream_failed"))


def task_key(ti: dict[str, Any]) -> str:
    """`train[1]` for a mapped task instance, `extract` for a plain one."""
    index = ti.get("map_index", -1)
    return ti["task_id"] if index in (-1, None) else f"{ti['task_id']}[{index}]"


def task_changes(previous: dict[str, str], current: Iterable[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(task, old state, new state) for every task instance whose state changed."""
    changes = []
    for ti in current:
        key, state = task_key(ti), ti.get("state") or "none"
        old = previous.get(key)
        if old != state:
            changes.append((key, old or "-", state))
    return sorted(changes)


def follow_run(
    client: AirflowClient,
    dag_id: str,
    run_id: str,
    timeout: float,
    poll: float = 5.0,
    out: TextIO = sys.stdout,
    clock: Callable[[], float] = time.monotonic,
) -> RunResult:
    """Poll the run until it ends, printing each task state change as it happens."""
    start = clock()
    seen: dict[str, str] = {}
    run_state = "queued"
    while True:
        run = client.dag_run(dag_id, run_id)
        tis = client.task_instances(dag_id, run_id)
        elapsed = clock() - start
        for key, old, new in task_changes(seen, tis):
            print(f"[{_mmss(elapsed)}] {key:<32} {old:>15} -> {new}", file=out, flush=True)
            seen[key] = new
        if run.get("state") != run_state:
            run_state = str(run.get("state"))
            print(f"[{_mmss(elapsed)}] run {run_id}: {run_state}", file=out, flush=True)
        if run_state in TERMINAL_RUN_STATES:
            return RunResult(run_state, run_id, seen, elapsed)
        if elapsed > timeout:
            unfinished = ", ".join(sorted(k for k, v in seen.items() if v not in FINISHED_TASK_STATES))
            raise RunFailed(
                f"run {run_id} still {run_state} after {timeout:.0f} s; unfinished: {unfinished or '-'}"
            )
        time.sleep(poll)


def wait_for_dag(client: AirflowClient, dag_id: str, wait: float, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Unpause the DAG, waiting up to `wait` seconds for the dag-processor to have parsed it."""
    deadline = time.monotonic() + wait
    announced = False
    while True:
        try:
            return client.unpause(dag_id)
        except TriggerError as err:
            if "HTTP 404" not in err.problem or time.monotonic() > deadline:
                raise
            if not announced:
                print(
                    f"waiting up to {wait:.0f} s for Airflow to parse DAG {dag_id!r} ...",
                    file=out,
                    flush=True,
                )
                announced = True
            time.sleep(5)


def trigger_and_follow(
    client: AirflowClient,
    dag_id: str,
    conf: dict[str, Any] | None = None,
    timeout: float = 3600,
    poll: float = 5.0,
    wait_for_parse: float = 300,
    out: TextIO = sys.stdout,
) -> RunResult:
    """Unpause, trigger and follow one run; the e2e test and `make trigger` both come here."""
    wait_for_dag(client, dag_id, wait_for_parse, out)
    run = client.trigger(dag_id, conf)
    run_id = str(run["dag_run_id"])
    print(f"triggered {dag_id} run {run_id}; following it (timeout {timeout:.0f} s)", file=out, flush=True)
    return follow_run(client, dag_id, run_id, timeout, poll, out)


def run_summary(client: AirflowClient, dag_id: str, result: RunResult) -> str | None:
    """The run summary table a successful `promote` task returned (its XCom `summary`), if any.

    The table is built by the trainer (trainer/summary.py) and only printed here, so the DAG's
    promote log, `make demo` and this script show the same text.
    """
    for key, state in sorted(result.tasks.items()):
        task_id, _, index = key.partition("[")
        if state != "success" or task_id.rsplit(".", 1)[-1] != "promote":
            continue
        value = client.return_value(dag_id, result.run_id, task_id, int(index.rstrip("]")) if index else -1)
        if isinstance(value, dict) and isinstance(value.get("summary"), str):
            return value["summary"]
    return None


def print_summary(client: AirflowClient, dag_id: str, result: RunResult, out: TextIO = sys.stdout) -> None:
    """Print the run summary; a failure to read it is said, and leaves the run's outcome alone."""
    try:
        text = run_summary(client, dag_id, result)
    except TriggerError as err:
        print(f"(no run summary: {err.problem})", file=out, flush=True)
        return
    if text:
        print(f"\n{text}\n", file=out, flush=True)


def client_from_env(url: str | None = None) -> AirflowClient:
    username = os.environ.get("AIRFLOW_USERNAME", "")
    password = os.environ.get("AIRFLOW_PASSWORD", "")
    if not username or not password:
        raise TriggerError(
            "AIRFLOW_USERNAME and AIRFLOW_PASSWORD are not both set",
            "export them (kind dev cluster: admin and the airflow-admin Secret; README: Run it on kind)",
        )
    return AirflowClient(url or os.environ.get("AIRFLOW_URL") or DEFAULT_URL, username, password)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise TriggerError(f"bad command line: {message}", f"see `{self.prog} --help`")

    parser = Parser(
        prog="trigger_dag.py",
        description="Trigger an Airflow DAG via REST API v2 and print task states until the run ends. "
        "Credentials: AIRFLOW_USERNAME / AIRFLOW_PASSWORD.",
    )
    parser.add_argument("dag_id", help="id of the DAG to run")
    parser.add_argument("--url", help=f"Airflow api-server base URL (default: $AIRFLOW_URL or {DEFAULT_URL})")
    parser.add_argument("--conf", default="{}", help="JSON object passed as the run's conf (default: {})")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds to follow the run (default: 3600)"
    )
    parser.add_argument("--poll", type=float, default=5.0, help="seconds between state checks (default: 5)")
    parser.add_argument(
        "--wait-for-parse",
        type=float,
        default=300,
        help="seconds to wait for a just-deployed DAG to be parsed (default: 300)",
    )
    return parser.parse_args(argv)


def parse_conf(text: str) -> dict[str, Any]:
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as err:
        raise TriggerError(
            f"--conf is not valid JSON ({err.msg} at char {err.pos})", "pass a JSON object"
        ) from err
    if not isinstance(conf, dict):
        raise TriggerError(
            f"--conf must be a JSON object, got {type(conf).__name__}", 'pass e.g. \'{"grid": "demo"}\''
        )
    return conf


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        for name in ("timeout", "poll", "wait_for_parse"):
            if getattr(args, name) <= 0:
                raise TriggerError(
                    f"--{name.replace('_', '-')} must be > 0", "pass a positive number of seconds"
                )
        conf = parse_conf(args.conf)
        client = client_from_env(args.url)
        result = trigger_and_follow(client, args.dag_id, conf, args.timeout, args.poll, args.wait_for_parse)
        print_summary(client, args.dag_id, result)
    except TriggerError as err:
        print(err.one_line(), file=sys.stderr)
        return err.exit_code
    except RunFailed as err:
        print(f"ERROR [{NAME}] {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"ERROR [{NAME}] interrupted; the run goes on in Airflow", file=sys.stderr)
        return 130
    if result.state != "success":
        print(
            f"ERROR [{NAME}] run {result.run_id} ended {result.state}; failed tasks: "
            f"{', '.join(result.failed_tasks) or '-'} | fix: read their logs in the Airflow UI",
            file=sys.stderr,
        )
        return 1
    print(f"run {result.run_id} succeeded in {_mmss(result.seconds)} ({len(result.tasks)} task instances)")
    return 0


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return raw.decode(errors="replace")[:300]


def _reason(err: BaseException) -> str:
    return str(getattr(err, "reason", err))


def _mmss(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


if __name__ == "__main__":
    sys.exit(main())
