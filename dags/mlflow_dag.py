"""Single-model census pipeline: extract -> preprocess -> train -> promote, one pod per stage."""

from __future__ import annotations

from airflow.sdk import DAG
from census_pipeline.ops import (
    DAG_DEFAULTS,
    REGISTERED_MODEL,
    common_params,
    extract_op,
    fit_op,
    model_param,
    preprocess_op,
    promote_op,
)

DOC_MD = f"""
### Census income: one model

`extract` → `preprocess` → `train` → `promote`, each a Kubernetes pod of a stage image
(`census-pipeline/<stage>:0.1.0` unless the Variables `extractor_image`, `preprocessor_image`,
`trainer_image` say otherwise) in the namespace of Variable `pipeline_namespace` (`ml-pipeline`).

* **extract** reads **source** (a BigQuery table or a CSV/Parquet object) into Parquet.
* **preprocess** cleans it and writes the train/test split and `features.json`.
* **train** runs a cross-validated search of **model** over **grid** and logs it to MLflow
  (Variable `mlflow_tracking_uri`) under **experiment**.
* **promote** registers the result as `{REGISTERED_MODEL}` and moves `@champion` only if it beats the
  current champion on the same holdout.

Outputs go to `gs://<data_bucket>/runs/mlflow-dag/<run id>/<task>/`; a retry reuses them unless
**force_refresh**. Trigger with the form, or `airflow dags trigger mlflow-dag --conf '{{"model": "lgbm"}}'`.
See docs/dags.md.
"""

with DAG(
    dag_id="mlflow-dag",
    description="Census income: extract -> preprocess -> train one model -> promote (KubernetesPodOperator)",
    doc_md=DOC_MD,
    params={"model": model_param(), **common_params()},
    **DAG_DEFAULTS,
):
    extract_op() >> preprocess_op() >> fit_op("train", "{{ params.model }}") >> promote_op(["train"])
