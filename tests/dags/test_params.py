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
    ("mlflow-dag", {"dataset": "iris"}, "dataset"),
    ("mlflow-dag", {"target": "salary"}, "target"),
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
        "",  # the default: the deployment's source (Variable default_source_<dataset>), else the spec's
    ],
)
def test_valid_sources_pass(dags: LoadedDags, source: str) -> None:
    assert dags.dag("mlflow-dag").params.get_param("source").resolve(source) == source


def test_the_default_source_is_the_deployments(dags: LoadedDags) -> None:
    # Empty means "whatever the deployment sets for the dataset" (Variable default_source_<dataset>),
    # else the dataset spec's default_source, resolved at run time.
    param = dags.dag("mlflow-dag").params.get_param("source")
    assert param.value == "" and "default_source_<dataset>" in param.description


BAD_COMBINATIONS = [
    (
        {"dataset": "penguins", "target": "never_married"},
        ["target 'never_married' is not a target of dataset 'penguins'", "['adelie', 'male']"],
    ),
    ({"dataset": "census", "target": "adelie"}, ["'adelie' is not a target of dataset 'census'"]),
    ({"dataset": "penguins"}, ["dataset 'penguins' has no source", "AIRFLOW_VAR_DEFAULT_SOURCE_PENGUINS"]),
]


@pytest.mark.parametrize(("conf", "words"), BAD_COMBINATIONS)
def test_params_that_depend_on_each_other_fail_the_first_task_before_any_pod(
    dags: LoadedDags, no_pod: list[str], conf: dict, words: list[str]
) -> None:
    """Each param is valid alone; together they are not: extract fails at once, no pod, no retry."""
    from tests.dags.dagtools import task_states

    dag_run = dags.dag("mlflow-dag").test(run_conf={**conf, "grid": "demo"}, logical_date=None)
    states = task_states(dag_run)
    assert states["extract"] == "failed" and states["preprocess"] == "upstream_failed", states
    assert no_pod == []
    tries = [ti.try_number for ti in dag_run.get_task_instances() if ti.task_id == "extract"]
    assert tries == [1], "a wrong combination is not retried"


@pytest.mark.parametrize(("conf", "words"), BAD_COMBINATIONS)
def test_the_check_names_the_problem_and_the_fix(conf: dict, words: list[str]) -> None:
    from airflow.sdk.exceptions import AirflowFailException
    from census_pipeline.params import check_run_params

    params = {"dataset": "census", "target": "", "source": "", **conf}
    with pytest.raises(AirflowFailException) as err:
        check_run_params({"params": params})
    for word in [*words, "| fix:"]:
        assert word in str(err.value), str(err.value)


def test_a_valid_combination_passes_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from census_pipeline.params import check_run_params

    check_run_params({"params": {"dataset": "census", "target": "income_over_50k", "source": ""}})
    monkeypatch.setenv("AIRFLOW_VAR_DEFAULT_SOURCE_PENGUINS", "gs://census-pipeline-data/seed/penguins.csv")
    check_run_params({"params": {"dataset": "penguins", "target": "adelie", "source": ""}})
