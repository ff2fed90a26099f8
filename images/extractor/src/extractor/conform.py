"""Make any census-shaped Arrow data look exactly like the BigQuery table: census column order,
INT64 for the numeric columns, STRING (raw, untrimmed) for the others."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pipeline_common.census import COLUMNS, FIX_COLUMNS, validate_schema
from pipeline_common.errors import StageError

TARGET_SCHEMA = pa.schema(
    [(name, pa.int64() if kind == "int" else pa.string()) for name, kind in COLUMNS.items()]
)


def check_schema(schema: pa.Schema, source: str) -> None:
    """The census contract (names and kinds); duplicate names are refused as well."""
    duplicated = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if duplicated:
        raise StageError(f"{source} has duplicated column(s) {duplicated}", FIX_COLUMNS)
    validate_schema(schema, source)


def parse_int_column(values: pa.Array, column: str, source: str) -> pa.Array:
    """CSV text -> int64. The UCI CSV writes ' 77516' (leading space), so trim first; an empty
    field is NULL, as BigQuery exports a NULL INT64."""
    trimmed = pc.utf8_trim_whitespace(values)
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)
    try:
        return pc.cast(trimmed, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        bad = _first_non_integer(trimmed)
        raise StageError(
            f"{source} column {column!r} must hold integers but has {bad!r}",
            "fix the source data or select the census table's INT64 columns unchanged",
        ) from exc


def _first_non_integer(values: pa.Array) -> str:
    for value in values.to_pylist():
        if value is None:
            continue
        try:
            int(value)
        except ValueError:
            return value
    return "?"


def conform_batch(batch: pa.RecordBatch | pa.Table, source: str) -> pa.Table:
    """Reorder to the census order and cast each column to its BigQuery type."""
    columns = []
    for field in TARGET_SCHEMA:
        values = batch.column(field.name)
        if values.type != field.type:
            try:
                values = pc.cast(values, field.type)  # e.g. int32 -> int64, large_string -> string
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise StageError(
                    f"{source} column {field.name!r} of type {values.type} cannot be read as {field.type}",
                    "cast it to INT64/STRING as in the public table",
                ) from exc
        columns.append(values)
    return pa.Table.from_arrays(columns, schema=TARGET_SCHEMA)
