"""Multi-model pipeline: one trainer pod per catalogue model in parallel, then one promote (fan-in)."""

from __future__ import annotations

from airflow.sdk import DAG, TaskGroup
from census_pipeline.params import DAG_DEFAULTS, common_params, models_param
from census_pipeline.tasks import extract_task, preprocess_task, promote_task, selected_train_task
from pipeline_common import model_catalogue

MODELS = model_catalogue.names()

DOC_MD = f"""
### Several models, the best one promoted

`extract` → `preprocess` → TaskGroup `train` (one pod per model of the catalogue:
{", ".join(f"`train.{m}`" for m in MODELS)}, in parallel) → `promote`. Every task is a Kubernetes
pod of a stage image (Variables `extractor_image`, `preprocessor_image`, `trainer_image`) in
namespace `pipeline_namespace`.

* **dataset**, **target** and **source** pick the data (datasets/ specs); **models** picks which
  trainers run; the others are **skipped** before any pod starts.
* Each trainer logs one MLflow run under **experiment** and returns its metrics with its model name.
* **promote** moves `<dataset>-<target>@champion` to the best of the trainers that ran only if it
  passes the gate (docs/promotion.md). A failed trainer stops promotion (retries first).

Outputs go to `gs://<data_bucket>/runs/mlflow-multimodel-dag/<run id>/<task>/`. Trigger with the form,
or `airflow dags trigger mlflow-multimodel-dag --conf '{{"models": ["lgbm", "logreg"], "grid": "demo"}}'`.
See docs/dags.md.
"""

with DAG(
    dag_id="mlflow-multimodel-dag",
    description="extract -> preprocess -> train the catalogue's models in parallel -> promote the best",
    doc_md=DOC_MD,
    params={"models": models_param(), **common_params()},
    **DAG_DEFAULTS,
):
    with TaskGroup("train", tooltip="one trainer pod per model, in parallel") as train:
        trainers = [selected_train_task(model) for model in MODELS]
    extract_task() >> preprocess_task() >> train >> promote_task([t.task_id for t in trainers])
