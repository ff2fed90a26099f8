"""Make any table-shaped Arrow data look exactly like the dataset's source table: the spec's column
order, INT64 / FLOAT64 for numeric columns, STRING (raw, untrimmed) for the others."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pipeline_common.dataset_spec import DatasetSpec
from pipeline_common.errors import StageError

ARROW_TYPES = {"int": pa.int64(), "float": pa.float64(), "string": pa.string()}


def target_schema(spec: DatasetSpec) -> pa.Schema:
    """The Parquet schema the extractor writes for this dataset."""
    return pa.schema([(name, ARROW_TYPES[column.kind]) for name, column in spec.columns.items()])


def parse_numeric_column(
    values: pa.Array, column: str, kind: str, source: str, null_tokens: tuple[str, ...]
) -> pa.Array:
    """CSV text -> int64/float64. The UCI CSV writes ' 77516' (leading space), so trim first; an
    empty field or a missing token (e.g. 'NA') is NULL, as BigQuery exports a NULL number."""
    trimmed = pc.utf8_trim_whitespace(values)
    is_null = pc.is_in(trimmed, value_set=pa.array(["", *null_tokens], pa.string()))
    trimmed = pc.if_else(is_null, pa.scalar(None, pa.string()), trimmed)
    try:
        return pc.cast(trimmed, ARROW_TYPES[kind])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        bad = _first_unparsable(trimmed, kind)
        noun = "integers" if kind == "int" else "numbers"
        raise StageError(
            f"{source} column {column!r} must hold {noun} but has {bad!r}",
            "fix the source data, or change the column's kind in the dataset spec",
        ) from exc


def _first_unparsable(values: pa.Array, kind: str) -> str:
    parse = int if kind == "int" else float
    for value in values.to_pylist():
        if value is None:
            continue
        try:
            parse(value)
        except ValueError:
            return value
    return "?"


def conform_batch(batch: pa.RecordBatch | pa.Table, spec: DatasetSpec, source: str) -> pa.Table:
    """Reorder to the spec's order and cast each column to its type (int32 -> int64, ...)."""
    schema = target_schema(spec)
    columns = []
    for field in schema:
        values = batch.column(field.name)
        if values.type != field.type:
            try:
                values = pc.cast(values, field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise StageError(
                    f"{source} column {field.name!r} of type {values.type} cannot be read as {field.type}",
                    "cast it to INT64/FLOAT64/STRING as the dataset spec says",
                ) from exc
        columns.append(values)
    return pa.Table.from_arrays(columns, schema=schema)
