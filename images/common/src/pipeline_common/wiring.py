"""The pipeline's wiring, written once: every stage's command line, where a run's outputs go and
what the registered model is called.

The DAGs (with Jinja templates as the values), `make demo` (scripts/demo.py), the test tiers and the
benchmark all build the stages' arguments here, so they cannot drift apart. A value may be a plain
value or a template string; `None` leaves an option out (the stage's own default applies). A flag is
True/False, or a template that renders to the flag or to "" (the DAGs' StagePodOperator drops
arguments that render empty). Standard library only: the Airflow image imports it.
"""

from __future__ import annotations

from typing import Any

Flag = bool | str | None


def _options(pairs: list[tuple[str, Any]]) -> list[str]:
    args: list[str] = []
    for option, value in pairs:
        if value is not None:
            args += [option, str(value)]
    return args


def _flag(option: str, value: Flag) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    return [option] if value else []


def registered_model_name(dataset: str, target: str) -> str:
    """`<dataset>-<target>` as MLflow shows it: census + never_married -> census-never-married."""
    return f"{dataset}-{target}".replace("_", "-")


def extract_output(prefix: str, dataset: str) -> str:
    """The extractor's Parquet object under a run's prefix."""
    return f"{prefix}/extract/{dataset}.parquet"


def preprocess_prefix(prefix: str) -> str:
    """Where the preprocessor writes its content-addressed splits and row ids, then features.json."""
    return f"{prefix}/preprocess"


def extract_args(*, dataset: str, source: str | None, output: str, force: Flag = False) -> list[str]:
    return [
        *_options([("--dataset", dataset), ("--source", source), ("--output", output)]),
        *_flag("--force", force),
    ]


def preprocess_args(
    *,
    dataset: str,
    input_uri: str,
    output_prefix: str,
    target: str | None = None,
    test_size: float | str | None = None,
    seed: int | str | None = None,
    force: Flag = False,
) -> list[str]:
    return [
        *_options(
            [
                ("--dataset", dataset),
                ("--input", input_uri),
                ("--output-prefix", output_prefix),
                ("--target", target),
                ("--test-size", test_size),
                ("--seed", seed),
            ]
        ),
        *_flag("--force", force),
    ]


def train_args(
    *,
    model: str,
    features_uri: str,
    experiment: str,
    grid: str | None = None,
    search: str | None = None,
    cv: int | str | None = None,
) -> list[str]:
    return [
        "train",
        *_options(
            [
                ("--model", model),
                ("--features-uri", features_uri),
                ("--experiment", experiment),
                ("--grid", grid),
                ("--search", search),
                ("--cv", cv),
            ]
        ),
    ]


def promote_args(
    *,
    experiment: str,
    model_name: str,
    candidates: str,
    alias: str | None = None,
    min_delta: float | str | None = None,
    alpha: float | str | None = None,
    max_slice_drop: float | str | None = None,
) -> list[str]:
    """`candidates` is a JSON array of train results, or @FILE holding one; the rest is the gate
    (docs/promotion.md), whose defaults are the trainer's."""
    return [
        "promote",
        *_options(
            [
                ("--experiment", experiment),
                ("--model-name", model_name),
                ("--candidates", candidates),
                ("--alias", alias),
                ("--min-delta", min_delta),
                ("--alpha", alpha),
                ("--max-slice-drop", max_slice_drop),
            ]
        ),
    ]
