"""Where a result came from: stage image and the Airflow task that ran it (pod env)."""

from __future__ import annotations

import os

# Set by the DAG on each pod (names follow Airflow's own AIRFLOW_CTX_* context variables).
_ENV = {
    "stage_image": "STAGE_IMAGE",
    "airflow.dag_id": "AIRFLOW_CTX_DAG_ID",
    "airflow.run_id": "AIRFLOW_CTX_DAG_RUN_ID",
    "airflow.task_id": "AIRFLOW_CTX_TASK_ID",
    "airflow.try_number": "AIRFLOW_CTX_TRY_NUMBER",
}


def lineage() -> dict[str, str]:
    """The lineage facts that are set, keyed by tag name."""
    return {key: value for key, env in _ENV.items() if (value := os.environ.get(env, "").strip())}
