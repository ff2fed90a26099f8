"""The extractor's file reader on the real census CSV: the result equals the BigQuery table.
Penguins (float columns, NA tokens) checks that nothing census-specific is left in the reader."""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from extractor.conform import parse_numeric_column, target_schema
from extractor.file_source import detect_format, read_batches
from pipeline_common import dataset_spec
from pipeline_common.errors import StageError
from pipeline_common.uris import parse_location

from tests.helpers.census_data import MISSING_COUNTS, ROWS, read_raw
from tests.helpers.stages import CENSUS_CSV_GZ, PENGUINS_CSV

CENSUS = dataset_spec.load("census")
TARGET_SCHEMA = target_schema(CENSUS)
HEADER = ",".join(TARGET_SCHEMA.names)
ROW = (
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, "
    "2174, 0, 40, United-States, <=50K"
)


def read_all(path: Path, spec: dataset_spec.DatasetSpec = CENSUS) -> pa.Table:
    loc = parse_location(str(path))
    return pa.concat_tables(read_batches(loc, detect_format(loc), spec))


def write_csv(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def census() -> pa.Table:
    return read_all(CENSUS_CSV_GZ)


def test_census_csv_reads_as_the_bigquery_table(census: pa.Table) -> None:
    assert census.schema == TARGET_SCHEMA
    assert census.num_rows == ROWS
    assert census.column("workclass")[0].as_py() == " State-gov"  # raw, leading space kept
    assert census.column("functional_weight")[0].as_py() == 77516  # ' 77516' parsed as INT64
    for column, count in MISSING_COUNTS.items():
        assert pc.sum(pc.equal(census.column(column), " ?")).as_py() == count
    assert sum(c.null_count for c in census.columns) == 0


def test_census_csv_equals_an_independent_pandas_read(census: pa.Table) -> None:
    oracle = read_raw()
    mine = census.to_pandas()
    assert list(mine.columns) == list(oracle.columns)
    for column in oracle.columns:
        assert mine[column].tolist() == oracle[column].tolist(), column


def test_leading_space_ints_are_parsed_without_relying_on_pyarrow_type_inference(tmp_path: Path) -> None:
    """Every numeric CSV field but the first is ' 77516': the reader takes all census columns as
    text and trims + casts the INT64 ones itself, whatever pyarrow's CSV int parser accepts."""
    assert parse_numeric_column(
        pa.array([" 77516", "-3", " 0", "\t12 "]), "b", "int", "src", ()
    ).to_pylist() == [
        77516,
        -3,
        0,
        12,
    ]
    table = read_all(write_csv(tmp_path, f"{HEADER}\n{ROW}\n"))
    assert table.column("functional_weight").type == pa.int64()
    assert table.column("functional_weight").to_pylist() == [77516]
    assert table.column("capital_gain").to_pylist() == [2174]


def test_empty_int_field_is_null_like_a_bigquery_null() -> None:
    assert parse_numeric_column(pa.array([" 1", " ", ""]), "age", "int", "src", ()).to_pylist() == [
        1,
        None,
        None,
    ]


def test_missing_tokens_of_the_spec_are_null_in_numeric_columns() -> None:
    parsed = parse_numeric_column(pa.array(["39.1", "NA", " 18 "]), "bill", "float", "src", ("NA",))
    assert parsed.type == pa.float64() and parsed.to_pylist() == [39.1, None, 18.0]
    with pytest.raises(StageError, match=r"'bill' must hold numbers but has 'n/a'"):
        parse_numeric_column(pa.array(["n/a"]), "bill", "float", "src", ("NA",))


def test_penguins_csv_reads_with_its_own_spec() -> None:
    spec = dataset_spec.load("penguins")
    table = read_all(PENGUINS_CSV, spec)
    assert table.schema == target_schema(spec)
    assert table.num_rows == 344
    assert table.column("bill_length_mm").type == pa.float64()
    assert table.column("flipper_length_mm").type == pa.int64()
    assert table.column("body_mass_g").null_count == 2  # the two birds that were not measured
    assert pc.sum(pc.equal(table.column("sex"), "NA")).as_py() == 11  # text stays raw, as BigQuery would
    with pytest.raises(StageError, match="is not the penguins table"):
        read_all(CENSUS_CSV_GZ, spec)


def test_non_integer_in_int_column_is_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path, f"{HEADER}\n{ROW}\n{ROW.replace('39,', 'forty,', 1)}\n")
    with pytest.raises(StageError, match=r"'age' must hold integers but has 'forty'"):
        read_all(path)


def test_plain_csv_and_gzip_are_detected(tmp_path: Path) -> None:
    plain = write_csv(tmp_path, f"{HEADER}\n{ROW}\n")
    gz = tmp_path / "in.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    odd_name = tmp_path / "census.data"
    odd_name.write_bytes(gz.read_bytes())
    assert detect_format(parse_location(str(plain))) == "csv"
    assert detect_format(parse_location(str(odd_name))) == "csv.gz"
    assert read_all(plain).equals(read_all(odd_name))


def test_parquet_source_is_conformed_to_bigquery_types(tmp_path: Path, census: pa.Table) -> None:
    # Narrow ints, large strings and another column order (e.g. an export) read back identically.
    fields = [
        pa.field(f.name, pa.int32() if f.type == pa.int64() else pa.large_string())
        for f in reversed(TARGET_SCHEMA)
    ]
    other = pa.table({f.name: census.column(f.name).cast(f.type) for f in fields})
    pq.write_table(other, tmp_path / "census.parquet", row_group_size=5000)
    assert read_all(tmp_path / "census.parquet").equals(census)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("\n", "no CSV header"),
        (f"{HEADER}\n{ROW}\n{ROW.rsplit(',', 1)[0]}\n", "Expected 15 columns, got 14"),
        (f"{HEADER}\n{ROW}\n39, State-gov, 77", "Expected 15 columns"),
        (f"{HEADER},extra\n{ROW}, 1\n", "outside the census spec ['extra']"),
        (
            f"{HEADER.replace(',income_bracket', '')}\n{ROW.rsplit(',', 1)[0]}\n",
            "lacks census column(s) ['income_bracket']",
        ),
        ("a,b,c\n1,2,3\n", "is not the census table"),
        (f"{HEADER},age\n{ROW}, 1\n", "duplicated column(s) ['age']"),
    ],
    ids=["empty", "blank", "short-row", "truncated-file", "extra", "missing", "not-census", "duplicated"],
)
def test_bad_csv_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(StageError) as err:
        read_all(write_csv(tmp_path, text))
    assert message in err.value.problem
    assert err.value.fix


def test_corrupt_parquet(tmp_path: Path, census: pa.Table) -> None:
    good = tmp_path / "good.parquet"
    pq.write_table(census, good)
    truncated = tmp_path / "cut.parquet"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    fake = tmp_path / "fake.parquet"
    fake.write_text(f"{HEADER}\n{ROW}\n")
    with pytest.raises(StageError, match="corrupt Parquet"):
        read_all(truncated)
    with pytest.raises(StageError, match="not a Parquet file"):
        read_all(fake)


def test_wrong_typed_parquet_column(tmp_path: Path, census: pa.Table) -> None:
    bad = census.set_column(0, "age", census.column("age").cast(pa.float64()))
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(StageError, match=r"age is float \(expected int\)"):
        read_all(tmp_path / "bad.parquet")


def test_check_schema_accepts_the_contract() -> None:
    CENSUS.check_schema(TARGET_SCHEMA, "src")
    CENSUS.check_schema(
        TARGET_SCHEMA.set(0, pa.field("age", pa.null())), "src"
    )  # an all-NULL column has no type
