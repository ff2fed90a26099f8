"""`python -m preprocessor`: clean the raw census table, build features and ONE stratified split.

Every trainer reads the same train/test Parquet pair through the features.json manifest.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

from pipeline_common import cli
from pipeline_common.errors import StageArgumentParser, StageError
from pipeline_common.storage import require_bucket
from pipeline_common.uris import Location, parse_location

from preprocessor import __version__
from preprocessor.outputs import Layout
from preprocessor.targets import TARGETS

log = logging.getLogger("preprocessor")
STAGE = "preprocess"
# The census attributes whose groups a promotion must not make worse (written to features.json).
SLICE_BY = ("sex", "race")


def _test_size(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction strictly between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = StageArgumentParser(
        prog="python -m preprocessor",
        description="Clean the raw census table, one-hot encode it and write one stratified split.",
    )
    parser.add_argument(
        "--input", required=True, metavar="URI", help="the extractor's raw Parquet (its raw_uri)"
    )
    parser.add_argument(
        "--output-prefix",
        required=True,
        metavar="URI",
        help="where train.parquet, test.parquet and features.json (the manifest, written last) go",
    )
    parser.add_argument(
        "--target",
        choices=sorted(TARGETS),
        default="never_married",
        help="binary target: never_married (marital_status == Never-married) or income_over_50k "
        "(income_bracket == >50K); the column it derives from is no feature (default: %(default)s)",
    )
    parser.add_argument(
        "--test-size",
        type=_test_size,
        default=0.2,
        metavar="F",
        help="fraction of rows in the test split (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=55, help="seed of the split (default: %(default)s)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild even if the prefix already holds this input's output for these parameters",
    )
    return parser


def _without_trailing_slash(uri: str) -> str:
    """'gs://b/run/features/' -> 'gs://b/run/features' (a prefix, not an object)."""
    trimmed = uri.strip().rstrip("/")
    return trimmed if trimmed and not trimmed.endswith(":") else uri


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    source = parse_location(args.input, what="--input")
    prefix = parse_location(_without_trailing_slash(args.output_prefix), what="--output-prefix")
    require_bucket(prefix)

    from preprocessor import outputs, raw_input

    layout = Layout(prefix)
    if source in (layout.train, layout.test, layout.manifest):
        raise StageError(
            f"--input {source.uri} is inside the output set",
            "write the features under another --output-prefix",
        )
    input_sha256, data = raw_input.input_sha256(source)
    key = {
        "input_sha256": input_sha256,
        "target": args.target,
        "seed": args.seed,
        "test_size": args.test_size,
        "version": __version__,
    }
    if not args.force:
        manifest = outputs.cached_manifest(layout, key)
        if manifest is not None:
            log.info(
                "cache hit: %s already holds this input's features (version %s); --force rebuilds",
                layout.manifest.uri,
                __version__,
            )
            return _result(layout, manifest, cached=True)
    manifest = _build(source, data, layout, key, args)
    return _result(layout, manifest, cached=False)


def _build(
    source: Location, data: bytes, layout: Layout, key: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    from preprocessor import cleaning, features, outputs, raw_input
    from preprocessor.split import stratified_split

    # No local name holds the raw frame, so clean() can free its columns as it goes.
    frame = cleaning.clean(raw_input.read_frame(source, data), source.uri)
    del data
    target = TARGETS[args.target]
    table, names = features.build(frame, target)
    del frame
    y = table.column(target.name).to_numpy()
    train_idx, test_idx = stratified_split(y, args.test_size, args.seed)
    positive_rate = round(float(y.mean()), 6)
    log.info(
        "%d features; target %s positive rate %.4f; split %d train / %d test (seed %d)",
        len(names),
        target.name,
        positive_rate,
        len(train_idx),
        len(test_idx),
        args.seed,
    )
    train, test = table.take(train_idx), table.take(test_idx)
    del table
    manifest = {
        **key,
        "features": names,
        "input_uri": source.uri,
        "rows": {"train": train.num_rows, "test": test.num_rows},
        "positive_rate": positive_rate,
        # Attributes whose one-hot columns (<attribute>_<value>) `trainer promote` scores per slice.
        "slice_by": list(SLICE_BY),
    }
    return outputs.write(layout, train, test, manifest)


def _result(layout: Layout, manifest: dict[str, Any], *, cached: bool) -> dict[str, Any]:
    return {
        "stage": STAGE,
        "version": __version__,
        "features_uri": layout.manifest.uri,
        "train_uri": manifest["train_uri"],
        "test_uri": manifest["test_uri"],
        "target": manifest["target"],
        "rows_train": manifest["rows"]["train"],
        "rows_test": manifest["rows"]["test"],
        "n_features": len(manifest["features"]),
        "positive_rate": manifest["positive_rate"],
        "train_sha256": manifest["train_sha256"],
        "test_sha256": manifest["test_sha256"],
        "input_sha256": manifest["input_sha256"],
        "cached": cached,
    }


def entrypoint(argv: Sequence[str] | None = None) -> int:
    return cli.entry(STAGE, main, argv)
