"""`bigquery://PROJECT.DATASET.TABLE` -> 'PROJECT.DATASET.TABLE', checked."""

from __future__ import annotations

import re

from pipeline_common.errors import StageError

SCHEME = "bigquery://"
# Project ids may be domain-scoped ('example.com:proj'); datasets and tables are word characters
# (tables may also hold '-' and '$' for partitions).
_TABLE = re.compile(
    r"^(?P<project>[a-z0-9.:-]{1,100})\.(?P<dataset>\w{1,1024})\.(?P<table>[\w$-]{1,1024})$", re.ASCII
)
FIX = "use bigquery://PROJECT.DATASET.TABLE, e.g. bigquery://bigquery-public-data.ml_datasets.census_adult_income"


def is_bigquery(source: str) -> bool:
    return source.strip().lower().startswith(SCHEME)


def parse_table(source: str) -> str:
    rest = source.strip()[len(SCHEME) :]
    if not _TABLE.match(rest):
        raise StageError(f"--source {source!r} is not a BigQuery table reference", FIX)
    return rest
