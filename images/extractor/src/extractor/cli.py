"""`python -m extractor`: read the census table and write it unchanged as one Parquet object.

Sources: a BigQuery table or query (google-cloud-bigquery, Storage Read API when available), or a
CSV/Parquet file at gs://, file:// or a local path. The result is cached by input content.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from typing import Any

from pipeline_common import cli
from pipeline_common.census import DEFAULT_SOURCE
from pipeline_common.errors import StageArgumentParser, StageError
from pipeline_common.storage import exists, require_bucket, sha256_of, size
from pipeline_common.uris import Location, parse_location

from extractor import __version__
from extractor.bigquery_uri import is_bigquery, parse_table

log = logging.getLogger("extractor")
STAGE = "extract"


def build_parser() -> argparse.ArgumentParser:
    parser = StageArgumentParser(
        prog="python -m extractor",
        description="Read the census adult income table and write it unchanged "
        "(raw strings, INT64 numbers) as Parquet.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--source",
        metavar="URI",
        help="bigquery://PROJECT.DATASET.TABLE, or a CSV (optionally gzipped) / Parquet file at gs://, "
        f"file:// or a local path (default: {DEFAULT_SOURCE})",
    )
    where.add_argument("--query", metavar="SQL", help="a BigQuery SQL query to read instead of a table")
    parser.add_argument(
        "--output",
        required=True,
        metavar="URI",
        help="the Parquet object to write, e.g. gs://BUCKET/runs/RUN/raw/census.parquet",
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
        help="re-read the source even if --output already holds the same input's extract",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    output = parse_location(args.output, what="--output")
    require_bucket(output)  # before any reading: a typo in the bucket must not cost a full extract
    source = args.source if args.source is not None else (None if args.query else DEFAULT_SOURCE)
    if args.query is not None:
        if not args.query.strip():
            raise StageError("--query is empty", "give a SQL query, or drop --query to read --source")
        return _extract_bigquery(
            None, args.query, args.project, output, f"query: {' '.join(args.query.split())[:1000]}"
        )
    if is_bigquery(source):
        return _extract_bigquery(parse_table(source), None, args.project, output, source.strip())
    return _extract_file(parse_location(source, what="--source"), output, force=args.force)


def _extract_file(src: Location, output: Location, *, force: bool) -> dict[str, Any]:
    from extractor.file_source import detect_format, read_batches
    from extractor.parquet_output import read_existing, write_parquet

    if src == output:
        raise StageError(f"--output {output.uri} is the source itself", "write the extract to another object")
    fmt = detect_format(src)
    log.info("source %s: %s, %.1f MB; hashing it for the cache", src.uri, fmt, size(src) / 1e6)
    input_sha256 = sha256_of(src)
    stamp = {"stage": STAGE, "version": __version__, "input_sha256": input_sha256, "source": src.uri}
    if not force and exists(output):
        found = read_existing(output)
        if (
            found
            and found.stamp.get("input_sha256") == input_sha256
            and found.stamp.get("version") == __version__
        ):
            log.info(
                "cache hit: %s already holds this input's extract (version %s); --force re-reads",
                output.uri,
                __version__,
            )
            return _result(
                src.uri,
                output,
                found.rows,
                found.columns,
                size(output),
                sha256_of(output),
                "file",
                cached=True,
            )
        log.info("%s exists but from another input or version; replacing it", output.uri)
    written, rows = write_parquet(output, read_batches(src, fmt), stamp, src.uri)
    return _result(
        src.uri, output, rows, _column_names(), written.bytes, written.sha256, "file", cached=False
    )


def _extract_bigquery(
    table: str | None, query: str | None, project: str | None, output: Location, source: str
) -> dict[str, Any]:
    """BigQuery is not cached: a query's content hash is unknown until it has been read."""
    from extractor.bigquery_source import read_bigquery
    from extractor.conform import check_schema, conform_batch
    from extractor.parquet_output import ROW_GROUP_ROWS, write_parquet

    log.info("reading %s from BigQuery", table or "the query result")
    arrow, read_api = read_bigquery(table, query, project)
    log.info("read %d rows with the %s API", arrow.num_rows, read_api)
    check_schema(arrow.schema, source)
    batches = (conform_batch(b, source) for b in arrow.to_batches(max_chunksize=ROW_GROUP_ROWS))
    stamp = {"stage": STAGE, "version": __version__, "input_sha256": None, "source": source}
    written, rows = write_parquet(output, batches, stamp, source)
    return _result(
        source, output, rows, _column_names(), written.bytes, written.sha256, read_api, cached=False
    )


def _column_names() -> list[str]:
    from extractor.conform import TARGET_SCHEMA

    return list(TARGET_SCHEMA.names)


def _result(
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
