"""Write the raw table as one Parquet object, atomically, stamped for the cache.

The stamp (the cache key: input sha256, dataset spec and stage code, see cli.py) lives in the
Parquet key-value metadata, so the output carries its own provenance and no sidecar can drift from it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pipeline_common.errors import StageError
from pipeline_common.fingerprint import EXTRACT_STAMP_KEY
from pipeline_common.storage import Written, atomic_output, open_read
from pipeline_common.uris import Location
from pipeline_common.versions import ANY

log = logging.getLogger(__name__)

STAMP_KEY = EXTRACT_STAMP_KEY
# Row groups of ~256k rows (~10 MB compressed for the census table): large enough for fast scans,
# small enough that a reader never holds much more than one group.
ROW_GROUP_ROWS = 256_000
COMPRESSION = "zstd"


@dataclass(frozen=True)
class ExistingOutput:
    stamp: dict[str, Any]
    rows: int
    columns: list[str]


def write_parquet(
    loc: Location,
    tables: Iterable[pa.Table],
    schema: pa.Schema,
    stamp: dict[str, Any],
    source: str,
    expect: Any = ANY,
) -> tuple[Written, int]:
    """Stream `tables` into `loc`; returns what was written and the row count.

    An input without rows is refused before anything is committed; the commit happens only if
    `loc` still has the version `expect` (storage.atomic_output)."""
    schema = schema.with_metadata({STAMP_KEY: json.dumps(stamp, sort_keys=True).encode()})
    box: list[Written] = []
    rows = 0
    with atomic_output(loc, box, expect=expect) as tmp:
        with pq.ParquetWriter(tmp, schema, compression=COMPRESSION) as writer:
            # Batches come in whatever size the reader chose; row groups are cut at exactly
            # ROW_GROUP_ROWS (the last one holds the rest).
            pending: list[pa.Table] = []
            pending_rows = 0
            for table in tables:
                pending.append(table)
                pending_rows += table.num_rows
                rows += table.num_rows
                while pending_rows >= ROW_GROUP_ROWS:
                    combined = pa.concat_tables(pending)
                    _write_group(writer, combined.slice(0, ROW_GROUP_ROWS), schema)
                    pending = [combined.slice(ROW_GROUP_ROWS)]
                    pending_rows -= ROW_GROUP_ROWS
            if pending_rows:
                _write_group(writer, pa.concat_tables(pending), schema)
        if rows == 0:
            raise StageError(
                f"source {source} has the dataset's columns but no rows",
                "point --source at a non-empty table or file",
            )
    return box[0], rows


def _write_group(writer: pq.ParquetWriter, table: pa.Table, schema: pa.Schema) -> None:
    writer.write_table(table.replace_schema_metadata(schema.metadata), row_group_size=ROW_GROUP_ROWS)


def read_existing(loc: Location) -> ExistingOutput | None:
    """The stamp, rows and columns of an earlier output at `loc`, or None if it is not ours."""
    try:
        with open_read(loc) as fh:
            parquet = pq.ParquetFile(fh)
            metadata = parquet.schema_arrow.metadata or {}
            stamp = json.loads(metadata[STAMP_KEY]) if STAMP_KEY in metadata else None
            rows, columns = parquet.metadata.num_rows, list(parquet.schema_arrow.names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        log.warning("existing %s is unreadable (%s); it will be replaced", loc.uri, str(exc)[:200])
        return None
    if not isinstance(stamp, dict):
        return None
    return ExistingOutput(stamp, rows, columns)
