"""extractor.bigquery_source against the BigQuery emulator: Storage Read API, REST fallback, errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from extractor.bigquery_source import REST_API, STORAGE_API, read_bigquery
from pipeline_common.errors import StageError

from tests.fixtures import servers
from tests.fixtures.servers import BigQueryEmulator

NAMES = [name for name, _ in servers.CENSUS_SCHEMA]


@pytest.fixture(scope="module")
def census_csv() -> pa.Table:
    return servers.read_census_csv(servers.census_csv_path())


@pytest.fixture
def bq_env(bigquery_emulator: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch) -> BigQueryEmulator:
    """The emulator's endpoints in the environment, as a stage pod would have them."""
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bigquery_emulator.rest_url)
    monkeypatch.setenv("BIGQUERY_STORAGE_EMULATOR_HOST", bigquery_emulator.grpc_host)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    return bigquery_emulator


def canonical(table: pa.Table) -> pa.Table:
    """Rows sorted (BigQuery guarantees no order), schema without the server's field metadata."""
    plain = pa.schema([pa.field(f.name, f.type) for f in table.schema])
    return table.select(NAMES).cast(plain).sort_by([(name, "ascending") for name in NAMES])


def test_table_is_read_through_the_storage_api_unchanged(
    bq_env: BigQueryEmulator, census_csv: pa.Table, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="extractor.bigquery_source")
    table, api = read_bigquery(bq_env.census_table, None, None)

    assert api == STORAGE_API
    assert table.column_names == NAMES
    assert [str(t) for t in table.schema.types] == [
        "int64" if kind == "INT64" else "string" for _, kind in servers.CENSUS_SCHEMA
    ]
    # Raw values, as BigQuery holds them: the UCI leading space stays on every string.
    assert table.num_rows == 32_561
    assert pc.all(pc.starts_with(table["workclass"], " ")).as_py()
    assert pc.sum(pc.equal(table["workclass"], " ?")).as_py() == 1_836
    assert canonical(table).equals(canonical(census_csv))
    assert "32561/32561 (100%)" in caplog.text
    assert "REST" not in caplog.text


def test_unreachable_storage_api_falls_back_to_rest_with_the_same_rows(
    bq_env: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    via_storage, _ = read_bigquery(bq_env.census_table, None, None)
    closed = f"127.0.0.1:{servers.free_port()}"
    monkeypatch.setenv("BIGQUERY_STORAGE_EMULATOR_HOST", closed)
    caplog.set_level(logging.INFO, logger="extractor.bigquery_source")

    via_rest, api = read_bigquery(bq_env.census_table, None, None)

    assert api == REST_API
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("REST" in w and closed in w and "did not connect" in w for w in warnings), warnings
    assert canonical(via_rest).equals(canonical(via_storage))
    assert "32561/32561 (100%)" in caplog.text


def test_emulator_without_storage_endpoint_reads_over_rest(
    bq_env: BigQueryEmulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("BIGQUERY_STORAGE_EMULATOR_HOST")
    table, api = read_bigquery(bq_env.census_table, None, None)
    assert api == REST_API
    assert table.num_rows == 32_561
    assert "BIGQUERY_STORAGE_EMULATOR_HOST" in caplog.text


def test_query_result_is_read(
    bq_env: BigQueryEmulator, census_csv: pa.Table, caplog: pytest.LogCaptureFixture
) -> None:
    query = f"SELECT * FROM `{bq_env.census_table}` WHERE age >= 50 AND sex = ' Female'"
    table, api = read_bigquery(None, query, bq_env.project)

    expected = census_csv.filter(
        pc.and_(pc.greater_equal(census_csv["age"], 50), pc.equal(census_csv["sex"], " Female"))
    )
    assert canonical(table).equals(canonical(expected))
    # bqemulator keeps query results where its Storage Read API cannot find them, so the reader
    # falls back to jobs.getQueryResults there; real BigQuery streams them. Either way it says so.
    assert api in (STORAGE_API, REST_API)
    if api == REST_API:
        assert "Storage Read API failed" in caplog.text


def test_query_needs_a_billing_project(bq_env: BigQueryEmulator) -> None:
    with pytest.raises(StageError, match="no BigQuery project") as err:
        read_bigquery(None, "SELECT 1 AS x", None)
    assert "GOOGLE_CLOUD_PROJECT" in err.value.fix


@pytest.mark.parametrize(
    ("table", "query", "words"),
    [
        ("{project}.ml_datasets.no_such_table", None, ["not found", "no_such_table"]),
        ("{project}.no_such_dataset.census_adult_income", None, ["not found"]),
        (None, "SELEC age FROM `{table}`", ["rejected the query", "SELEC"]),
        (None, "SELECT no_such_column FROM `{table}`", ["rejected the query", "no_such_column"]),
        (None, "SELECT * FROM `{table}` WHERE age > 200", ["empty"]),
    ],
)
def test_bad_source_is_one_clear_error(
    bq_env: BigQueryEmulator, table: str | None, query: str | None, words: list[str]
) -> None:
    fill = {"project": bq_env.project, "table": bq_env.census_table}
    with pytest.raises(StageError) as err:
        read_bigquery(table and table.format(**fill), query and query.format(**fill), bq_env.project)
    line = err.value.one_line("extract")
    for word in words:
        assert word.lower() in line.lower(), line
    assert err.value.fix


def test_real_bigquery_without_credentials_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No emulator configured: the normal ADC path, which must explain how to authenticate."""
    for name in ("BIGQUERY_EMULATOR_HOST", "BIGQUERY_STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(StageError, match="credentials") as err:
        read_bigquery("bigquery-public-data.ml_datasets.census_adult_income", None, None)
    assert "gcloud auth application-default login" in err.value.fix
