"""Command line of the trainer: `fit` trains one model, `promote` picks and registers the best."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from pipeline_common import cli
from pipeline_common.errors import StageArgumentParser

from trainer import search

STAGES = {"fit": "train", "promote": "promote"}


def build_parser() -> StageArgumentParser:
    parser = StageArgumentParser(
        prog="python -m trainer", description="Train models and promote the best to MLflow's registry."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=StageArgumentParser)

    fit = sub.add_parser("fit", help="cross-validated grid search of one model, logged as one MLflow run")
    fit.add_argument(
        "--model", required=True, help="model to train: a name of the model catalogue (models/NAME.yaml)"
    )
    fit.add_argument(
        "--features-uri",
        required=True,
        help="features.json manifest written by the preprocessor (gs://, file:// or a path)",
    )
    fit.add_argument(
        "--experiment", required=True, help="MLflow experiment name (created if missing), e.g. census-income"
    )
    fit.add_argument(
        "--grid",
        default="full",
        help="a grid of the model's catalogue entry (full, demo) or a YAML file MODEL -> grid "
        "(default: full)",
    )
    fit.add_argument(
        "--search",
        default="grid",
        choices=search.SEARCHES,
        help="grid: exhaustive GridSearchCV; halving: HalvingGridSearchCV (successive halving)",
    )
    fit.add_argument("--cv", type=int, default=5, help="stratified CV folds on the train split (default: 5)")
    fit.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        help="parallel fits (default and maximum: the stage's CPU budget, see PIPELINE_CPUS)",
    )

    promote = sub.add_parser(
        "promote", help="register the best candidate and move the alias if it beats the champion"
    )
    promote.add_argument("--experiment", required=True, help="MLflow experiment of the candidates' runs")
    promote.add_argument(
        "--model-name", required=True, help="registered model name, e.g. census-never-married"
    )
    promote.add_argument(
        "--candidates",
        required=True,
        help="JSON array of `fit` results (return.json objects), or @FILE holding one",
    )
    promote.add_argument("--alias", default="champion", help="alias the winner holds (default: champion)")
    return parser


def _main(args: Any) -> dict[str, Any]:
    if args.command == "fit":
        from trainer import fit

        opts = fit.FitOptions(
            model=args.model,
            features_uri=args.features_uri,
            experiment=args.experiment,
            grid=args.grid,
            search=args.search,
            cv=args.cv,
            n_jobs=args.n_jobs,
        )
        return fit.run(opts)
    from trainer import promote

    return promote.run(args.experiment, args.model_name, args.candidates, alias=args.alias)


def console(argv: Sequence[str] | None = None) -> int:
    # matplotlib writes a cache; a read-only root fs has no writable HOME.
    os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))
    parser = build_parser()

    def main(argv_: Sequence[str] | None) -> dict[str, Any]:
        return _main(parser.parse_args(argv_))

    # The stage name in logs, errors and return.json follows the subcommand (fit -> "train").
    raw = list(argv) if argv is not None else sys.argv[1:]
    stage = STAGES.get(raw[0], "trainer") if raw else "trainer"
    return cli.entry(stage, main, raw)
