"""Stage operators, DAG params and DAG settings shared by the census pipeline DAGs.

Every task is a KubernetesPodOperator running one stage image (docs/contract.md). Everything a
deployment changes comes from Airflow Variables through templates, so it can be set with env
`AIRFLOW_VAR_<NAME>` and nothing is read at parse time:

    extractor_image, preprocessor_image, trainer_image, mlflow_tracking_uri, data_bucket,
    pipeline_namespace, gcs_emulator_host (empty or unset on real GCS), default_source (the source
    of a run that leaves `source` empty), bigquery_project (BigQuery billing project; may be empty)

Stages pass URIs, never data: each pod writes return.json, Airflow pushes it as the task's XCom and
downstream `arguments=` pull it (`ti.xcom_pull(...)`). Outputs are keyed by DAG id and run id, never
by logical date (REST-triggered runs have none).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.xcom_sidecar import PodDefaults
from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowSkipException
from kubernetes.client import models as k8s

from census_pipeline.pod_lifecycle import PodLifecycleMixin

# The one list of models the DAGs know; the trainer image must support each (trainer/models.py).
MODELS: tuple[str, ...] = ("lgbm", "logreg")
VERSION = "0.1.0"
REGISTERED_MODEL = "census-never-married"
CHAMPION_ALIAS = "champion"
DEFAULT_SOURCE = "bigquery://bigquery-public-data.ml_datasets.census_adult_income"
DEFAULT_EXPERIMENT = "census-income"
STAGE_UID = 10001  # fixed UID/GID of every stage image
SERVICE_ACCOUNT = "pipeline-stage"


def var(name: str, default: str) -> str:
    """Template reading Airflow Variable `name` at run time (env AIRFLOW_VAR_<NAME> works too)."""
    return f"{{{{ var.value.get({name!r}, {default!r}) }}}}"


BUCKET = var("data_bucket", "census-pipeline-data")
NAMESPACE = var("pipeline_namespace", "ml-pipeline")
MLFLOW_TRACKING_URI = var("mlflow_tracking_uri", "http://mlflow.mlflow.svc.cluster.local:5000")
# Empty renders are dropped from the pod env (StagePodOperator), so on real GCS neither is set.
GCS_EMULATOR_HOST = var("gcs_emulator_host", "")
# The run's source: the `source` param, or when it is left empty the deployment's default
# (Variable default_source: the seeded gs:// CSV on kind), else the public BigQuery table.
SOURCE = f"{{{{ params.source or var.value.get('default_source', {DEFAULT_SOURCE!r}) }}}}"
# Billing/quota project of BigQuery reads (GOOGLE_CLOUD_PROJECT of the extract pod; absent when empty).
BIGQUERY_PROJECT = var("bigquery_project", "")
GCSFS_HNS_OFF = "{{ 'false' if var.value.get('gcs_emulator_host', '') else '' }}"
# gs://BUCKET/runs/<dag_id>/<run_id>: a retry of the same run reuses (and may cache on) its outputs.
RUN_PREFIX = "gs://" + BUCKET + "/runs/{{ dag.dag_id }}/{{ run_id | path_safe }}"

_PATH_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def path_safe(value: Any) -> str:
    """A run id as one GCS path segment: [A-Za-z0-9._-] only, plus a short hash if anything changed.

    Scheduled and manual run ids hold ':' and '+', and REST clients may send any text ('/', '#',
    '?', spaces, '..'), which would split or escape the object path. The hash keeps two run ids
    that differ only in replaced characters apart.
    """
    text = str(value)
    safe = _PATH_UNSAFE.sub("_", text).strip("._")[:100]
    if safe == text:
        return safe
    return f"{safe or 'run'}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


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


def force_flag() -> str:
    return "{{ '--force' if params.force_refresh else '' }}"


def extract_op() -> StagePodOperator:
    return stage_operator(
        "extract",
        "extract",
        ["--source", SOURCE, "--output", f"{RUN_PREFIX}/extract/census.parquet", force_flag()],
        extra_env={"GOOGLE_CLOUD_PROJECT": BIGQUERY_PROJECT},
        doc_md="Reads `params.source` (or the deployment's default source) into one Parquet object.",
    )


def preprocess_op() -> StagePodOperator:
    return stage_operator(
        "preprocess",
        "preprocess",
        [
            "--input",
            "{{ ti.xcom_pull(task_ids='extract')['raw_uri'] }}",
            "--output-prefix",
            f"{RUN_PREFIX}/preprocess",
            "--test-size",
            "{{ params.test_size }}",
            "--seed",
            "{{ params.seed }}",
            force_flag(),
        ],
        doc_md="Cleans and encodes the raw table; writes train/test Parquet and the features.json manifest.",
    )


def fit_op(task_id: str, model: str, **kwargs: Any) -> StagePodOperator:
    """A trainer pod fitting `model` (a template such as '{{ params.model }}' or a fixed name)."""
    return stage_operator(
        task_id,
        "train",
        [
            "fit",
            "--model",
            model,
            "--features-uri",
            "{{ ti.xcom_pull(task_ids='preprocess')['features_uri'] }}",
            "--experiment",
            "{{ params.experiment }}",
            "--grid",
            "{{ params.grid }}",
            "--search",
            "{{ params.search }}",
        ],
        extra_env={"MLFLOW_TRACKING_URI": MLFLOW_TRACKING_URI},
        doc_md="Cross-validated search over one model's grid, logged as one MLflow run.",
        **kwargs,
    )


def skip_unless_selected(model: str, context: Any) -> None:
    """pre_execute hook: a trainer whose model is not in `params.models` is skipped before any pod."""
    selected = context["params"]["models"]
    if model not in selected:
        raise AirflowSkipException(f"model {model!r} not selected (params.models = {list(selected)})")


def selected_fit_op(model: str) -> StagePodOperator:
    """The multi-model DAG's trainer for one fixed model; skipped unless the run selects it."""
    return fit_op(
        model, model, pod_name=f"census-train-{model}", pre_execute=partial(skip_unless_selected, model)
    )


def promote_op(trainer_task_ids: Sequence[str]) -> StagePodOperator:
    """Registers the best candidate; candidates are the XComs of the trainers that ran.

    xcom_pull over several task ids gives None for a skipped trainer (Airflow 3.3; other versions
    drop it), so the template rejects None and relies on each fit return.json naming its model,
    never on positions. A failed trainer stops promotion: the champion only moves after a complete
    comparison.
    """
    task_ids = list(trainer_task_ids)
    return stage_operator(
        "promote",
        "promote",
        [
            "promote",
            "--experiment",
            "{{ params.experiment }}",
            "--model-name",
            REGISTERED_MODEL,
            "--candidates",
            f"{{{{ ti.xcom_pull(task_ids={task_ids!r}) | reject('none') | list | tojson }}}}",
            "--alias",
            CHAMPION_ALIAS,
            # The gate (docs/promotion.md): the champion is replaced only by a gain of at least
            # min_delta that the paired DeLong test finds significant at alpha, and no guarded
            # slice (sex, race) losing more than max_slice_drop.
            "--min-delta",
            "{{ params.min_delta }}",
            "--alpha",
            "{{ params.alpha }}",
            "--max-slice-drop",
            "{{ params.max_slice_drop }}",
        ],
        extra_env={"MLFLOW_TRACKING_URI": MLFLOW_TRACKING_URI},
        trigger_rule="none_failed_min_one_success",
        doc_md=f"Moves `@{CHAMPION_ALIAS}` of `{REGISTERED_MODEL}` to the best candidate only if it "
        "beats the champion on the same holdout by min_delta, significantly (DeLong at alpha), "
        "without a slice losing more than max_slice_drop; only a winner is registered.",
    )


def common_params() -> dict[str, Param]:
    """Run-time choices of both DAGs, validated by Airflow before any task starts."""
    return {
        "source": Param(
            "",
            type="string",
            pattern=r"^(|bigquery://[A-Za-z0-9:._-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+|gs://[a-z0-9][a-z0-9._-]{1,221}/.+)$",
            title="Source",
            description=(
                "bigquery://PROJECT.DATASET.TABLE, or a CSV/Parquet object gs://BUCKET/PATH. Empty: the "
                f"deployment's default (Variable default_source; without it {DEFAULT_SOURCE})."
            ),
        ),
        "grid": Param(
            "full",
            type="string",
            enum=["full", "demo"],
            title="Grid",
            description="Hyper-parameter grid of the trainer image: full, or demo (seconds).",
        ),
        "search": Param(
            "grid",
            type="string",
            enum=["grid", "halving"],
            title="Search",
            description="grid: exhaustive GridSearchCV; halving: successive halving.",
        ),
        "experiment": Param(
            DEFAULT_EXPERIMENT,
            type="string",
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
            title="MLflow experiment",
            description="Letters, digits, '.', '_' or '-'; created if missing.",
        ),
        "test_size": Param(
            0.2,
            type="number",
            minimum=0.05,
            maximum=0.5,
            title="Test size",
            description="Holdout fraction (0.05-0.5).",
        ),
        "seed": Param(
            55,
            type="integer",
            minimum=0,
            maximum=2**31 - 1,
            title="Seed",
            description="Seed of the split and the estimators.",
        ),
        "force_refresh": Param(
            False,
            type="boolean",
            title="Force refresh",
            description="Re-extract and re-preprocess even if this run's outputs exist.",
        ),
        # The promotion gate (trainer promote; defaults and their numbers: docs/promotion.md).
        "min_delta": Param(
            0.001,
            type="number",
            minimum=0,
            maximum=0.1,
            title="Promotion: min ROC AUC gain",
            description="Smallest holdout ROC AUC gain over the champion that may replace it (0-0.1).",
        ),
        "alpha": Param(
            0.05,
            type="number",
            exclusiveMinimum=0,
            maximum=0.5,
            title="Promotion: significance level",
            description="Level of the one-sided paired DeLong test of the gain (0-0.5, not 0).",
        ),
        "max_slice_drop": Param(
            0.02,
            type="number",
            minimum=0,
            maximum=1,
            title="Promotion: max slice drop",
            description="Largest ROC AUC loss allowed on any sex or race slice of 500+ rows (0-1).",
        ),
    }


def model_param() -> Param:
    """The single-model DAG's one model."""
    return Param("lgbm", type="string", enum=list(MODELS), title="Model", description="Model to train.")


def models_param() -> Param:
    """The multi-model DAG's models: each selected one trains in its own pod, in parallel."""
    return Param(
        list(MODELS),
        type="array",
        items={"type": "string", "enum": list(MODELS)},
        minItems=1,
        uniqueItems=True,
        title="Models",
        description=f"One or more of {', '.join(MODELS)}; trainers of unselected models are skipped.",
    )


DAG_DEFAULTS: dict[str, Any] = {
    "schedule": None,
    "catchup": False,
    # One run at a time: promote compares against and moves one shared alias.
    "max_active_runs": 1,
    "user_defined_filters": {"path_safe": path_safe},
    "tags": ["census", "mlflow", "kubernetes"],
}
