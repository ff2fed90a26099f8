"""Read the extractor's raw Parquet once: its sha256 (the cache key) and the frame."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from pipeline_common.errors import StageError
from pipeline_common.storage import read_bytes
from pipeline_common.uris import Location

if TYPE_CHECKING:
    import pandas as pd
    from pipeline_common.dataset_spec import DatasetSpec

log = logging.getLogger(__name__)
FIX = "point --input at the extractor's raw_uri (the Parquet object it wrote for this --dataset)"


def input_sha256(loc: Location) -> tuple[str, bytes]:
    data = read_bytes(loc)
    return hashlib.sha256(data).hexdigest(), data


def extract_source(data: bytes) -> str | None:
    """The source the extractor read (its stamp in the Parquet metadata), for the model card; None
    for a Parquet file the extractor did not write."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    from pipeline_common.fingerprint import EXTRACT_STAMP_KEY

    try:
        metadata = pq.ParquetFile(pa.BufferReader(data)).schema_arrow.metadata or {}
        stamp = json.loads(metadata[EXTRACT_STAMP_KEY]) if EXTRACT_STAMP_KEY in metadata else {}
    except (pa.ArrowException, OSError, ValueError):
        return None  # read_frame says what is wrong with the file
    source = stamp.get("source") if isinstance(stamp, dict) else None
    return source if isinstance(source, str) and source else None


def read_frame(loc: Location, data: bytes, spec: DatasetSpec) -> pd.DataFrame:
    # pandas and pyarrow load here, after the input is read (~1 s of imports off the start-up).
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not data:
        raise StageError(f"--input {loc.uri} is empty (0 bytes)", FIX)
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise StageError(f"--input {loc.uri} is not a readable Parquet file: {str(exc)[:200]}", FIX) from exc
    spec.check_schema(schema, loc.uri)
    rows = parquet.metadata.num_rows
    if rows == 0:
        raise StageError(f"--input {loc.uri} has no rows", "re-run the extractor on a non-empty source")
    log.info("reading %s: %d rows x %d columns", loc.uri, rows, len(schema.names))
    # One column at a time: Arrow and pandas copies of the whole table never coexist
    # (pandas 3 turns Arrow `string` into its own `str` arrays, a copy).
    columns = {}
    for name in schema.names:
        try:
            column = parquet.read(columns=[name]).column(0)
        except (pa.ArrowException, OSError) as exc:
            raise StageError(f"--input {loc.uri} is a corrupt Parquet file: {str(exc)[:200]}", FIX) from exc
        columns[name] = column.to_pandas()
        del column
    return pd.DataFrame(columns, copy=False)
