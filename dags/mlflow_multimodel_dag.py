"""Multi-model census pipeline: one trainer pod per model in parallel, then one promote (fan-in)."""

from __future__ import annotations

from airflow.sdk import DAG, TaskGroup
from census_pipeline.ops import (
    DAG_DEFAULTS,
    MODELS,
    REGISTERED_MODEL,
    common_params,
    extract_op,
    models_param,
    preprocess_op,
    promote_op,
    selected_fit_op,
)

DOC_MD = f"""
### Census income: several models, best one promoted

`extract` → `preprocess` → TaskGroup `train` (one pod per model: {", ".join(f"`train.{m}`" for m in MODELS)},
in parallel) → `promote`. Every task is a Kubernetes pod of a stage image (Variables
`extractor_image`, `preprocessor_image`, `trainer_image`) in namespace `pipeline_namespace`.

* **models** picks which trainers run; the others are **skipped** before any pod starts.
* Each trainer logs one MLflow run under **experiment** and returns its metrics with its model name.
* **promote** receives the results of the trainers that ran, registers the best as
  `{REGISTERED_MODEL}` and moves `@champion` only if it beats the current champion on the same
  holdout. A failed trainer stops promotion (retries first).

Outputs go to `gs://<data_bucket>/runs/mlflow-multimodel-dag/<run id>/<task>/`. Trigger with the form,
or `airflow dags trigger mlflow-multimodel-dag --conf '{{"models": ["lgbm", "logreg"], "grid": "demo"}}'`.
See docs/dags.md.
"""

with DAG(
    dag_id="mlflow-multimodel-dag",
    description="Census income: extract -> preprocess -> train models in parallel -> promote the best",
    doc_md=DOC_MD,
    params={"models": models_param(), **common_params()},
    **DAG_DEFAULTS,
):
    with TaskGroup("train", tooltip="one trainer pod per model, in parallel") as train:
        trainers = [selected_fit_op(model) for model in MODELS]
    extract_op() >> preprocess_op() >> train >> promote_op([t.task_id for t in trainers])
