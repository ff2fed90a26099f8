"""Read a dataset's CSV or Parquet file (gs://, file:// or a local path) as a stream of Arrow tables.

Streaming keeps peak memory near one block, whatever the file size. CSV text is read raw: string
columns keep their text as written (the census' UCI leading space and ' ?'), numeric columns are
trimmed and parsed as INT64/FLOAT64 (the spec's missing tokens become NULL), so the result equals
the table BigQuery would hold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pipeline_common.dataset_spec import DatasetSpec
from pipeline_common.errors import StageError
from pipeline_common.logs import Progress
from pipeline_common.storage import open_read, size
from pipeline_common.uris import Location

from extractor.conform import ARROW_TYPES, conform_batch, parse_numeric_column, target_schema

log = logging.getLogger(__name__)

CSV_BLOCK_BYTES = 2 << 20  # ~16k census rows per block; larger blocks cost far more RSS than they save
PARQUET_BATCH_ROWS = 128_000
GZIP_MAGIC, PARQUET_MAGIC = b"\x1f\x8b", b"PAR1"
FIX_CSV = "re-export the file: a header line with the dataset's columns, then complete rows of as many fields"
FIX_PARQUET = "re-export the file as Parquet (a truncated or corrupt upload must be copied again)"


def detect_format(loc: Location) -> str:
    """'parquet', 'csv.gz' or 'csv', from the first bytes (extensions can lie)."""
    with open_read(loc) as fh:
        head = fh.read(4)
    if not head:
        raise StageError(
            f"source {loc.uri} is empty (0 bytes)", "point --source at the dataset's CSV/Parquet file"
        )
    if head == PARQUET_MAGIC:
        return "parquet"
    if head[:2] == GZIP_MAGIC:
        return "csv.gz"
    if loc.name.lower().endswith((".parquet", ".pq")):
        raise StageError(f"source {loc.uri} is not a Parquet file (no PAR1 header)", FIX_PARQUET)
    return "csv"


def read_batches(loc: Location, fmt: str, spec: DatasetSpec) -> Iterator[pa.Table]:
    """Yield tables in the spec's schema (conform.target_schema); every problem is a StageError."""
    if fmt == "parquet":
        yield from _parquet_batches(loc, spec)
    else:
        yield from _csv_batches(loc, spec, gzipped=fmt == "csv.gz")


def _csv_batches(loc: Location, spec: DatasetSpec, *, gzipped: bool) -> Iterator[pa.Table]:
    schema = target_schema(spec)
    numeric = {name: c.kind for name, c in spec.columns.items() if c.kind != "string"}
    total = size(loc)
    progress = Progress(f"read {loc.name}", total, log)
    with open_read(loc) as fh:
        raw = pa.PythonFile(fh, mode="r")
        stream = pa.CompressedInputStream(raw, "gzip") if gzipped else raw
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                # Every column as text: no type guessing, no trimming, ' ?' stays ' ?'.
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(spec.columns, pa.string()), strings_can_be_null=False
                ),
            )
        except (pa.ArrowException, OSError) as exc:
            raise _csv_error(loc, exc) from exc
        # Check names and kinds before reading on: the numeric columns will be parsed as numbers.
        kinds = pa.schema(
            [(f.name, ARROW_TYPES[numeric[f.name]] if f.name in numeric else f.type) for f in reader.schema]
        )
        spec.check_schema(kinds, loc.uri)
        position = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as exc:
                raise _csv_error(loc, exc) from exc
            arrays = {
                name: parse_numeric_column(batch.column(name), name, kind, loc.uri, spec.missing_tokens)
                if (kind := numeric.get(name))
                else batch.column(name)
                for name in spec.columns
            }
            yield pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)
            now = raw.tell()
            progress.advance(now - position)
            position = now


def _csv_error(loc: Location, exc: Exception) -> StageError:
    text = (str(exc).splitlines() or [type(exc).__name__])[0][:240]
    if "Empty CSV file" in text:
        return StageError(f"source {loc.uri} holds no CSV header or rows", FIX_CSV)
    return StageError(f"source {loc.uri} is not a valid CSV: {text}", FIX_CSV)


def _parquet_batches(loc: Location, spec: DatasetSpec) -> Iterator[pa.Table]:
    with open_read(loc) as fh:
        try:
            parquet = pq.ParquetFile(fh)
            schema = parquet.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise StageError(
                f"source {loc.uri} is a corrupt Parquet file: {str(exc)[:200]}", FIX_PARQUET
            ) from exc
        spec.check_schema(schema, loc.uri)
        progress = Progress(f"read {loc.name}", parquet.metadata.num_rows, log)
        batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=list(spec.columns))
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as exc:
                raise StageError(
                    f"source {loc.uri} is a corrupt Parquet file: {str(exc)[:200]}", FIX_PARQUET
                ) from exc
            yield conform_batch(batch, spec, loc.uri)
            progress.advance(batch.num_rows)
