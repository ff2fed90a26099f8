"""Command line of the trainer: `fit` trains one model, `promote` moves the champion alias to a
better one, `ledger` shows the alias history and `rollback` moves the alias back."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from pipeline_common import cli
from pipeline_common.errors import StageArgumentParser

from trainer import compare, gate, search

STAGES = {"train": "train", "promote": "promote", "ledger": "ledger", "rollback": "rollback"}


def build_parser() -> StageArgumentParser:
    parser = StageArgumentParser(
        prog="python -m trainer", description="Train models and promote the best to MLflow's registry."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=StageArgumentParser)

    train = sub.add_parser("train", help="cross-validated grid search of one model, logged as one MLflow run")
    train.add_argument(
        "--model", required=True, help="model to train: a name of the model catalogue (models/NAME.yaml)"
    )
    train.add_argument(
        "--features-uri",
        required=True,
        help="features.json manifest written by the preprocessor (gs://, file:// or a path)",
    )
    train.add_argument(
        "--experiment", required=True, help="MLflow experiment name (created if missing), e.g. census-income"
    )
    train.add_argument(
        "--grid",
        default="full",
        help="a grid of the model's catalogue entry (full, demo) or a YAML file MODEL -> grid "
        "(default: full)",
    )
    train.add_argument(
        "--search",
        default="grid",
        choices=search.SEARCHES,
        help="grid: exhaustive GridSearchCV; halving: HalvingGridSearchCV (successive halving)",
    )
    train.add_argument(
        "--cv", type=int, default=5, help="stratified CV folds on the train split (default: 5)"
    )
    train.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="parallel fits (default and maximum: the stage's CPU budget, see PIPELINE_CPUS)",
    )

    promote = sub.add_parser(
        "promote",
        help="move the alias to the best candidate only if it beats the champion (docs/promotion.md)",
    )
    promote.add_argument(
        "--experiment", required=True, help="MLflow experiment of the candidates' runs (must exist)"
    )
    promote.add_argument(
        "--model-name", required=True, help="registered model name, e.g. census-never-married"
    )
    promote.add_argument(
        "--candidates",
        required=True,
        help="JSON array of `fit` results (return.json objects), or @FILE holding one",
    )
    promote.add_argument("--alias", default="champion", help="alias the winner holds (default: champion)")
    defaults = gate.GateOptions()
    promote.add_argument(
        "--min-delta",
        type=float,
        default=defaults.min_delta,
        help=f"smallest ROC AUC gain that may replace the champion (default: {defaults.min_delta})",
    )
    promote.add_argument(
        "--alpha",
        type=float,
        default=defaults.alpha,
        help=f"level of the one-sided paired test of the gain (default: {defaults.alpha})",
    )
    promote.add_argument(
        "--max-slice-drop",
        type=float,
        default=defaults.max_slice_drop,
        help=f"largest ROC AUC loss allowed on any guarded slice (default: {defaults.max_slice_drop})",
    )
    promote.add_argument(
        "--min-slice-rows",
        type=int,
        default=defaults.min_slice_rows,
        help=f"rows a slice needs to be guarded (default: {defaults.min_slice_rows})",
    )
    promote.add_argument(
        "--test",
        choices=compare.METHODS,
        default=defaults.test,
        help="paired test: delong (DeLong 1988, fast Sun & Xu 2014) or bootstrap (default: delong)",
    )
    promote.add_argument(
        "--bootstrap",
        type=int,
        default=defaults.bootstrap,
        help=f"resamples of --test bootstrap (default: {defaults.bootstrap})",
    )
    promote.add_argument(
        "--seed", type=int, default=defaults.seed, help=f"seed of --test bootstrap (default: {defaults.seed})"
    )
    promote.add_argument(
        "--slice-by",
        default=None,
        help="comma-separated slice attributes, '' for none (default: the features manifest's slice_by)",
    )
    promote.add_argument(
        "--force",
        action="store_true",
        help="replace the champion even when the gate refuses or no fair comparison exists (recorded)",
    )
    promote.add_argument(
        "--register-challengers",
        action="store_true",
        help="also register a candidate that does not win (default: only winners become versions)",
    )

    ledger = sub.add_parser("ledger", help="print the alias history: which version held it, when, why")
    ledger.add_argument("--model-name", required=True, help="registered model name")
    ledger.add_argument("--alias", default="champion", help="alias (default: champion)")

    rollback = sub.add_parser(
        "rollback", help="move the alias back (to the previous champion by default), recorded in the ledger"
    )
    rollback.add_argument("--model-name", required=True, help="registered model name")
    rollback.add_argument("--alias", default="champion", help="alias (default: champion)")
    rollback.add_argument(
        "--to-version", type=int, default=None, help="version to restore (default: the previous champion)"
    )
    rollback.add_argument("--reason", default=None, help="why, for the ledger (default: from -> to)")
    return parser


def _slice_by(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _main(args: Any) -> dict[str, Any]:
    if args.command == "train":
        from trainer import train

        opts = train.TrainOptions(
            model=args.model,
            features_uri=args.features_uri,
            experiment=args.experiment,
            grid=args.grid,
            search=args.search,
            cv=args.cv,
            n_jobs=args.n_jobs,
        )
        return train.run(opts)
    if args.command == "ledger":
        from trainer import ledger

        return ledger.show(args.model_name, args.alias)
    if args.command == "rollback":
        from trainer import ledger

        return ledger.rollback(args.model_name, args.alias, args.to_version, args.reason)
    from trainer import promote

    opts = promote.PromoteOptions(
        experiment=args.experiment,
        model_name=args.model_name,
        candidates=args.candidates,
        alias=args.alias,
        gate=gate.GateOptions(
            min_delta=args.min_delta,
            alpha=args.alpha,
            max_slice_drop=args.max_slice_drop,
            min_slice_rows=args.min_slice_rows,
            test=args.test,
            bootstrap=args.bootstrap,
            seed=args.seed,
        ),
        slice_by=_slice_by(args.slice_by),
        force=args.force,
        register_challengers=args.register_challengers,
    )
    return promote.run(opts)


def console(argv: Sequence[str] | None = None) -> int:
    # matplotlib writes a cache; a read-only root fs has no writable HOME. A TMPDIR that cannot
    # take it (full, read-only) is reported by the stage itself, as one line, where it first
    # writes there (pipeline_common.os_errors), not here as a traceback.
    if "MPLCONFIGDIR" not in os.environ:
        with contextlib.suppress(OSError):
            os.environ["MPLCONFIGDIR"] = cache = tempfile.mkdtemp(prefix="mpl-")
            # Removed at exit: every run outside a pod (make demo, bench, tests) would leave one.
            atexit.register(shutil.rmtree, cache, ignore_errors=True)
    # MLflow announces "Waiting up to 300 seconds for model version to finish creation" on every
    # registration (it takes well under a second); promote logs the registration itself.
    logging.getLogger("mlflow.store.model_registry.abstract_store").setLevel(logging.WARNING)
    parser = build_parser()

    def main(argv_: Sequence[str] | None) -> dict[str, Any]:
        return _main(parser.parse_args(argv_))

    # The stage name in logs, errors and return.json follows the subcommand (fit -> "train").
    raw = list(argv) if argv is not None else sys.argv[1:]
    stage = STAGES.get(raw[0], "trainer") if raw else "trainer"
    return cli.entry(stage, main, raw, _closing if stage == "promote" else None)


def _closing(result: dict[str, Any]) -> str | None:
    """The run summary, last in promote's log (an Airflow task log ends with it).

    `make demo` prints the same table itself after the stage and sets TRAINER_SUMMARY_LOG=0.
    """
    if os.environ.get("TRAINER_SUMMARY_LOG", "1") == "0" or not result.get("summary"):
        return None
    return f"run summary:\n{result['summary']}"
