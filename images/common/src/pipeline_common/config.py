"""Where the pipeline's configuration lives: the dataset specs (datasets/) and the model catalogue
(models/), one folder each at the top of the repository.

Every image copies both folders to /opt/pipeline and sets PIPELINE_CONFIG_DIR to it; in a source
checkout (the editable install of `make venv`) they are found beside images/. Nothing else knows
the path, so the stages, the DAGs, `make demo`, the tests and the benchmark all read the same files.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline_common.errors import StageError

ENV = "PIPELINE_CONFIG_DIR"
FOLDERS = ("datasets", "models")


def _checkout_root() -> Path | None:
    """The repository root when this package runs from a source checkout (editable install)."""
    # images/common/src/pipeline_common/config.py -> the repository is four levels up.
    here = Path(__file__).resolve()
    for parent in here.parents[3:5]:
        if all((parent / folder).is_dir() for folder in FOLDERS):
            return parent
    return None


def config_dir() -> Path:
    """The folder that holds datasets/ and models/."""
    configured = os.environ.get(ENV, "").strip()
    if configured:
        root = Path(configured)
        missing = [f for f in FOLDERS if not (root / f).is_dir()]
        if missing:
            raise StageError(
                f"{ENV}={configured} has no {' or '.join(f'{m}/' for m in missing)} folder",
                f"point {ENV} at the folder holding datasets/ and models/ (the images use /opt/pipeline)",
            )
        return root
    root = _checkout_root()
    if root is None:
        raise StageError(
            f"{ENV} is not set and this package does not run from a source checkout",
            f"set {ENV} to the folder holding datasets/ and models/ (the images set /opt/pipeline)",
        )
    return root


def folder(name: str) -> Path:
    """datasets/ or models/ of the configuration folder."""
    if name not in FOLDERS:
        raise ValueError(f"unknown configuration folder {name!r}")
    return config_dir() / name
