"""The pipeline's four tasks, each a stage pod whose command line comes from pipeline_common.wiring
(the one place that also builds it for `make demo`, the tests and the benchmark), with Jinja
templates as its values: the run's params, the deployment's Variables and upstream XComs.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from airflow.sdk.exceptions import AirflowSkipException
from pipeline_common import wiring

from census_pipeline.deployment import (
    BIGQUERY_PROJECT,
    EXPERIMENT,
    MLFLOW_TRACKING_URI,
    MODEL_NAME,
    RUN_PREFIX,
    source_expression,
    target_expression,
    template,
)
from census_pipeline.params import TRAINERS_AT_ONCE, check_run_params
from census_pipeline.pods import StagePodOperator, stage_operator

CHAMPION_ALIAS = "champion"
DATASET = "{{ params.dataset }}"
FORCE = "{{ '--force' if params.force_refresh else '' }}"


def extract_task() -> StagePodOperator:
    return stage_operator(
        "extract",
        "extract",
        wiring.extract_args(
            dataset=DATASET,
            source=template(source_expression()),
            output=wiring.extract_output(RUN_PREFIX, DATASET),
            force=FORCE,
        ),
        extra_env={"GOOGLE_CLOUD_PROJECT": BIGQUERY_PROJECT},
        # The params that depend on each other (a target of the dataset, a source for it) are
        # checked here, in the worker, before any pod exists.
        pre_execute=check_run_params,
        doc_md="Reads `params.source` (or the dataset's default source) into one Parquet object, "
        "checked against the dataset spec.",
    )


def preprocess_task() -> StagePodOperator:
    return stage_operator(
        "preprocess",
        "preprocess",
        wiring.preprocess_args(
            dataset=DATASET,
            input_uri="{{ ti.xcom_pull(task_ids='extract')['raw_uri'] }}",
            output_prefix=wiring.preprocess_prefix(RUN_PREFIX),
            target=template(target_expression()),
            test_size="{{ params.test_size }}",
            seed="{{ params.seed }}",
            force=FORCE,
        ),
        doc_md="Cleans the raw table by its spec, builds the features; writes the train/test split "
        "and the features.json manifest.",
    )


def train_task(
    task_id: str, model: str, extra_env: dict[str, str] | None = None, **kwargs: Any
) -> StagePodOperator:
    """A trainer pod searching `model` (a template such as '{{ params.model }}' or a fixed name)."""
    return stage_operator(
        task_id,
        "train",
        wiring.train_args(
            model=model,
            features_uri="{{ ti.xcom_pull(task_ids='preprocess')['features_uri'] }}",
            experiment=EXPERIMENT,
            grid="{{ params.grid }}",
            search="{{ params.search }}",
        ),
        extra_env={"MLFLOW_TRACKING_URI": MLFLOW_TRACKING_URI, **(extra_env or {})},
        doc_md="Cross-validated search over one model's grid, logged as one MLflow run.",
        **kwargs,
    )


# How many trainer pods of this run share the node's CPUs (PIPELINE_CPU_SHARERS). When every
# selected model has a slot (at most TRAINERS_AT_ONCE), they all run side by side from start to
# end and splitting the CPUs finishes them soonest (the pair: 51.1 s against 54.0 s with both
# oversubscribing, docs/benchmarks.md). With more models than slots a trainer may end up running
# alone, and a fixed share would leave it half the node for the rest of its search (the third
# model, hgb: ~109 s of CPU), so then each takes it all.
TRAINER_SHARERS = f"{{{{ params.models | length if params.models | length <= {TRAINERS_AT_ONCE} else 1 }}}}"


def skip_unless_selected(model: str, context: Any) -> None:
    """pre_execute hook: a trainer whose model is not in `params.models` is skipped before any pod."""
    selected = context["params"]["models"]
    if model not in selected:
        raise AirflowSkipException(f"model {model!r} not selected (params.models = {list(selected)})")


def selected_train_task(model: str) -> StagePodOperator:
    """The multi-model DAG's trainer for one catalogue model; skipped unless the run selects it.

    Its CPU budget is its share of the node when all selected models run side by side
    (TRAINER_SHARERS): on the 2-CPU kind node two trainers with one CPU each finish the pair
    soonest (docs/benchmarks.md, "Scheduling the trainers"); on a larger node each still gets its
    whole CPU limit."""
    return train_task(
        model,
        model,
        extra_env={"PIPELINE_CPU_SHARERS": TRAINER_SHARERS},
        pod_name=f"census-train-{model}",
        pre_execute=partial(skip_unless_selected, model),
    )


def promote_task(trainer_task_ids: Sequence[str]) -> StagePodOperator:
    """Moves the champion alias to the best candidate only if it passes the gate; the candidates are
    the XComs of the trainers that ran.

    xcom_pull over several task ids gives None for a skipped trainer (Airflow 3.3; other versions
    drop it), so the template rejects None and relies on each train return.json naming its model,
    never on positions. A failed trainer stops promotion: the champion only moves after a complete
    comparison.
    """
    task_ids = list(trainer_task_ids)
    return stage_operator(
        "promote",
        "promote",
        wiring.promote_args(
            experiment=EXPERIMENT,
            model_name=MODEL_NAME,
            candidates=f"{{{{ ti.xcom_pull(task_ids={task_ids!r}) | reject('none') | list | tojson }}}}",
            alias=CHAMPION_ALIAS,
            # The gate (docs/promotion.md): the champion is replaced only by a gain of at least
            # min_delta that the paired DeLong test finds significant at alpha, and no guarded
            # slice losing more than max_slice_drop.
            min_delta="{{ params.min_delta }}",
            alpha="{{ params.alpha }}",
            max_slice_drop="{{ params.max_slice_drop }}",
        ),
        extra_env={"MLFLOW_TRACKING_URI": MLFLOW_TRACKING_URI},
        trigger_rule="none_failed_min_one_success",
        doc_md=f"Moves `@{CHAMPION_ALIAS}` of `<dataset>-<target>` to the best candidate only if it "
        "beats the champion on the same holdout by min_delta, significantly (DeLong at alpha), "
        "without a slice losing more than max_slice_drop; only a winner is registered.",
    )
