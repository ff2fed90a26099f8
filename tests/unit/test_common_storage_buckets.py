"""pipeline_common additions: Location.bucket, require_bucket, missing-object errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pipeline_common import storage, uris
from pipeline_common.errors import StageError


def test_location_bucket() -> None:
    assert (
        uris.parse_location("gs://census-pipeline-data/runs/a/raw.parquet").bucket == "census-pipeline-data"
    )
    assert uris.parse_location("/tmp/x.parquet").bucket == ""


def test_require_bucket_is_a_no_op_for_local_paths(tmp_path: Path) -> None:
    storage.require_bucket(uris.parse_location(str(tmp_path / "not" / "yet" / "there.parquet")))


def test_missing_local_object_names_location_and_fix(tmp_path: Path) -> None:
    loc = uris.parse_location(str(tmp_path / "nope.parquet"))
    with pytest.raises(StageError) as err:
        storage.sha256_of(loc)
    assert err.value.problem == f"cannot read {loc.uri}: it does not exist"
    assert "upstream stage" in err.value.fix


def test_bucket_check_never_claims_missing_when_it_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 403 or an unreachable endpoint must not turn into 'bucket does not exist'."""

    class Forbidden:
        def call(self, *args: object, **kwargs: object) -> None:
            raise OSError("Forbidden: b/census-pipeline-data")

    class Missing:
        def call(self, *args: object, **kwargs: object) -> None:
            raise FileNotFoundError("b/census-pipeline-data")

    loc = uris.parse_location("gs://census-pipeline-data/x.parquet")
    monkeypatch.setattr(storage, "filesystem", lambda scheme: Forbidden())
    storage.require_bucket(loc)
    monkeypatch.setattr(storage, "filesystem", lambda scheme: Missing())
    with pytest.raises(
        StageError,
        match=re.escape(
            "bucket 'census-pipeline-data' of gs://census-pipeline-data/x.parquet does not exist"
        ),
    ):
        storage.require_bucket(loc)
