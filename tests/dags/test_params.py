"""Bad trigger parameters are refused by Airflow itself, before any pod starts."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import ParamValidationError

from tests.dags.dagtools import LoadedDags

BAD = [
    ("mlflow-multimodel-dag", {"models": []}, "models"),
    ("mlflow-multimodel-dag", {"models": ["xgboost"]}, "models"),
    ("mlflow-multimodel-dag", {"models": ["lgbm", "lgbm"]}, "models"),
    ("mlflow-multimodel-dag", {"models": "lgbm"}, "models"),
    ("mlflow-dag", {"model": "xgboost"}, "model"),
    ("mlflow-dag", {"source": "s3://bucket/census.csv"}, "source"),
    ("mlflow-dag", {"source": "bigquery://just-a-project"}, "source"),
    ("mlflow-dag", {"grid": "huge"}, "grid"),
    ("mlflow-dag", {"search": "random"}, "search"),
    ("mlflow-dag", {"experiment": "bad name; rm -rf /"}, "experiment"),
    ("mlflow-dag", {"test_size": 0.9}, "test_size"),
    ("mlflow-dag", {"test_size": "0.2"}, "test_size"),
    ("mlflow-dag", {"seed": -1}, "seed"),
    ("mlflow-dag", {"force_refresh": "yes"}, "force_refresh"),
    ("mlflow-dag", {"min_delta": -0.001}, "min_delta"),
    ("mlflow-dag", {"alpha": 0.6}, "alpha"),
    ("mlflow-multimodel-dag", {"max_slice_drop": 1.5}, "max_slice_drop"),
]


@pytest.mark.parametrize(
    ("dag_id", "conf", "param"), BAD, ids=[f"{d}-{p}-{i}" for i, (d, _, p) in enumerate(BAD)]
)
def test_invalid_param_is_rejected_before_any_pod(
    dags: LoadedDags, no_pod: list[str], dag_id: str, conf: dict, param: str
) -> None:
    with pytest.raises(ParamValidationError, match=rf"param {param}\b"):
        dags.dag(dag_id).test(run_conf=conf, logical_date=None)
    assert no_pod == []


@pytest.mark.parametrize(
    "source",
    [
        "bigquery://bigquery-public-data.ml_datasets.census_adult_income",
        "bigquery://census-pipeline-local.ml_datasets.census_adult_income",
        "gs://census-pipeline-data/inputs/census_adult_income.csv.gz",
        "gs://my.bucket/a/b.parquet",
        "",  # the default: the deployment's source (Variable default_source)
    ],
)
def test_valid_sources_pass(dags: LoadedDags, source: str) -> None:
    assert dags.dag("mlflow-dag").params.get_param("source").resolve(source) == source


def test_the_default_source_is_the_deployments(dags: LoadedDags) -> None:
    # Empty means "whatever the deployment sets" (Variable default_source), resolved at run time.
    param = dags.dag("mlflow-dag").params.get_param("source")
    assert param.value == "" and "default_source" in param.description
