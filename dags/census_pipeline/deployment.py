"""What a deployment sets for the DAGs, read at run time through templates, never at parse time.

Every value is an Airflow Variable (so env `AIRFLOW_VAR_<NAME>` works, as the Helm values set them):

    extractor_image, preprocessor_image, trainer_image  the stage images
    mlflow_tracking_uri                                 MLFLOW_TRACKING_URI of the trainer pods
    data_bucket, pipeline_namespace                     where outputs and pods go
    gcs_emulator_host                                   empty or unset on real GCS
    default_source_<dataset>                            the source of a run that leaves `source` empty
                                                        (kind: the seeded gs:// copy; else the spec's)
    bigquery_project                                    BigQuery billing project (may be empty)

Outputs are keyed by DAG id and run id, never by logical date (REST-triggered runs have none).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pipeline_common import dataset_spec


def var(name: str, default: str) -> str:
    """Template reading Airflow Variable `name` at run time (env AIRFLOW_VAR_<NAME> works too)."""
    return f"{{{{ var.value.get({name!r}, {default!r}) }}}}"


BUCKET = var("data_bucket", "census-pipeline-data")
NAMESPACE = var("pipeline_namespace", "ml-pipeline")
MLFLOW_TRACKING_URI = var("mlflow_tracking_uri", "http://mlflow.mlflow.svc.cluster.local:5000")
# Empty renders are dropped from the pod env (StagePodOperator), so on real GCS neither is set.
GCS_EMULATOR_HOST = var("gcs_emulator_host", "")
GCSFS_HNS_OFF = "{{ 'false' if var.value.get('gcs_emulator_host', '') else '' }}"
# Billing/quota project of BigQuery reads (GOOGLE_CLOUD_PROJECT of the extract pod; absent when empty).
BIGQUERY_PROJECT = var("bigquery_project", "")
# gs://BUCKET/runs/<dag_id>/<run_id>: a retry of the same run reuses (and may cache on) its outputs.
RUN_PREFIX = "gs://" + BUCKET + "/runs/{{ dag.dag_id }}/{{ run_id | path_safe }}"
SOURCE_VARIABLE = "default_source_{dataset}"


def spec_defaults() -> dict[str, dict[str, str]]:
    """Per dataset of datasets/: its default target and default source (the spec's; "" if none)."""
    defaults = {}
    for name in dataset_spec.available():
        spec = dataset_spec.load(name)
        defaults[name] = {"target": spec.default_target, "source": spec.default_source or ""}
    return defaults


def _by_dataset(key: str) -> str:
    """A Jinja expression: the spec default `key` of the run's dataset."""
    table = {name: values[key] for name, values in spec_defaults().items()}
    return f"{table!r}[params.dataset]"


def source_expression() -> str:
    """The run's source: the `source` param; when empty, Variable default_source_<dataset>; else the
    dataset spec's default_source (the public BigQuery table for census)."""
    variable = "'" + SOURCE_VARIABLE.format(dataset="") + "' ~ params.dataset"
    return f"(params.source or var.value.get({variable}, {_by_dataset('source')}))"


def target_expression() -> str:
    """The run's target: the `target` param, or the dataset's default target."""
    return f"(params.target or {_by_dataset('target')})"


def template(expression: str) -> str:
    return f"{{{{ {expression} }}}}"


# The registered model `<dataset>-<target>` with '_' as '-' (pipeline_common.wiring.registered_model_name;
# tests/dags hold the two together for every dataset and target).
MODEL_NAME = template(f"(params.dataset ~ '-' ~ {target_expression()}) | replace('_', '-')")
# The MLflow experiment: the param, or the dataset's name.
EXPERIMENT = "{{ params.experiment or params.dataset }}"

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
