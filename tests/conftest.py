"""Shared pytest setup: tier markers by directory, service fixtures as a plugin."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# gcsfs probes a gRPC endpoint on import unless this is set (60 s per call against the emulator).
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

# Session fixtures for fake-gcs-server, the BigQuery emulator and a real MLflow server.
pytest_plugins = ["tests.fixtures.services"]

ROOT = Path(__file__).resolve().parent.parent
# The DAG tier runs in .venv-airflow (`make test-dags`); elsewhere Airflow is not importable.
collect_ignore = [] if importlib.util.find_spec("airflow") else ["dags"]

TIERS = ("unit", "cli", "integration", "containers", "dags", "charts", "reliability", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(ROOT / "tests")
        tier = rel.parts[0]
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
