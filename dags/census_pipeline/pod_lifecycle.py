"""What happens to a stage pod when its task ends, and how a stage's exit code ends the task.

Two rules the provider's KubernetesPodOperator (cncf.kubernetes 10.x) does not give us on its own:

1. A pod whose task has given up never runs later. With on_finish_action=delete_succeeded_pod the
   provider keeps every pod that did not succeed, including one still Pending when the start-up
   timeout fired: it stays in the queue and runs once capacity frees up (an orphan MLflow run, a
   sidecar holding CPU until activeDeadlineSeconds). Here the pod's *current* phase decides
   (`disposition`): never started or still running -> deleted; succeeded -> deleted; failed ->
   kept for `kubectl logs/describe`, and at most one failed pod per task instance survives
   (`prune_plan`: older tries' pods and any leftover orphans are deleted).
2. Exit code 2 is bad input (docs/contract.md): retrying cannot help, so the task fails at once
   (AirflowFailException, which Airflow never retries); every other failure keeps its retries.

Hooks, read in the installed provider (operators/pod.py): every way `execute` ends (success,
failure, start-up timeout, execution timeout) runs `cleanup` from its `finally`, and `cleanup`
decides through `process_pod_deletion`; `on_kill` (SIGTERM, marked failed, execution timeout)
deletes the pod in any phase and sets `_killed`, after which `cleanup` does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException
from kubernetes.client import models as k8s
from kubernetes.client.rest import ApiException

BAD_INPUT_EXIT_CODE = 2  # docs/contract.md: bad input or config; 1 = a bug; 143 = SIGTERM


class Disposition(StrEnum):
    DELETE = "delete"
    KEEP = "keep"


def _base_status(pod: k8s.V1Pod, base_container: str) -> Any:
    statuses = (pod.status.container_statuses if pod.status else None) or []
    return next((s for s in statuses if s.name == base_container), None)


def base_exit_code(pod: k8s.V1Pod | None, base_container: str) -> int | None:
    """The stage container's exit code, or None while it has not terminated (or the pod is gone)."""
    if pod is None:
        return None
    status = _base_status(pod, base_container)
    terminated = status.state.terminated if status is not None and status.state is not None else None
    return terminated.exit_code if terminated is not None else None


def disposition(pod: k8s.V1Pod | None, base_container: str) -> tuple[Disposition | None, str]:
    """What to do with a stage pod once its task is done with it, and why (for the task log).

    `pod` is the pod as the API returns it now (None: it is gone). Called only when the task no
    longer waits for the pod, so anything that has not finished must not be left to run.
    """
    if pod is None:
        return None, "already gone"
    phase = pod.status.phase if pod.status else None
    code = base_exit_code(pod, base_container)
    if phase == "Succeeded" or (phase == "Running" and code == 0):
        return Disposition.DELETE, "succeeded: deleted"
    if phase == "Failed":
        return Disposition.KEEP, "failed: kept for `kubectl logs/describe` (the latest one of the task)"
    if phase == "Running" and code is not None:
        return Disposition.KEEP, f"stage exited {code}: kept for `kubectl logs/describe` (the latest one)"
    if phase == "Running":
        return Disposition.DELETE, "still running although its task has ended: deleted (no orphans)"
    if phase == "Pending":
        return Disposition.DELETE, "never started (Pending): deleted, so it cannot run later as an orphan"
    return Disposition.DELETE, f"phase {phase or 'unknown'} (node unreachable?): deleted"


def prune_plan(pods: Iterable[k8s.V1Pod], current: str | None) -> list[str]:
    """Names of this task instance's other pods to delete: all but the newest failed one.

    `pods` are every pod of one task instance (all tries); `current` is the pod this try just
    handled, which `disposition` already dealt with and which is never listed here.
    """
    others = [p for p in pods if p.metadata.name != current]
    failed = [p for p in pods if (p.status.phase if p.status else None) == "Failed"]
    newest_failed = max(failed, key=lambda p: p.metadata.creation_timestamp or 0, default=None)
    keep = {newest_failed.metadata.name} if newest_failed is not None else set()
    return sorted(p.metadata.name for p in others if p.metadata.name not in keep)


class PodLifecycleMixin:
    """For a KubernetesPodOperator subclass: the two rules above, at the provider's own hooks."""

    # Attributes and methods of KubernetesPodOperator this mixin relies on.
    base_container_name: str
    pod: k8s.V1Pod | None
    pod_request_obj: k8s.V1Pod | None
    _killed: bool
    log: Any
    pod_manager: Any
    client: Any

    def _read_current(self, pod: k8s.V1Pod) -> k8s.V1Pod | None:
        """The pod as the API has it now (the operator's snapshot may be minutes old), None if gone."""
        try:
            return self.pod_manager.read_pod(pod)
        except ApiException as exc:
            if str(exc.status) == "404":
                return None
            raise

    def process_pod_deletion(self, pod: k8s.V1Pod, *, reraise: bool = True) -> bool:
        if pod is None:
            return False
        try:
            current = self._read_current(pod)
            decision, why = disposition(current, self.base_container_name)
            self.log.info("Pod %s: %s", pod.metadata.name, why)
            if decision is Disposition.DELETE:
                self.pod_manager.delete_pod(current)
                return True
            if decision is Disposition.KEEP and current.status.phase == "Running":
                self._stop_sidecar(current)
            return False
        except Exception:
            if reraise:
                raise
            self.log.exception("Could not clean up pod %s", pod.metadata.name)
            return False

    def _stop_sidecar(self, pod: k8s.V1Pod) -> None:
        """A kept pod's XCom sidecar would hold its CPU until activeDeadlineSeconds: stop it."""
        try:
            self.pod_manager.extract_xcom_kill(pod)
        except Exception as exc:  # best effort: the pod's activeDeadlineSeconds still bounds it
            self.log.warning("Could not stop the xcom sidecar of kept pod %s: %s", pod.metadata.name, exc)

    def cleanup(
        self,
        pod: k8s.V1Pod,
        remote_pod: k8s.V1Pod,
        xcom_result: dict | None = None,
        context: Any = None,
    ) -> None:
        try:
            if remote_pod is None and pod is not None and not self._killed:
                # The pod may exist although the operator never saw it (find_pod failed after the
                # create): the provider would return without cleaning up, leaving it to run.
                self.process_pod_deletion(pod, reraise=False)
            super().cleanup(pod, remote_pod, xcom_result, context)  # type: ignore[misc]
        except AirflowException as exc:
            if isinstance(exc, AirflowFailException):
                raise
            code = base_exit_code(remote_pod, self.base_container_name)
            if code == BAD_INPUT_EXIT_CODE:
                raise AirflowFailException(
                    f"Pod {pod.metadata.name if pod else '?'}: the stage exited {code} (bad input or "
                    "configuration, docs/contract.md), so the task fails now without retries. "
                    "Its ERROR line above says what to fix."
                ) from exc
            raise
        finally:
            if context is not None and not self._killed:
                self._prune(context, current=(remote_pod or pod))

    def _prune(self, context: Any, current: k8s.V1Pod | None) -> None:
        """Delete this task instance's other pods (earlier tries), keeping the newest failed one."""
        template = current or self.pod_request_obj
        if template is None:
            return
        try:
            selector = self._build_find_pod_label_selector(context, exclude_checked=False)  # type: ignore[attr-defined]
            pods = self.client.list_namespaced_pod(template.metadata.namespace, label_selector=selector).items
            for name in prune_plan(pods, current.metadata.name if current else None):
                self.log.info("Deleting pod %s of an earlier try of this task", name)
                victim = next(p for p in pods if p.metadata.name == name)
                self.pod_manager.delete_pod(victim)
        except Exception as exc:  # never turn a finished task into a failure over housekeeping
            self.log.warning("Could not prune earlier pods of this task: %s", exc)
