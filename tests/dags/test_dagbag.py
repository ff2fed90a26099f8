"""Both DAGs parse cleanly in real Airflow and have the promised shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from pipeline_common import dataset_spec, model_catalogue

from tests.dags.dagtools import DAGS_FOLDER, LoadedDags

SINGLE = "mlflow-dag"
MULTI = "mlflow-multimodel-dag"
# The DAGs read the model catalogue (models/): every entry gets a trainer, nothing else does.
MODELS = tuple(model_catalogue.names())


def test_both_dags_import_without_errors_or_warnings(dags: LoadedDags) -> None:
    assert dags.bag.import_errors == {}
    assert dags.bag.captured_warnings == {}
    ours = [w for w in dags.warnings if str(DAGS_FOLDER) in str(w.filename)]
    assert ours == [], [str(w.message) for w in ours]
    assert sorted(dags.bag.dags) == [SINGLE, MULTI]


def test_shared_module_is_not_parsed_as_a_dag_file(dags: LoadedDags) -> None:
    parsed = {str(p) for p in dags.bag.file_last_changed}
    assert parsed == {str(DAGS_FOLDER / "mlflow_dag.py"), str(DAGS_FOLDER / "mlflow_multimodel_dag.py")}


def test_single_model_dag_is_a_chain(dags: LoadedDags) -> None:
    dag = dags.dag(SINGLE)
    upstream = {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}
    assert upstream == {
        "extract": [],
        "preprocess": ["extract"],
        "train": ["preprocess"],
        "promote": ["train"],
    }


def test_multi_model_dag_fans_out_one_trainer_per_model_and_back_in(dags: LoadedDags) -> None:
    dag = dags.dag(MULTI)
    trainers = [f"train.{m}" for m in MODELS]
    assert sorted(dag.task_ids) == sorted(["extract", "preprocess", *trainers, "promote"])
    for tid in trainers:
        task = dag.get_task(tid)
        assert task.upstream_task_ids == {"preprocess"}
        assert task.downstream_task_ids == {"promote"}
        assert not (task.upstream_task_ids | task.downstream_task_ids) & set(trainers), (
            "trainers must be parallel"
        )
        assert task.task_group.group_id == "train"
    assert dag.get_task("promote").upstream_task_ids == set(trainers)
    # Unselected trainers are skipped; promote runs on the ones that succeeded, never after a failure.
    assert dag.get_task("promote").trigger_rule == "none_failed_min_one_success"


@pytest.mark.parametrize("dag_id", [SINGLE, MULTI])
def test_every_task_is_a_pod_that_pushes_xcom(dags: LoadedDags, dag_id: str) -> None:
    for task in dags.dag(dag_id).tasks:
        assert isinstance(task, KubernetesPodOperator), task.task_id
        assert task.do_xcom_push is True, task.task_id
        assert task.get_logs is True
        assert task.on_finish_action.value == "delete_succeeded_pod"
        assert task.image_pull_policy == "IfNotPresent"
        assert task.service_account_name == "pipeline-stage"
        assert task.retries >= 1 and task.retry_exponential_backoff > 1
        assert isinstance(task.execution_timeout, timedelta) and task.execution_timeout > timedelta(0)
        assert task.active_deadline_seconds == int(task.execution_timeout.total_seconds())
        assert "{{ var.value.get(" in task.image, "stage image must come from a Variable"
        # Poll for "Running" every second (the provider's default is 5 s: seconds lost per task).
        assert task.startup_check_interval_seconds == 1, task.task_id
        # The lifecycle rules of pod_lifecycle.py sit at the provider's own hooks.
        assert type(task).process_pod_deletion is not KubernetesPodOperator.process_pod_deletion
        assert type(task).cleanup is not KubernetesPodOperator.cleanup


@pytest.mark.parametrize("dag_id", [SINGLE, MULTI])
def test_dag_settings(dags: LoadedDags, dag_id: str) -> None:
    dag = dags.dag(dag_id)
    assert dag.schedule is None or dag.timetable.summary == "None"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.doc_md and "promote" in dag.doc_md and "docs/dags.md" in dag.doc_md
    assert all(t.doc_md for t in dag.tasks)


@pytest.mark.parametrize("dag_id", [SINGLE, MULTI])
def test_no_template_uses_the_logical_date(dags: LoadedDags, dag_id: str) -> None:
    # REST-triggered runs have no logical date: outputs are keyed by dag id and run id.
    for task in dags.dag(dag_id).tasks:
        text = repr([getattr(task, f) for f in task.template_fields])
        for banned in ("ds", "ds_nodash", "logical_date", "execution_date", "ts", "data_interval"):
            assert f"{{{{ {banned}" not in text and f"{banned} }}}}" not in text, (task.task_id, banned)
        assert "run_id | path_safe" in " ".join(task.arguments) or task.task_id.startswith(
            ("train", "promote")
        )


def test_params_are_json_schema_validated(dags: LoadedDags) -> None:
    single = dags.dag(SINGLE).params
    multi = dags.dag(MULTI).params
    assert single.get_param("model").schema["enum"] == list(MODELS)
    models = multi.get_param("models").schema
    assert models["type"] == "array" and models["minItems"] == 1 and models["items"]["enum"] == list(MODELS)
    assert multi["models"] == list(MODELS), "default: every model"
    assert set(MODELS) >= {"lgbm", "logreg", "hgb"}
    for params in (single, multi):
        assert params.get_param("grid").schema["enum"] == model_catalogue.grid_names() == ["full", "demo"]
        assert params.get_param("dataset").schema["enum"] == dataset_spec.available()
        assert params["dataset"] == dataset_spec.DEFAULT_DATASET
        targets = {t for d in dataset_spec.available() for t in dataset_spec.load(d).targets}
        assert set(params.get_param("target").schema["enum"]) == {"", *targets}
        assert params.get_param("search").schema["enum"] == ["grid", "halving"]
        assert params.get_param("force_refresh").schema["type"] == "boolean"
        assert "pattern" in params.get_param("source").schema
        assert "pattern" in params.get_param("experiment").schema
        params.validate()  # the defaults themselves are valid
