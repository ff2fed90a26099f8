"""The timeline builder of the kind run (tests/e2e/timeline.py), on recorded-shape inputs: runs
without a cluster, so `make test-e2e` checks it even where the kind run itself must skip."""

from __future__ import annotations

import pytest

from tests.e2e.timeline import POINTS, build, pod_points, render

pytestmark = pytest.mark.e2e
DAG = "mlflow-multimodel-dag"


def _pod(name: str, task: str, *, started: str | None = None) -> dict:
    status = {}
    if started:
        status = {"containerStatuses": [
            {"name": "base", "state": {"running": {"startedAt": started}}},
            {"name": "airflow-xcom-sidecar", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
        ]}  # fmt: skip
    labels = {"dag_id": DAG, "task_id": task, "try_number": "1"}
    return {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": "2026-01-01T00:00:10Z"},
        "status": status,
    }


def test_the_five_points_of_each_task() -> None:
    t0 = 1767225600.0  # 2026-01-01T00:00:00Z
    events = [
        (t0 + 10.2, "ADDED", _pod("census-extract-a", "extract")),
        (t0 + 12.0, "MODIFIED", _pod("census-extract-a", "extract", started="2026-01-01T00:00:12Z")),
        (t0 + 19.0, "DELETED", _pod("census-extract-a", "extract", started="2026-01-01T00:00:12Z")),
        (t0 + 5.0, "ADDED", {"metadata": {"name": "other", "labels": {"dag_id": "x"}}}),
    ]
    pods = pod_points(events, DAG)
    assert set(pods) == {"census-extract-a"}
    tis = [
        {
            "task_id": "extract",
            "state": "success",
            "start_date": "2026-01-01T00:00:09Z",
            "end_date": "2026-01-01T00:00:20Z",
        },
        {"task_id": "train.lgbm", "state": "skipped", "start_date": None, "end_date": None},
    ]
    returns = {
        "extract": {"stage": "extract", "timings": {"first_work_at": t0 + 14.5, "result_at": t0 + 17.0}}
    }
    (row,) = build(tis, returns, pods)
    assert [row[p] - t0 for p in POINTS] == pytest.approx([10.0, 12.0, 14.5, 17.0, 19.0])
    table = render([row])
    assert "start-up    2.0s" in table and "to first work    2.5s" in table and "wrap-up    2.0s" in table
    assert table.splitlines()[2].startswith("extract")


def test_missing_points_are_shown_as_such() -> None:
    rows = build(
        [{"task_id": "promote", "state": "failed", "start_date": None, "end_date": None}], {"promote": {}}, {}
    )
    assert rows[0]["pod created"] is None and "-" in render(rows)
