"""`python -m extractor`: read a dataset's source table and write it unchanged as one Parquet object.

Sources: a BigQuery table or query (google-cloud-bigquery, Storage Read API when available), or a
CSV/Parquet file at gs://, file:// or a local path. What the table must look like comes from the
dataset spec (`--dataset`, datasets/NAME.yaml). File sources are cached by content.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from typing import Any

from pipeline_common import cli
from pipeline_common.dataset_spec import DEFAULT_DATASET, DatasetSpec
from pipeline_common.errors import StageArgumentParser, StageError
from pipeline_common.storage import require_writable, sha256_of, size, version_of
from pipeline_common.uris import Location, parse_location, same_file

from extractor import __version__
from extractor.bigquery_uri import is_bigquery, parse_table

log = logging.getLogger("extractor")
STAGE = "extract"
CODE = ("extractor", "pipeline_common")  # the packages whose source is part of the cache key


def build_parser() -> argparse.ArgumentParser:
    parser = StageArgumentParser(
        prog="python -m extractor",
        description="Read a dataset's table and write it unchanged (raw strings, INT64/FLOAT64 numbers) "
        "as Parquet, checked against its dataset spec.",
    )
    parser.add_argument(
        "--dataset",
        default=DEFAULT_DATASET,
        metavar="NAME",
        help="dataset spec: a name of datasets/ (census, penguins, ...) or a spec file path/gs:// URI "
        "(default: %(default)s)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--source",
        metavar="URI",
        help="bigquery://PROJECT.DATASET.TABLE, or a CSV (optionally gzipped) / Parquet file at gs://, "
        "file:// or a local path (default: the spec's default_source)",
    )
    where.add_argument("--query", metavar="SQL", help="a BigQuery SQL query to read instead of a table")
    parser.add_argument(
        "--output",
        required=True,
        metavar="URI",
        help="the Parquet object to write, e.g. gs://BUCKET/runs/RUN/extract/census.parquet",
    )
    parser.add_argument(
        "--project",
        metavar="P",
        default=os.environ.get("GOOGLE_CLOUD_PROJECT") or None,
        help="BigQuery billing/quota project (default: $GOOGLE_CLOUD_PROJECT, else the table's project)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="re-read the source even if --output already holds this input's extract (same content, "
        "spec and extractor code)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from pipeline_common import dataset_spec

    args = build_parser().parse_args(argv)
    spec = dataset_spec.load(args.dataset)
    output = parse_location(args.output, what="--output")
    if args.query is not None and not args.query.strip():
        raise StageError("--query is empty", "give a SQL query, or drop --query to read --source")
    source = args.source if args.source is not None else (None if args.query else spec.default_source)
    if args.query is None and not source:
        raise StageError(
            f"dataset {spec.name!r} has no default_source and no --source was given",
            f"pass --source (the shipped copy is {spec.local_source or 'not set'})",
        )
    table = parse_table(source) if source and is_bigquery(source) else None
    file_source = None if args.query is not None or table else parse_location(source, what="--source")
    # Before any reading: a typo in the bucket or a read-only directory must not cost a full extract.
    require_writable(output)
    if file_source is not None and same_file(file_source, output):
        raise StageError(f"--output {output.uri} is the source itself", "write the extract to another object")
    # The version found now is the commit's precondition: if another run replaces the output
    # while this one reads, this one's commit is refused instead of silently overwriting it.
    before = version_of(output)
    if args.query is not None:
        described = f"query: {' '.join(args.query.split())[:1000]}"
        return _extract_bigquery(spec, None, args.query, args.project, output, described, before)
    if table:
        return _extract_bigquery(spec, table, None, args.project, output, source.strip(), before)
    return _extract_file(spec, file_source, output, before, force=args.force)


def _stamp(spec: DatasetSpec, source: str, input_sha256: str | None) -> dict[str, Any]:
    """The provenance stamp written into the Parquet metadata; `cache_key` decides reuse."""
    from pipeline_common.fingerprint import cache_key, code_fingerprint

    key = None
    if input_sha256 is not None:
        key = cache_key(
            input_sha256=input_sha256, spec=spec.fingerprint, code=code_fingerprint(*CODE), stage=STAGE
        )
    return {
        "stage": STAGE,
        "version": __version__,
        "dataset": spec.name,
        "input_sha256": input_sha256,
        "cache_key": key,
        "source": source,
    }


def _extract_file(
    spec: DatasetSpec, src: Location, output: Location, before: Any, *, force: bool
) -> dict[str, Any]:
    from extractor.conform import target_schema
    from extractor.file_source import detect_format, read_batches
    from extractor.parquet_output import read_existing, write_parquet

    fmt = detect_format(src)
    earlier = not force and before is not None
    why = f"to compare with the extract at {output.uri}" if earlier else "for the extract's provenance stamp"
    log.info("source %s: %s, %.1f MB; hashing it %s", src.uri, fmt, size(src) / 1e6, why)
    stamp = _stamp(spec, src.uri, sha256_of(src))
    if earlier:
        found = read_existing(output)
        if found and found.stamp.get("cache_key") == stamp["cache_key"]:
            log.info(
                "cache hit: %s holds this input's extract (same content, spec and code); --force re-reads",
                output.uri,
            )
            return _result(
                spec,
                src.uri,
                output,
                found.rows,
                found.columns,
                size(output),
                sha256_of(output),
                "file",
                cached=True,
            )
        log.info("%s exists but from another input, spec or extractor code; replacing it", output.uri)
    schema = target_schema(spec)
    written, rows = write_parquet(output, read_batches(src, fmt, spec), schema, stamp, src.uri, before)
    return _result(
        spec, src.uri, output, rows, schema.names, written.bytes, written.sha256, "file", cached=False
    )


def _extract_bigquery(
    spec: DatasetSpec,
    table: str | None,
    query: str | None,
    project: str | None,
    output: Location,
    source: str,
    before: Any,
) -> dict[str, Any]:
    """BigQuery is not cached: a query's content hash is unknown until it has been read."""
    from extractor.bigquery_source import read_bigquery
    from extractor.conform import conform_batch, target_schema
    from extractor.parquet_output import ROW_GROUP_ROWS, write_parquet

    log.info("reading %s from BigQuery", table or "the query result")
    arrow, read_api = read_bigquery(table, query, project)
    log.info("read %d rows with the %s API", arrow.num_rows, read_api)
    spec.check_schema(arrow.schema, source)
    batches = (conform_batch(b, spec, source) for b in arrow.to_batches(max_chunksize=ROW_GROUP_ROWS))
    schema = target_schema(spec)
    written, rows = write_parquet(output, batches, schema, _stamp(spec, source, None), source, before)
    return _result(
        spec, source, output, rows, schema.names, written.bytes, written.sha256, read_api, cached=False
    )


def _result(
    spec: DatasetSpec,
    source: str,
    output: Location,
    rows: int,
    columns: list[str],
    nbytes: int,
    sha256: str,
    read_api: str,
    *,
    cached: bool,
) -> dict[str, Any]:
    log.info(
        "%s: %d rows x %d columns, %d bytes, sha256 %s%s",
        output.uri,
        rows,
        len(columns),
        nbytes,
        sha256[:12],
        " (cached)" if cached else "",
    )
    return {
        "stage": STAGE,
        "version": __version__,
        "dataset": spec.name,
        "source": source,
        "raw_uri": output.uri,
        "rows": rows,
        "columns": columns,
        "bytes": nbytes,
        "sha256": sha256,
        "read_api": read_api,
        "cached": cached,
    }


def entrypoint(argv: Sequence[str] | None = None) -> int:
    return cli.entry(STAGE, main, argv)
