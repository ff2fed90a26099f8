"""A stand-in for the Kubernetes CoreV1Api calls KubernetesPodOperator makes after a pod has run.

The DAG tier has no cluster, but the operator's own clean-up path (`post_complete_action` ->
`cleanup` -> `process_pod_deletion`, patched labels, the pruning of earlier tries' pods in
dags/census_pipeline/pod_lifecycle.py) should run for real. This class keeps pods in a dict and
implements exactly the calls that path makes; anything else raises AttributeError.

    api = FakeCoreV1Api()
    attach(op, api)                               # op.client and op.pod_manager use it
    api.add(pod_with_status(pod, "Failed", exit_code=2))
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from typing import Any

from kubernetes.client import models as k8s
from kubernetes.client.rest import ApiException

_CLOCK = itertools.count()


def _not_found(name: str) -> ApiException:
    exc = ApiException(status=404, reason="Not Found")
    exc.body = f'pods "{name}" not found'
    return exc


def _matches(labels: dict[str, str], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        else:
            key, value = term.split("=", 1)
            if labels.get(key) != value:
                return False
    return True


class FakeCoreV1Api:
    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], k8s.V1Pod] = {}
        self.deleted: list[str] = []
        self.patched: list[tuple[str, dict[str, Any]]] = []

    def add(self, pod: k8s.V1Pod) -> k8s.V1Pod:
        self.pods[(pod.metadata.namespace, pod.metadata.name)] = pod
        return pod

    def phase(self, name: str) -> str | None:
        pod = next((p for (_, n), p in self.pods.items() if n == name), None)
        return pod.status.phase if pod is not None else None

    # -- the calls the operator makes --------------------------------------------------------
    def read_namespaced_pod(self, name: str, namespace: str, **_: Any) -> k8s.V1Pod:
        try:
            return copy.deepcopy(self.pods[(namespace, name)])
        except KeyError:
            raise _not_found(name) from None

    def delete_namespaced_pod(self, name: str, namespace: str, body: Any = None, **_: Any) -> None:
        if self.pods.pop((namespace, name), None) is None:
            raise _not_found(name)
        self.deleted.append(name)

    def patch_namespaced_pod(self, name: str, namespace: str, body: dict[str, Any], **_: Any) -> None:
        pod = self.pods.get((namespace, name))
        if pod is None:
            raise _not_found(name)
        pod.metadata.labels = {**(pod.metadata.labels or {}), **body["metadata"]["labels"]}
        self.patched.append((name, body))

    def list_namespaced_pod(self, namespace: str, label_selector: str = "", **_: Any) -> k8s.V1PodList:
        items = [
            copy.deepcopy(p)
            for (ns, _), p in self.pods.items()
            if ns == namespace and _matches(p.metadata.labels or {}, label_selector)
        ]
        return k8s.V1PodList(items=items)

    def list_namespaced_event(self, namespace: str, **_: Any) -> k8s.CoreV1EventList:
        return k8s.CoreV1EventList(items=[])


def attach(op: Any, api: FakeCoreV1Api) -> None:
    """Point an operator's cached `client` and `pod_manager` at the stand-in."""
    from airflow.providers.cncf.kubernetes.utils.pod_manager import PodManager

    op.__dict__["client"] = api
    op.__dict__["pod_manager"] = PodManager(kube_client=api)


def pod_with_status(
    pod: k8s.V1Pod, phase: str, *, exit_code: int | None = None, sidecar_running: bool = False
) -> k8s.V1Pod:
    """A copy of a built pod as the API would report it in `phase` (base container exit code)."""
    pod = copy.deepcopy(pod)
    pod.metadata.creation_timestamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(
        seconds=next(_CLOCK)
    )
    statuses = []
    for container in pod.spec.containers:
        code = exit_code if container.name == "base" else 0
        if code is None or (container.name != "base" and sidecar_running):
            state = k8s.V1ContainerState(running=k8s.V1ContainerStateRunning())
        else:
            state = k8s.V1ContainerState(terminated=k8s.V1ContainerStateTerminated(exit_code=code))
        statuses.append(
            k8s.V1ContainerStatus(
                name=container.name,
                image=container.image,
                image_id="",
                ready=False,
                restart_count=0,
                state=state,
            )
        )
    if phase == "Pending":
        statuses = []
    pod.status = k8s.V1PodStatus(phase=phase, container_statuses=statuses or None)
    return pod
