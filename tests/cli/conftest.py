"""Fixtures shared by the CLI tier: stages run as processes, results read from return.json."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import servers
from tests.fixtures.servers import GcsEmulator
from tests.helpers.stages import CENSUS_CSV_GZ, StageRun, run_stage


@pytest.fixture
def xcom_dir(tmp_path: Path) -> Path:
    return tmp_path / "xcom"


@pytest.fixture(scope="session")
def raw_census(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The extractor's return.json for the shipped census CSV (one extract per session)."""
    base = tmp_path_factory.mktemp("raw")
    run: StageRun = run_stage(
        "extractor",
        ["--source", str(CENSUS_CSV_GZ), "--output", str(base / "census.parquet")],
        xcom_dir=base / "xcom",
    )
    assert run.rc == 0, run.stderr
    assert run.xcom is not None
    return run.xcom


@pytest.fixture(scope="session")
def features_census(tmp_path_factory: pytest.TempPathFactory, raw_census: dict[str, Any]) -> dict[str, Any]:
    """The preprocessor's return.json for the raw census extract (defaults: never_married, 0.2, 55)."""
    base = tmp_path_factory.mktemp("features")
    run = run_stage(
        "preprocessor",
        ["--input", raw_census["raw_uri"], "--output-prefix", str(base / "features")],
        xcom_dir=base / "xcom",
    )
    assert run.rc == 0, run.stderr
    assert run.xcom is not None
    return run.xcom


@pytest.fixture(scope="session")
def gcs(request: pytest.FixtureRequest) -> Iterator[GcsEmulator]:
    """fake-gcs-server with the data bucket: the services plugin's when registered, else our own."""
    try:
        yield request.getfixturevalue("gcs_emulator")
        return
    except pytest.FixtureLookupError:
        pass
    emulator = servers.start_gcs(servers.DEFAULT_LOG_DIR)
    try:
        emulator.create_bucket(servers.DATA_BUCKET)
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def gcs_env(gcs: GcsEmulator) -> dict[str, str]:
    """What a stage process needs to use the emulator instead of Google Cloud Storage."""
    return {"STORAGE_EMULATOR_HOST": gcs.url, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}
