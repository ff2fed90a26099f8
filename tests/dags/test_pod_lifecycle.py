"""A stage pod never outlives its task, a failed one is kept (the newest per task), exit 2 is not retried.

Two levels: the decision itself (dags/census_pipeline/pod_lifecycle.py `disposition`, `prune_plan`)
for every phase a pod can be in, and the real operator path: each task's StagePodOperator and
context from a real dag.test() run, its provider `cleanup` (which calls our `process_pod_deletion`)
and `on_kill`, against a stand-in API (tests/dags/fake_k8s.py) that holds the pod in that phase.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from tests.dags.dagtools import LoadedDags, run_dag, stage_result, task_states
from tests.dags.fake_k8s import FakeCoreV1Api, attach, pod_with_status


@pytest.fixture(scope="module")
def lifecycle() -> Any:
    from census_pipeline import pod_lifecycle

    return pod_lifecycle


@pytest.fixture(scope="module")
def handled(dags: LoadedDags) -> dict[str, tuple[Any, Any, Any]]:
    """One real run of mlflow-dag: each task's operator, its run-time context and the pod it built."""
    records: dict[str, tuple[Any, Any, Any]] = {}

    def execute(op: Any, context: Any) -> Any:
        pod = op.build_pod_request_obj(context, dry_run=True)
        records[op.task_id] = (op, context, pod)
        return stage_result(op.task_id, pod)

    dag_run = run_dag(dags.dag("mlflow-dag"), execute)
    assert set(task_states(dag_run).values()) == {"success"}
    return records


def _setup(handled, task_id: str = "extract") -> tuple[Any, Any, Any, FakeCoreV1Api]:
    op, context, pod = handled[task_id]
    op = copy.copy(op)
    op._killed = False
    api = FakeCoreV1Api()
    attach(op, api)
    op.pod = pod
    return op, context, pod, api


# -- the decision, for every phase ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("phase", "exit_code", "sidecar_running", "expected"),
    [
        ("Pending", None, False, "delete"),  # never started: would run later as an orphan
        ("Running", None, False, "delete"),  # the task gave up while it ran (timeout, error)
        ("Running", 0, True, "delete"),  # stage succeeded, sidecar not yet stopped
        ("Running", 1, True, "keep"),  # stage failed, sidecar not yet stopped: kept (sidecar stopped)
        ("Succeeded", 0, False, "delete"),
        ("Failed", 1, False, "keep"),
        ("Failed", 2, False, "keep"),
        ("Unknown", None, False, "delete"),  # node lost: nothing to debug, nothing may run later
    ],
)
def test_disposition_for_every_phase(handled, lifecycle, phase, exit_code, sidecar_running, expected) -> None:
    _, _, pod = handled["extract"]
    decision, why = lifecycle.disposition(
        pod_with_status(pod, phase, exit_code=exit_code, sidecar_running=sidecar_running), "base"
    )
    assert decision is not None and decision.value == expected, why
    assert why


def test_disposition_of_a_pod_that_is_gone(lifecycle) -> None:
    assert lifecycle.disposition(None, "base") == (None, "already gone")


def test_prune_plan_keeps_only_the_newest_failed_pod(handled, lifecycle) -> None:
    _, _, pod = handled["extract"]

    def named(name: str, phase: str) -> Any:
        p = pod_with_status(pod, phase, exit_code=1 if phase == "Failed" else None)
        p.metadata.name = name
        return p

    older, orphan, newer, current = (
        named("try1", "Failed"),
        named("try2", "Pending"),
        named("try2b", "Failed"),
        named("try3", "Failed"),
    )
    assert lifecycle.prune_plan([older, orphan, newer, current], "try3") == ["try1", "try2", "try2b"]
    assert lifecycle.prune_plan([older, orphan], "try3") == ["try2"], (
        "after a success the newest failure stays"
    )
    assert lifecycle.prune_plan([], None) == []


# -- the real operator path ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("phase", "exit_code", "kept", "raised"),
    [
        ("Pending", None, False, AirflowException),  # start-up timeout: the Pending pod is deleted
        ("Running", None, False, AirflowException),  # the task ended while the pod still ran
        ("Succeeded", 0, False, None),
        ("Failed", 1, True, AirflowException),  # retryable failure: kept for debugging
        ("Failed", 2, True, AirflowFailException),  # bad input: kept, and no retries
        ("Unknown", None, False, AirflowException),
    ],
)
def test_cleanup_for_every_phase(handled, phase, exit_code, kept, raised) -> None:
    op, context, pod, api = _setup(handled)
    api.add(pod_with_status(pod, phase, exit_code=exit_code))
    # What the operator saw last may be older than the pod (after a start-up timeout: Pending).
    snapshot = (
        pod_with_status(pod, "Pending")
        if phase in ("Pending", "Running", "Unknown")
        else api.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
    )
    if raised is None:
        op.cleanup(pod, snapshot, context=context)
    else:
        with pytest.raises(raised) as info:
            op.cleanup(pod, snapshot, context=context)
        if raised is AirflowException:
            assert not isinstance(info.value, AirflowFailException), "other failures keep their retries"
    assert (api.phase(pod.metadata.name) == phase) is kept, api.deleted
    if kept:
        assert (
            api.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace).metadata.labels[
                "already_checked"
            ]
            == "True"
        )


def test_bad_input_message_says_no_retries(handled) -> None:
    op, context, pod, api = _setup(handled)
    remote = api.add(pod_with_status(pod, "Failed", exit_code=2))
    with pytest.raises(AirflowFailException, match=r"exited 2 \(bad input"):
        op.cleanup(pod, remote, context=context)


def test_cleanup_of_a_pod_that_is_already_gone(handled) -> None:
    op, context, pod, api = _setup(handled)
    with pytest.raises(AirflowException):
        op.cleanup(pod, pod_with_status(pod, "Pending"), context=context)
    assert api.deleted == []


def test_a_pod_the_operator_never_saw_is_still_removed(handled) -> None:
    # Created, then find_pod failed: the provider's cleanup returns at once (remote_pod is None).
    op, context, pod, api = _setup(handled)
    api.add(pod_with_status(pod, "Pending"))
    op.cleanup(pod, None, context=context)
    assert api.deleted == [pod.metadata.name]


def test_only_the_newest_failed_pod_of_a_task_survives_a_retry(handled) -> None:
    op, context, pod, api = _setup(handled)
    earlier = pod_with_status(pod, "Failed", exit_code=1)
    earlier.metadata.name, earlier.metadata.labels = (
        "extract-try1",
        {**earlier.metadata.labels, "try_number": "0"},
    )
    orphan = pod_with_status(pod, "Pending")
    orphan.metadata.name = "extract-orphan"
    api.add(earlier)
    api.add(orphan)
    current = api.add(pod_with_status(pod, "Failed", exit_code=1))
    with pytest.raises(AirflowException):
        op.cleanup(pod, current, context=context)
    assert sorted(n for _, n in api.pods) == [pod.metadata.name]
    assert sorted(api.deleted) == ["extract-orphan", "extract-try1"]


def test_other_tasks_pods_are_left_alone(handled) -> None:
    op, context, pod, api = _setup(handled)
    _, _, other_pod = handled["preprocess"]
    other = api.add(pod_with_status(other_pod, "Pending"))
    api.add(pod_with_status(pod, "Succeeded", exit_code=0))
    op.cleanup(pod, api.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace), context=context)
    assert [n for _, n in api.pods] == [other.metadata.name]


def test_on_kill_deletes_the_pod_whatever_its_phase_and_cleanup_then_does_nothing(handled) -> None:
    op, context, pod, api = _setup(handled)
    api.add(pod_with_status(pod, "Pending"))
    op.on_kill()
    assert api.deleted == [pod.metadata.name] and op._killed is True
    op.cleanup(pod, pod_with_status(pod, "Pending"), context=context)  # no error, nothing more
    assert api.deleted == [pod.metadata.name]
