"""The DAGs' run-time params, validated by Airflow before a run exists, and the check of the ones
that depend on each other (a target of the chosen dataset, a source for it), made before any pod.

The choices come from the configuration the stage images carry: datasets/ (dataset, target) and
models/ (model, models, grid), read from the files shipped with the DAGs (pipeline_common).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException
from pipeline_common import dataset_spec, model_catalogue

from census_pipeline.deployment import SOURCE_VARIABLE, path_safe, spec_defaults

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
SOURCE_PATTERN = (
    r"^(|bigquery://[A-Za-z0-9:._-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$-]+|gs://[a-z0-9][a-z0-9._-]{1,221}/.+)$"
)


def _targets() -> dict[str, list[str]]:
    return {name: list(dataset_spec.load(name).targets) for name in dataset_spec.available()}


def common_params() -> dict[str, Param]:
    """Run-time choices of both DAGs."""
    targets = _targets()
    every_target = sorted({t for names in targets.values() for t in names})
    described = "; ".join(f"{d}: {', '.join(t)}" for d, t in targets.items())
    return {
        "dataset": Param(
            dataset_spec.DEFAULT_DATASET,
            type="string",
            enum=list(targets),
            title="Dataset",
            description="A dataset spec of datasets/ (its columns, targets and features).",
        ),
        "target": Param(
            "",
            type="string",
            enum=["", *every_target],
            title="Target",
            description=f"One of the dataset's targets ({described}); empty: its default target.",
        ),
        "source": Param(
            "",
            type="string",
            pattern=SOURCE_PATTERN,
            title="Source",
            description=(
                "bigquery://PROJECT.DATASET.TABLE, or a CSV/Parquet object gs://BUCKET/PATH. Empty: the "
                "deployment's default for the dataset (Variable "
                f"{SOURCE_VARIABLE.format(dataset='<dataset>')}), else the spec's default_source."
            ),
        ),
        "grid": Param(
            "full",
            type="string",
            enum=model_catalogue.grid_names(),
            title="Grid",
            description="Hyper-parameter grid of every model (models/NAME.yaml): full, or demo (seconds).",
        ),
        "search": Param(
            "grid",
            type="string",
            enum=["grid", "halving"],
            title="Search",
            description="grid: exhaustive GridSearchCV; halving: successive halving.",
        ),
        "experiment": Param(
            "",
            type="string",
            pattern=f"^$|{NAME_PATTERN}",
            title="MLflow experiment",
            description="Letters, digits, '.', '_' or '-'; created if missing. Empty: the dataset's name.",
        ),
        "test_size": Param(
            0.2,
            type="number",
            minimum=0.05,
            maximum=0.5,
            title="Test size",
            description="Holdout fraction (0.05-0.5).",
        ),
        "seed": Param(
            55,
            type="integer",
            minimum=0,
            maximum=2**31 - 1,
            title="Seed",
            description="Seed of the split and the estimators.",
        ),
        "force_refresh": Param(
            False,
            type="boolean",
            title="Force refresh",
            description="Re-extract and re-preprocess even if this run's outputs exist.",
        ),
        # The promotion gate (trainer promote; defaults and their numbers: docs/promotion.md).
        "min_delta": Param(
            0.001,
            type="number",
            minimum=0,
            maximum=0.1,
            title="Promotion: min ROC AUC gain",
            description="Smallest holdout ROC AUC gain over the champion that may replace it (0-0.1).",
        ),
        "alpha": Param(
            0.05,
            type="number",
            exclusiveMinimum=0,
            maximum=0.5,
            title="Promotion: significance level",
            description="Level of the one-sided paired DeLong test of the gain (0-0.5, not 0).",
        ),
        "max_slice_drop": Param(
            0.02,
            type="number",
            minimum=0,
            maximum=1,
            title="Promotion: max slice drop",
            description="Largest ROC AUC loss allowed on any slice of 500+ rows (the spec's slice_by; 0-1).",
        ),
    }


def model_param() -> Param:
    """The single-model DAG's one model."""
    names = model_catalogue.names()
    return Param(
        "lgbm" if "lgbm" in names else names[0],
        type="string",
        enum=names,
        title="Model",
        description="A model of the catalogue (models/NAME.yaml).",
    )


def models_param() -> Param:
    """The multi-model DAG's models: each selected one trains in its own pod, in parallel."""
    names = model_catalogue.names()
    return Param(
        names,
        type="array",
        items={"type": "string", "enum": names},
        minItems=1,
        uniqueItems=True,
        title="Models",
        description=f"One or more of {', '.join(names)}; trainers of unselected models are skipped.",
    )


def check_run_params(context: Any) -> None:
    """pre_execute of the first task: the params that depend on each other, before any pod.

    Airflow validates each param alone; a target of another dataset, or a dataset with no source
    for this deployment, would otherwise fail inside a pod (exit 2) after a pod start.
    """
    from airflow.sdk import Variable

    params = context["params"]
    dataset = params["dataset"]
    spec = dataset_spec.load(dataset)
    if params.get("target") and params["target"] not in spec.targets:
        raise AirflowFailException(
            f"target {params['target']!r} is not a target of dataset {dataset!r} | fix: use one of "
            f"{sorted(spec.targets)} (or leave it empty for {spec.default_target})"
        )
    variable = SOURCE_VARIABLE.format(dataset=dataset)
    source = params.get("source") or Variable.get(variable, default="") or spec_defaults()[dataset]["source"]
    if not source:
        raise AirflowFailException(
            f"dataset {dataset!r} has no source: the param is empty, Variable {variable} is not set "
            f"and its spec has no default_source | fix: pass source=gs://... or set "
            f"AIRFLOW_VAR_{variable.upper()}"
        )


# Task instances of a run that may run at once: the trainers are the only parallel tasks, so this
# is how many trainer pods share the node at a time (docs/dags.md, "Node size"). The catalogue may
# hold more models; the others wait their turn in the scheduler, not Pending on the node.
TRAINERS_AT_ONCE = 2

DAG_DEFAULTS: dict[str, Any] = {
    "schedule": None,
    "catchup": False,
    # One run at a time: promote compares against and moves one shared alias.
    "max_active_runs": 1,
    "max_active_tasks": TRAINERS_AT_ONCE,
    "user_defined_filters": {"path_safe": path_safe},
    "tags": ["census-pipeline", "mlflow", "kubernetes"],
}
