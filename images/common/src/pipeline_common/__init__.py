"""Shared building blocks of the pipeline stages (see docs/contract.md)."""

from importlib import metadata

# The project version: VERSION at the repository root, which every pyproject.toml, image tag, chart
# and skaffold.yaml repeats (tests/unit/test_project_version.py holds them together).
__version__ = metadata.version("census-pipeline-common")
