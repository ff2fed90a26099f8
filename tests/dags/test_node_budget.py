"""Everything the kind deploy runs, plus the stage pods a DAG runs at once, fits the minimum node.

The documented minimum node and kind's own pods come from docs/deployment.md ("Node size"); the
deployed pods' requests from tests/helpers/kind_requests.py (k8s/, the MLflow chart rendered with
the kind values, the Airflow release modelled from the values Skaffold passes), run in the project
venv; the stage pods are the ones real dag.test() runs render with the kind Airflow env (base
container + XCom sidecar), grouped by what runs at the same time (tasks at the same depth of the
DAG: e.g. both trainers of mlflow-multimodel-dag).
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest
from kubernetes.client import ApiClient

from tests.dags.dagtools import ROOT, LoadedDags, PodCapture, run_dag, stage_result, task_states
from tests.helpers.airflow_env import values_env
from tests.helpers.kind_requests import cpu_m, memory_mi, pod_requests

DOC = ROOT / "docs" / "deployment.md"
EVICTION_MI = (
    100  # kubelet default hard eviction threshold memory.available<100Mi; kind reserves nothing else
)


def _node_section() -> str:
    return DOC.read_text().split("## Node size (kind)", 1)[1].split("\n## ", 1)[0]


def minimum_node() -> tuple[int, float]:
    """(CPUs, memory MiB) of the documented minimum kind node."""
    row = re.search(r"^\| minimum \| (\d+) \| (\d+) GiB \|", _node_section(), re.MULTILINE)
    assert row, "docs/deployment.md names no minimum kind node"
    return int(row.group(1)), int(row.group(2)) * 1024.0


def kind_system_requests() -> tuple[float, float]:
    """kind's own pods, from the documented table: (CPU millicores, memory MiB)."""
    section = _node_section().split("kind's own pods", 1)[1]
    rows = re.findall(r"^\| [^|]+ \| (\d+m?) \| (\d+(?:Mi)?) \| [^|]+ \|$", section, re.MULTILINE)
    assert len(rows) >= 6, rows
    return sum(cpu_m(c) for c, _ in rows), sum(
        memory_mi(m if m.endswith("Mi") else f"{m}Mi") for _, m in rows
    )


@pytest.fixture(scope="module")
def deployed() -> list[dict[str, Any]]:
    python = ROOT / ".venv" / "bin" / "python"
    assert python.exists(), f"{python} missing | fix: make venv"
    done = subprocess.run(
        [str(python), "-m", "tests.helpers.kind_requests"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pods = json.loads(done.stdout)
    assert {p["when"] for p in pods} == {"always", "install"}
    return pods


def _stage_groups(dags: LoadedDags, dag_id: str) -> list[tuple[list[str], float, float]]:
    """[(task ids, CPU m, memory MiB)] of the pods that run at once, per DAG depth, from the pods a
    real run renders on kind: at most the DAG's max_active_tasks of a depth at a time, the costliest
    of them together."""
    capture = PodCapture(stage_result)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values_env("kind").items():
            mp.setenv(key, value)
        dag = dags.dag(dag_id)
        assert set(task_states(run_dag(dag, capture.execute, logical_date=None)).values()) == {"success"}
    depth: dict[str, int] = {}
    for task in dag.topological_sort():
        depth[task.task_id] = 1 + max((depth[u] for u in task.upstream_task_ids), default=-1)
    levels: dict[int, list[tuple[str, float, float]]] = {}
    for task_id, level in depth.items():
        spec = ApiClient().sanitize_for_serialization(capture.pods[task_id])["spec"]
        levels.setdefault(level, []).append((task_id, *pod_requests(spec)))
    out = []
    for level in sorted(levels):
        together = sorted(levels[level], key=lambda item: (-item[1], -item[2]))[: dag.max_active_tasks]
        out.append(
            (
                sorted(t for t, _, _ in together),
                sum(c for _, c, _ in together),
                sum(m for _, _, m in together),
            )
        )
    return out


@pytest.mark.parametrize("dag_id", ["mlflow-multimodel-dag", "mlflow-dag"])
def test_each_step_of_a_dag_run_fits_the_minimum_kind_node(dags: LoadedDags, deployed, dag_id: str) -> None:
    cpus, memory = minimum_node()
    allocatable_cpu, allocatable_memory = cpus * 1000.0, memory - EVICTION_MI
    system_cpu, system_memory = kind_system_requests()
    always = [p for p in deployed if p["when"] == "always"]
    base_cpu = system_cpu + sum(p["cpu_m"] for p in always)
    base_memory = system_memory + sum(p["memory_mi"] for p in always)
    lines = [f"node {cpus} CPUs / {memory:.0f} MiB; kind {system_cpu:.0f}m/{system_memory:.0f}Mi; deployed "
             f"{base_cpu - system_cpu:.0f}m/{base_memory - system_memory:.0f}Mi"]  # fmt: skip
    groups = _stage_groups(dags, dag_id)
    if dag_id == "mlflow-multimodel-dag":
        from pipeline_common import model_catalogue

        dag = dags.dag(dag_id)
        trainers = {f"train.{m}" for m in model_catalogue.names()}
        assert all(dag.get_task(t).upstream_task_ids == {"preprocess"} for t in trainers), (
            "parallel in the DAG"
        )
        assert dag.max_active_tasks >= 2, "two trainers at once fit the minimum node"
        assert [len(g) for g, _, _ in groups if set(g) <= trainers] == [2], groups  # two at a time
    for tasks, cpu, mem in groups:
        lines.append(f"{'+'.join(tasks)}: {base_cpu + cpu:.0f}m of {allocatable_cpu:.0f}m, "
                     f"{base_memory + mem:.0f}Mi of {allocatable_memory:.0f}Mi")  # fmt: skip
        assert base_cpu + cpu <= allocatable_cpu, "\n".join(lines)
        assert base_memory + mem <= allocatable_memory, "\n".join(lines)
    print("\n".join(lines))


def test_the_install_fits_the_minimum_kind_node(deployed) -> None:
    cpus, memory = minimum_node()
    system_cpu, system_memory = kind_system_requests()
    cpu = system_cpu + sum(p["cpu_m"] for p in deployed)  # every Job at once, on top of everything
    mem = system_memory + sum(p["memory_mi"] for p in deployed)
    assert cpu <= cpus * 1000 and mem <= memory - EVICTION_MI, (cpu, mem)


def test_no_stage_budgets_more_cpus_than_the_minimum_node_has(dags: LoadedDags) -> None:
    cpus, _ = minimum_node()
    for dag_id in ("mlflow-dag", "mlflow-multimodel-dag"):
        for task in dags.dag(dag_id).tasks:
            limit = cpu_m(task.container_resources.limits["cpu"]) / 1000
            assert limit <= cpus, f"{task.task_id}: CPU limit {limit} > {cpus} CPUs of the minimum node"
            names = {getattr(e, "name", e) for e in task.env_vars}  # a dict before rendering
            assert "PIPELINE_CPUS" not in names, task.task_id
