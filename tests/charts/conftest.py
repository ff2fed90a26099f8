"""Fixtures of the charts tier: the MLflow chart's value scenarios."""

from __future__ import annotations

from typing import Any

import pytest

from tests.charts.render import MLFLOW_CHART, load_values

# Production-like: PostgreSQL StatefulSet, basic auth, NetworkPolicy, PDB, GCS key from a Secret.
PRODUCTION_VALUES: dict[str, Any] = {
    "replicaCount": 2,
    "backendStore": {"type": "postgresql", "postgresql": {"existingSecret": "mlflow-postgresql"}},
    "artifacts": {"gcs": {"existingSecret": "mlflow-gcs-key", "prefix": "prod"}},
    "auth": {"enabled": True, "existingSecret": "mlflow-auth"},
    "networkPolicy": {"enabled": True},
    "podDisruptionBudget": {"enabled": True},
    "server": {"allowedHosts": ["mlflow.example.com"], "workers": 2},
}

SCENARIOS: dict[str, Any] = {
    "default": lambda: {},
    "kind": lambda: load_values(MLFLOW_CHART / "values-kind.yaml"),
    "production": lambda: PRODUCTION_VALUES,
}


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    """(name, values) for each MLflow chart scenario."""
    return request.param, SCENARIOS[request.param]()
