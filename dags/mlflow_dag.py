"""Single-model pipeline: extract -> preprocess -> train -> promote, one pod per stage."""

from __future__ import annotations

from airflow.sdk import DAG
from census_pipeline.params import DAG_DEFAULTS, common_params, model_param
from census_pipeline.tasks import extract_task, preprocess_task, promote_task, train_task

DOC_MD = """
### One model

`extract` → `preprocess` → `train` → `promote`, each a Kubernetes pod of a stage image (Variables
`extractor_image`, `preprocessor_image`, `trainer_image`) in the namespace of Variable
`pipeline_namespace` (`ml-pipeline`).

* **extract** reads **source** (or the dataset's default source) as the spec of **dataset** says.
* **preprocess** cleans it, builds the spec's features for **target** and writes the train/test split.
* **train** runs a cross-validated search of **model** over **grid** and logs it to MLflow
  (Variable `mlflow_tracking_uri`) under **experiment** (default: the dataset's name).
* **promote** moves `<dataset>-<target>@champion` to the result only if it passes the gate
  (**min_delta**, **alpha**, **max_slice_drop**; docs/promotion.md).

Outputs go to `gs://<data_bucket>/runs/mlflow-dag/<run id>/<task>/`; a retry reuses them unless
**force_refresh**. Trigger with the form, or
`airflow dags trigger mlflow-dag --conf '{"dataset": "penguins", "model": "logreg"}'`. See docs/dags.md.
"""

with DAG(
    dag_id="mlflow-dag",
    description="extract -> preprocess -> train one model -> promote (KubernetesPodOperator)",
    doc_md=DOC_MD,
    params={"model": model_param(), **common_params()},
    **DAG_DEFAULTS,
):
    (
        extract_task()
        >> preprocess_task()
        >> train_task("train", "{{ params.model }}")
        >> promote_task(["train"])
    )
