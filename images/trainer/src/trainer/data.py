"""The preprocessor's split: the features.json manifest and the train/test Parquet it names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline_common.errors import StageError
from pipeline_common.storage import open_read, read_json, sha256_of
from pipeline_common.uris import parse_location

if TYPE_CHECKING:
    import pandas as pd

REQUIRED = ("target", "features", "train_uri", "test_uri", "train_sha256", "test_sha256")
FIX_MANIFEST = "pass --features-uri the features_uri the preprocessor returned (its features.json)"


@dataclass(frozen=True)
class Manifest:
    uri: str
    target: str
    features: list[str]
    train_uri: str
    test_uri: str
    train_sha256: str
    test_sha256: str
    raw: dict[str, Any]


def load_manifest(features_uri: str) -> Manifest:
    loc = parse_location(features_uri, what="--features-uri")
    data = read_json(loc)
    if not isinstance(data, dict):
        raise StageError(f"{loc.uri} is not a features manifest (not a JSON object)", FIX_MANIFEST)
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise StageError(f"{loc.uri} is not a features manifest: it lacks {missing}", FIX_MANIFEST)
    features = data["features"]
    if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
        raise StageError(f"{loc.uri}: 'features' must be a non-empty list of column names", FIX_MANIFEST)
    return Manifest(
        uri=loc.uri,
        target=str(data["target"]),
        features=features,
        train_uri=str(data["train_uri"]),
        test_uri=str(data["test_uri"]),
        train_sha256=str(data["train_sha256"]),
        test_sha256=str(data["test_sha256"]),
        raw=data,
    )


def read_split(manifest: Manifest, which: str) -> tuple[pd.DataFrame, pd.Series]:
    """Read train or test, check its sha256 against the manifest, return (X float64, y int)."""
    import pandas as pd

    uri, expected = (
        (manifest.train_uri, manifest.train_sha256)
        if which == "train"
        else (manifest.test_uri, manifest.test_sha256)
    )
    loc = parse_location(uri, what=f"{which}_uri")
    actual = sha256_of(loc)
    if actual != expected:
        raise StageError(
            f"{loc.uri} changed after {manifest.uri} was written (sha256 {actual[:12]} != {expected[:12]})",
            "re-run the preprocessor so the manifest and its data agree",
        )
    with open_read(loc) as fh:
        frame = pd.read_parquet(fh)
    missing = [c for c in [*manifest.features, manifest.target] if c not in frame.columns]
    if missing:
        raise StageError(
            f"{loc.uri} lacks column(s) {missing[:10]} named in {manifest.uri}", "re-run the preprocessor"
        )
    # One numeric dtype for every model: float64 C-order is what LightGBM and the linear solvers
    # use internally, so no fit converts again.
    X = frame[manifest.features].astype("float64")
    y = frame[manifest.target].astype("int64")
    return X, y


def require_two_classes(y: pd.Series, what: str) -> None:
    counts = y.value_counts()
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else "none"
        raise StageError(
            f"the {what} target has a single class ({only}); a classifier cannot be trained or scored on it",
            "check the preprocessor's target and split (both classes must be present)",
        )
