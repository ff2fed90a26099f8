"""Helpers of the DAG tier: load the DAG bag, run a DAG with its pods captured or executed.

No Airflow import at module level: conftest imports this before it configures Airflow.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "dags"


def trigger_defaults() -> tuple[str, dict[str, Any]]:
    """(DAG, CONF) that `make trigger` sends when given none (tests/helpers/kind_make.py)."""
    from tests.helpers.kind_make import trigger_defaults as parsed

    return parsed()


def in_cluster_stand_ins(env: dict[str, str], local: dict[str, str]) -> dict[str, str]:
    """`env` with the in-cluster service URLs replaced by local stand-ins, and only those.

    `local` maps each in-cluster URL (http://<svc>.<ns>.svc.cluster.local:<port>) to the URL of
    the server standing in for it here; every other value is passed through untouched, and a
    value naming an in-cluster service without a stand-in is an error.
    """
    out = {}
    for key, value in env.items():
        out[key] = local.get(value, value)
        assert ".svc.cluster.local" not in out[key], f"{key}={value}: no local stand-in for it"
    return out


class LoadedDags:
    """The DAG bag as Airflow's DAG processor builds it, plus what parsing warned about."""

    def __init__(self) -> None:
        from airflow.dag_processing.dagbag import BundleDagBag

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # BundleDagBag, as the DAG processor and task runner use: it puts the bundle root
            # (dags/) on sys.path, which is how `census_pipeline.ops` is importable.
            self.bag = BundleDagBag(str(DAGS_FOLDER), bundle_path=DAGS_FOLDER, bundle_name="dags-folder")
        self.warnings = list(caught)

    def dag(self, dag_id: str) -> Any:
        """The DAG freshly parsed from its file, for one use.

        Resolving params (in dag.test(), or Param.resolve) stores the run's values in the task's
        Param objects, which copy.deepcopy(dag) shares; reusing a DAG object would leak one
        test's conf into the next.
        """
        from airflow.dag_processing.dagbag import BundleDagBag

        fresh = BundleDagBag(
            str(DAGS_FOLDER), bundle_path=DAGS_FOLDER, bundle_name="dags-folder", collect_dags=False
        )
        fresh.process_file(self.bag.dags[dag_id].fileloc)
        return fresh.dags[dag_id]


class PodCapture:
    """Stands in for KubernetesPodOperator.execute: records the V1Pod each task would create.

    The pod is built exactly as execute() builds it (after Airflow rendered the templates with
    the run's real context and XComs), minus the cluster: `build_pod_request_obj(context,
    dry_run=True)`. `result(task_id, pod)` gives what the pod's return.json would hold, so the
    DAG's XCom passing runs for real.
    """

    def __init__(self, result: Any) -> None:
        self.result = result
        self.pods: dict[str, Any] = {}

    def execute(self, op: Any, context: Any) -> Any:
        pod = op.build_pod_request_obj(context, dry_run=True)
        self.pods[op.task_id] = pod
        return self.result(op.task_id, pod)


def base_container(pod: Any) -> Any:
    return container(pod, "base")


def container(pod: Any, name: str) -> Any:
    found = [c for c in pod.spec.containers if c.name == name]
    assert len(found) == 1, (
        f"expected one container named {name!r}, got {[c.name for c in pod.spec.containers]}"
    )
    return found[0]


def arg_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def stage_result(task_id: str, pod: Any) -> dict[str, Any]:
    """A contract-shaped return.json for a captured pod, derived from the pod's own arguments."""
    args = base_container(pod).args
    if task_id == "extract":
        return {"stage": "extract", "raw_uri": arg_after(args, "--output"), "rows": 100, "cached": False}
    if task_id == "preprocess":
        prefix = arg_after(args, "--output-prefix")
        return {"stage": "preprocess", "features_uri": f"{prefix}/features.json", "rows_train": 80}
    if args[0] == "train":
        model = arg_after(args, "--model")
        return {"stage": "train", "model": model, "run_id": f"run-{model}", "metrics": {"roc_auc": 0.9}}
    return {"stage": "promote", "promoted": True}


def run_dag(dag: Any, execute: Any, **test_kwargs: Any) -> Any:
    """dag.test() with every KubernetesPodOperator.execute swapped for `execute(op, context)`."""
    import pytest
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    def swapped(op: Any, context: Any) -> Any:
        return execute(op, context)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(KubernetesPodOperator, "execute", swapped)
        return dag.test(**test_kwargs)


def task_states(dag_run: Any) -> dict[str, str]:
    return {
        ti.task_id: str(ti.state.value if hasattr(ti.state, "value") else ti.state)
        for ti in dag_run.get_task_instances()
    }
