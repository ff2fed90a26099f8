"""Per-task timeline of a kind DAG run: pod created, container started, first work, result, deleted.

Half of it comes from the stages' return.json `timings` (docs/contract.md: `first_work_at`,
`result_at`, epoch seconds); the other half from the Kubernetes API, watched while the run goes
(`kubectl get pods --watch --output-watch-events -o json`: a pod's creationTimestamp, its `base`
container's startedAt, and when the DELETED event arrived), and the task instances' own start and
end from Airflow's REST API. Pods are matched to tasks by the labels the operator puts on them
(dag_id, task_id). `build` and `render` are pure, so they are tested without a cluster.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

POINTS = ("pod created", "container started", "first work", "result", "pod deleted")


def _epoch(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass
class PodWatch:
    """Streams pod watch events of one namespace into `events` until stopped (bounded by `limit` s)."""

    context: str
    namespace: str
    limit: float = 7200
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None
    _thread: threading.Thread | None = None

    def start(self) -> PodWatch:
        cmd = [
            "kubectl", "--context", self.context, "-n", self.namespace, "get", "pods",
            "--watch", "--output-watch-events", "-o", "json", f"--request-timeout={int(self.limit)}s",
        ]  # fmt: skip
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        decoder, buffer = json.JSONDecoder(), ""
        for chunk in iter(lambda: self._proc.stdout.readline(), ""):
            buffer += chunk
            while buffer.strip():
                try:
                    event, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break
                buffer = buffer.lstrip()[end:]
                self.events.append((time.time(), event.get("type", ""), event.get("object", {})))

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        if self._thread is not None:
            self._thread.join(timeout=10)


def pod_points(events: list[tuple[float, str, dict[str, Any]]], dag_id: str) -> dict[str, dict[str, Any]]:
    """Per stage pod of `dag_id`: task id, created, base container started, deleted (epoch s)."""
    pods: dict[str, dict[str, Any]] = {}
    for received, kind, pod in events:
        meta = pod.get("metadata", {})
        labels = meta.get("labels") or {}
        if labels.get("dag_id") != dag_id:
            continue
        entry = pods.setdefault(
            meta["name"],
            {"task_id": labels.get("task_id"), "try": labels.get("try_number"), "created": None,
             "started": None, "deleted": None},
        )  # fmt: skip
        entry["created"] = entry["created"] or _epoch(meta.get("creationTimestamp"))
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            if status.get("name") == "base":
                state = status.get("state") or {}
                started = (state.get("running") or state.get("terminated") or {}).get("startedAt")
                entry["started"] = entry["started"] or _epoch(started)
        if kind == "DELETED":
            entry["deleted"] = received
    return pods


def build(
    task_instances: list[dict[str, Any]],
    returns: dict[str, dict[str, Any]],
    pods: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """One row per task instance that ran a pod: the five points (epoch s) and the task's own span."""
    rows = []
    for ti in sorted(task_instances, key=lambda t: t.get("start_date") or ""):
        task_id = ti["task_id"]
        mine = [p for p in pods.values() if p["task_id"] == task_id]
        if not mine and task_id not in returns:
            continue  # skipped trainers: no pod
        pod = max(mine, key=lambda p: p["created"] or 0) if mine else {}
        timings = (returns.get(task_id) or {}).get("timings") or {}
        rows.append(
            {
                "task": task_id,
                "state": ti.get("state"),
                "task start": _epoch(ti.get("start_date")),
                "pod created": pod.get("created"),
                "container started": pod.get("started"),
                "first work": timings.get("first_work_at"),
                "result": timings.get("result_at"),
                "pod deleted": pod.get("deleted"),
                "task end": _epoch(ti.get("end_date")),
            }
        )
    return rows


def _gap(row: dict[str, Any], a: str, b: str) -> str:
    return f"{row[b] - row[a]:.1f}s" if row[a] is not None and row[b] is not None else "-"


def render(rows: list[dict[str, Any]]) -> str:
    """A table of seconds since the first task started, and the overhead between the points."""
    starts = [r["task start"] for r in rows if r["task start"]]
    zero = min(starts) if starts else 0.0
    columns = ("task start", *POINTS, "task end")
    header = f"{'task':<14}" + "".join(f"{c:>19}" for c in columns)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = "".join(f"{row[c] - zero:>18.1f}s" if row[c] is not None else f"{'-':>19}" for c in columns)
        lines.append(f"{row['task']:<14}{cells}")
    lines.append("")
    lines.append("start-up = container started - pod created; to first work = first work - container "
                 "started; wrap-up = pod deleted - result")  # fmt: skip
    for row in rows:
        startup = _gap(row, "pod created", "container started")
        to_work = _gap(row, "container started", "first work")
        wrap_up = _gap(row, "result", "pod deleted")
        lines.append(
            f"{row['task']:<14} start-up {startup:>7}  to first work {to_work:>7}  wrap-up {wrap_up:>7}"
        )
    return "\n".join(lines)
