"""The stage pods: each stage's size and time budget, the locked-down security settings, the XCom
sidecar's one definition, and StagePodOperator, the KubernetesPodOperator every task is.

Every pod passes the restricted Pod Security Standard the ml-pipeline namespace enforces
(tests/dags/test_rendered_pods.py). Stages pass URIs, never data: each pod writes return.json,
Airflow pushes it as the task's XCom and downstream arguments pull it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from kubernetes.client import models as k8s
from pipeline_common import __version__ as VERSION

from census_pipeline.deployment import GCS_EMULATOR_HOST, GCSFS_HNS_OFF, NAMESPACE, var
from census_pipeline.pod_lifecycle import PodLifecycleMixin

STAGE_UID = 10001  # fixed UID/GID of every stage image
SERVICE_ACCOUNT = "pipeline-stage"


@dataclass(frozen=True)
class Stage:
    """How one stage's pod runs: image, size and time budget."""

    image_variable: str
    image_name: str
    cpu_request: str
    # Whole CPUs. The stage sizes its pools from min(this cgroup quota, the node's CPUs), so its
    # budget never exceeds what the node has (PIPELINE_CPUS is left unset).
    cpu_limit: int
    memory_request: str
    memory_limit: str
    timeout: timedelta
    tmp_size: str = "1Gi"

    @property
    def image(self) -> str:
        return var(self.image_variable, f"census-pipeline/{self.image_name}:{VERSION}")

    def resources(self) -> k8s.V1ResourceRequirements:
        return k8s.V1ResourceRequirements(
            requests={"cpu": self.cpu_request, "memory": self.memory_request},
            limits={"cpu": str(self.cpu_limit), "memory": self.memory_limit},
        )


# Requests are sized so that the documented minimum kind node (docs/deployment.md, "Node size")
# runs everything deployed there plus both trainers at once; limits let a stage use idle CPUs.
STAGES: dict[str, Stage] = {
    "extract": Stage("extractor_image", "extractor", "500m", 1, "1Gi", "2Gi", timedelta(minutes=30), "2Gi"),
    "preprocess": Stage("preprocessor_image", "preprocessor", "500m", 1, "1Gi", "2Gi", timedelta(minutes=30)),
    "train": Stage("trainer_image", "trainer", "250m", 2, "1Gi", "4Gi", timedelta(hours=2)),
    "promote": Stage("trainer_image", "trainer", "250m", 1, "512Mi", "1Gi", timedelta(minutes=15)),
}

# Restricted Pod Security Standard: the ml-pipeline namespace enforces it.
POD_SECURITY_CONTEXT = k8s.V1PodSecurityContext(
    run_as_non_root=True,
    run_as_user=STAGE_UID,
    run_as_group=STAGE_UID,
    fs_group=STAGE_UID,
    seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
)


def container_security_context() -> k8s.V1SecurityContext:
    """For the stage container and the xcom sidecar alike (both only need /tmp and /airflow/xcom)."""
    return k8s.V1SecurityContext(
        run_as_non_root=True,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


# The xcom sidecar only sleeps until Airflow reads return.json (the provider runs sh, sleep,
# cat, test, kill, pgrep and id in it). Its one definition: these resources and
# container_security_context(); the connection names only the image (docs/dags.md).
XCOM_SIDECAR_REQUESTS = {"cpu": "5m", "memory": "16Mi"}
XCOM_SIDECAR_LIMITS = {"cpu": "50m", "memory": "32Mi"}


def xcom_sidecar_resources() -> k8s.V1ResourceRequirements:
    return k8s.V1ResourceRequirements(requests=dict(XCOM_SIDECAR_REQUESTS), limits=dict(XCOM_SIDECAR_LIMITS))


class StagePodOperator(PodLifecycleMixin, KubernetesPodOperator):
    """A KubernetesPodOperator with two rendering rules the stage pods rely on.

    - An argument that renders to "" is dropped, so optional flags read
      `{{ '--force' if params.force_refresh else '' }}`.
    - An env var that renders to "" is dropped: the contract treats empty as unset, and on real GCS
      STORAGE_EMULATOR_HOST must be absent, not empty, for any client that checks presence only.
    One pod rule: the xcom sidecar always gets this module's resources (one definition; a
    connection extra cannot replace them). And the pod lifecycle of pod_lifecycle.py: a pod whose
    task ended never runs later, and exit code 2 (bad input) fails the task without retries.
    """

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        self.arguments = [arg for arg in self.arguments or [] if arg != ""]
        self.env_vars = [
            e for e in self.env_vars or [] if e.value_from is not None or e.value not in ("", None)
        ]

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> k8s.V1Pod:
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        for container in pod.spec.containers:
            if container.name == PodDefaults.SIDECAR_CONTAINER_NAME:
                container.resources = xcom_sidecar_resources()
        return pod


def stage_operator(
    task_id: str,
    stage: str,
    arguments: Sequence[str],
    *,
    extra_env: dict[str, str] | None = None,
    pod_name: str | None = None,
    **kwargs: Any,
) -> StagePodOperator:
    """One stage pod: image and args from templates, locked-down security, sized per stage."""
    spec = STAGES[stage]
    env = {
        "STAGE_IMAGE": spec.image,
        "STORAGE_EMULATOR_HOST": GCS_EMULATOR_HOST,
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": GCSFS_HNS_OFF,
        "AIRFLOW_CTX_DAG_ID": "{{ dag.dag_id }}",
        "AIRFLOW_CTX_DAG_RUN_ID": "{{ run_id }}",
        "AIRFLOW_CTX_TASK_ID": "{{ ti.task_id }}",
        "AIRFLOW_CTX_TRY_NUMBER": "{{ ti.try_number }}",
        **(extra_env or {}),
    }
    timeout_s = int(spec.timeout.total_seconds())
    return StagePodOperator(
        task_id=task_id,
        name=pod_name or f"census-{task_id}",  # KPO appends a random suffix
        namespace=NAMESPACE,
        image=spec.image,
        image_pull_policy="IfNotPresent",
        arguments=list(arguments),
        env_vars=env,
        container_resources=spec.resources(),
        service_account_name=SERVICE_ACCOUNT,
        automount_service_account_token=False,  # stage pods never call the Kubernetes API
        security_context=POD_SECURITY_CONTEXT,
        container_security_context=container_security_context(),
        xcom_sidecar_container_security_context=container_security_context(),
        volumes=[k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit=spec.tmp_size))],
        volume_mounts=[k8s.V1VolumeMount(name="tmp", mount_path="/tmp")],  # noqa: S108 - emptyDir
        labels={
            "app.kubernetes.io/name": "census-pipeline",
            "app.kubernetes.io/component": stage,
            "app.kubernetes.io/part-of": "census-pipeline",
            "app.kubernetes.io/managed-by": "airflow",
            "app.kubernetes.io/version": VERSION,
        },  # KPO adds dag_id, task_id, run_id and try_number, made label-safe
        do_xcom_push=True,
        get_logs=True,
        # Failed pods stay for `kubectl logs/describe` (the newest per task); pod_lifecycle.py
        # deletes every other pod whose task has ended, whatever its phase.
        on_finish_action="delete_succeeded_pod",
        startup_timeout_seconds=600,  # first image pull on a fresh node
        startup_check_interval_seconds=1,  # look for "Running" every second, not every 5 s
        execution_timeout=spec.timeout,
        active_deadline_seconds=timeout_s,  # the cluster stops the pod even if the worker is gone
        retries=2,
        retry_delay=timedelta(seconds=30),
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(minutes=10),
        **kwargs,
    )
