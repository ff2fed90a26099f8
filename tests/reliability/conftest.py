"""Fixtures of the reliability tier."""

from __future__ import annotations

import pytest

SERVICES_PLUGIN = "tests.fixtures.services"


def pytest_configure(config: pytest.Config) -> None:
    # The real-server fixtures (gcs_emulator, mlflow_server, ...) come from the services plugin.
    # Register it unless the root conftest already did, so its fixtures and its failure-report
    # hook are loaded exactly once.
    if not config.pluginmanager.has_plugin(SERVICES_PLUGIN):
        config.pluginmanager.import_plugin(SERVICES_PLUGIN)
