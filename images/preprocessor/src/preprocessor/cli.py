"""`python -m preprocessor`: clean a raw table by its dataset spec, build features and ONE
stratified split.

Every trainer reads the same train/test Parquet pair through the features.json manifest.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipeline_common import cli
from pipeline_common.dataset_spec import DEFAULT_DATASET
from pipeline_common.errors import StageArgumentParser, StageError
from pipeline_common.storage import require_writable
from pipeline_common.uris import Location, parse_location, same_file

from preprocessor import __version__
from preprocessor.outputs import Layout

if TYPE_CHECKING:
    import pyarrow as pa
    from pipeline_common.dataset_spec import DatasetSpec, Target

log = logging.getLogger("preprocessor")
STAGE = "preprocess"
CODE = ("preprocessor", "pipeline_common")  # the packages whose source is part of the cache key


def _test_size(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction strictly between 0 and 1")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..{2**32 - 1}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = StageArgumentParser(
        prog="python -m preprocessor",
        description="Clean a raw table by its dataset spec, build its features and write one "
        "stratified train/test split.",
    )
    parser.add_argument(
        "--input", required=True, metavar="URI", help="the extractor's raw Parquet (its raw_uri)"
    )
    parser.add_argument(
        "--output-prefix",
        required=True,
        metavar="URI",
        help="where train-<sha12>.parquet, test-<sha12>.parquet and features.json (the manifest, "
        "swapped last) go; the prefix belongs to this stage",
    )
    parser.add_argument(
        "--dataset",
        default=DEFAULT_DATASET,
        metavar="NAME",
        help="dataset spec: a name of datasets/ (census, penguins, ...) or a spec file path/gs:// URI; "
        "the same as the extractor's (default: %(default)s)",
    )
    parser.add_argument(
        "--target",
        default=None,
        metavar="NAME",
        help="binary target, one of the spec's `targets` (census: never_married, income_over_50k); "
        "the column it derives from is no feature (default: the spec's default_target)",
    )
    parser.add_argument(
        "--test-size",
        type=_test_size,
        default=0.2,
        metavar="F",
        help="fraction of rows in the test split (default: %(default)s)",
    )
    parser.add_argument("--seed", type=_seed, default=55, help="seed of the split (default: %(default)s)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="rebuild even if the prefix already holds this input's output for these parameters, "
        "spec and preprocessor code",
    )
    return parser


def _without_trailing_slash(uri: str) -> str:
    """'gs://b/run/features/' -> 'gs://b/run/features' (a prefix, not an object)."""
    trimmed = uri.strip().rstrip("/")
    return trimmed if trimmed and not trimmed.endswith(":") else uri


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from pipeline_common import dataset_spec

    args = build_parser().parse_args(argv)
    spec = dataset_spec.load(args.dataset)
    target = spec.target(args.target)
    source = parse_location(args.input, what="--input")
    prefix = parse_location(_without_trailing_slash(args.output_prefix), what="--output-prefix")
    layout = Layout(prefix)
    _refuse_input_in_output_set(source, layout)
    require_writable(layout.manifest)

    from pipeline_common.fingerprint import cache_key, code_fingerprint

    from preprocessor import outputs, raw_input

    found = outputs.earlier(layout)  # before the input is read: the commit's precondition
    input_sha256, data = raw_input.input_sha256(source)
    params = {"dataset": spec.name, "target": target.name, "seed": args.seed, "test_size": args.test_size}
    key = cache_key(
        input_sha256=input_sha256,
        spec=spec.fingerprint,
        code=code_fingerprint(*CODE),
        stage=STAGE,
        **params,
    )
    if not args.force:
        manifest = outputs.cached_manifest(layout, found, key)
        if manifest is not None:
            log.info(
                "cache hit: %s holds this input's features (same content, parameters, spec and code); "
                "--force rebuilds",
                layout.manifest.uri,
            )
            return _result(layout, manifest, cached=True)
    train, test, row_ids, facts = _build(source, data, spec, target, args)
    manifest = {**facts, **params, "input_sha256": input_sha256, "cache_key": key, "version": __version__}
    return _result(layout, outputs.write(layout, found, train, test, row_ids, manifest), cached=False)


def _refuse_input_in_output_set(source: Location, layout: Layout) -> None:
    """The input must not be an object this stage writes or removes under its prefix, by any
    path: the same name, a symlink (parse_location resolves those) or a bind mount of the
    prefix's directory (compared by device and inode)."""
    aliased = source.parent != layout.prefix and same_file(source.parent, layout.prefix)
    if layout.owns(source) or (aliased and layout.owns(layout.prefix.join(source.name))):
        raise StageError(
            f"--input {source.uri} is part of the output set under {layout.prefix.uri} "
            "(the stage replaces and removes those objects)",
            "write the features under another --output-prefix",
        )


def _build(
    source: Location, data: bytes, spec: DatasetSpec, target: Target, args: argparse.Namespace
) -> tuple[pa.Table, pa.Table, pa.Table, dict[str, Any]]:
    """Clean, build the features and split: (train, test, their row ids, the manifest's facts)."""
    import numpy as np
    import pyarrow as pa

    from preprocessor import cleaning, features, raw_input
    from preprocessor.split import stratified_split

    origin = raw_input.extract_source(data)
    # No local name holds the raw frame, so clean() can free its columns as it goes.
    frame, ids = cleaning.clean_with_ids(raw_input.read_frame(source, data, spec), spec, target, source.uri)
    del data
    table, names = features.build(frame, spec, target)
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
    # Each split row's identity (a hash of its raw row), in a table of its own so the splits keep
    # exactly the features and the target: the trainer proves with it that no row is in both.
    row_ids = pa.table(
        {
            "row_id": pa.array(np.concatenate([ids[train_idx], ids[test_idx]]), pa.uint64()),
            "split": pa.array(np.repeat(np.array([0, 1], "int8"), [len(train_idx), len(test_idx)])),
        }
    )
    return (
        train,
        test,
        row_ids,
        {
            "features": names,
            "target_labels": list(target.labels),
            "slice_by": list(spec.slice_by),
            "input_uri": source.uri,
            "source": origin,  # what the extractor read (bigquery://..., a CSV), null if unknown
            "rows": {"train": train.num_rows, "test": test.num_rows},
            "positive_rate": positive_rate,
        },
    )


def _result(layout: Layout, manifest: dict[str, Any], *, cached: bool) -> dict[str, Any]:
    return {
        "stage": STAGE,
        "version": __version__,
        "dataset": manifest["dataset"],
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
