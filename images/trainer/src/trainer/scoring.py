"""Load a logged or registered model the safe way and score a holdout with it."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer import holdout, models


@dataclass
class Loaded:
    uri: str
    model: Any
    features: list[str]  # its input columns, in order


def load(uri: str) -> Loaded:
    """Download `uri` (models:/m-ID or models:/NAME/VERSION) and load it with skops.

    The allow-list comes from the trainer's own model specs, never from the artifact (an artifact
    could list anything). Raises on anything that is not a skops sklearn model with known inputs.
    """
    import mlflow
    import skops.io
    import yaml

    # The download is read into memory here, so it goes as soon as it is loaded.
    with tempfile.TemporaryDirectory(prefix="promote-model-") as dst:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dst))
        mlmodel = yaml.safe_load((local / "MLmodel").read_text())
        flavor = mlmodel.get("flavors", {}).get("sklearn", {})
        if flavor.get("serialization_format") != "skops":
            raise ValueError(f"serialised as {flavor.get('serialization_format')!r}, not skops")
        model = skops.io.load(local / flavor["pickled_model"], trusted=models.ALL_TRUSTED_TYPES or None)
    features = [str(c) for c in getattr(model, "feature_names_in_", [])]
    if not features:
        # Fitted on a bare array: the signature logged with the model names its inputs.
        inputs = json.loads((mlmodel.get("signature") or {}).get("inputs") or "[]")
        features = [str(col["name"]) for col in inputs if isinstance(col, dict) and col.get("name")]
    if not features:
        raise ValueError("neither the model nor its signature names its input columns")
    return Loaded(uri, model, features)


def predict(loaded: Loaded, aligned: holdout.Alignment) -> Any:
    """P(positive) of each holdout row."""
    assert aligned.frame is not None
    return loaded.model.predict_proba(aligned.frame)[:, 1]
