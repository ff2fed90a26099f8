"""The data contract of the census adult income table, as BigQuery serves it.

`bigquery-public-data.ml_datasets.census_adult_income`: 15 columns, INT64 and STRING. String
values keep the UCI leading space (' State-gov') and missing values are the string ' ?'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline_common.errors import StageError

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_TABLE = "bigquery-public-data.ml_datasets.census_adult_income"
DEFAULT_SOURCE = f"bigquery://{DEFAULT_TABLE}"

# Column -> kind, in the public table's order.
COLUMNS: dict[str, str] = {
    "age": "int",
    "workclass": "string",
    "functional_weight": "int",
    "education": "string",
    "education_num": "int",
    "marital_status": "string",
    "occupation": "string",
    "relationship": "string",
    "race": "string",
    "sex": "string",
    "capital_gain": "int",
    "capital_loss": "int",
    "hours_per_week": "int",
    "native_country": "string",
    "income_bracket": "string",
}
INT_COLUMNS = [c for c, k in COLUMNS.items() if k == "int"]
STRING_COLUMNS = [c for c, k in COLUMNS.items() if k == "string"]
FIX_COLUMNS = (
    "read the census_adult_income table (or a copy with its 15 columns and types), e.g. SELECT * FROM it"
)


def _kind(dtype: pa.DataType) -> str:
    import pyarrow.types as t

    if t.is_integer(dtype):
        return "int"
    if t.is_string(dtype) or t.is_large_string(dtype) or t.is_string_view(dtype):
        return "string"
    if t.is_null(dtype):
        return "null"
    return str(dtype)


def validate_schema(schema: pa.Schema, source: str) -> None:
    """Raise a StageError unless `schema` has exactly the census columns with their kinds."""
    names = list(schema.names)
    missing = [c for c in COLUMNS if c not in names]
    extra = [c for c in names if c not in COLUMNS]
    if missing and len(missing) > len(COLUMNS) // 2:
        raise StageError(
            f"{source} is not the census table: it lacks {len(missing)} of 15 columns {missing}", FIX_COLUMNS
        )
    if missing:
        raise StageError(f"{source} lacks census column(s) {missing}", FIX_COLUMNS)
    if extra:
        raise StageError(
            f"{source} has column(s) outside the census contract {extra}",
            "select only the 15 census columns (use --query 'SELECT age, workclass, ... FROM ...')",
        )
    wrong = {c: _kind(schema.field(c).type) for c in COLUMNS if _kind(schema.field(c).type) != COLUMNS[c]}
    if wrong:
        detail = ", ".join(f"{c} is {k} (expected {COLUMNS[c]})" for c, k in wrong.items())
        raise StageError(
            f"{source} has columns of the wrong type: {detail}",
            "cast them to INT64/STRING as in the public table",
        )
