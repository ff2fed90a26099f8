"""The preprocessor's split: the features.json manifest and the train/test Parquet it names.

A manifest is only trusted after checks that cost milliseconds and run before any MLflow run or
experiment exists: the target is no feature (by name, nor a feature equal to it on every train
row), the test split is not the train split (same object, same bytes), and no row (features and
target) is in both splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline_common.errors import StageError
from pipeline_common.storage import open_read, read_json, sha256_of
from pipeline_common.uris import parse_location

if TYPE_CHECKING:
    import numpy as np
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
    _check_trustworthy(loc.uri, data)
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


def _check_trustworthy(uri: str, data: dict[str, Any]) -> None:
    """What a manifest says that would make every score a lie (a leak or no holdout at all)."""
    features, target = data["features"], str(data["target"])
    if target in features:
        raise StageError(
            f"{uri} lists the target {target!r} among its features: every score would be a leak",
            "re-run the preprocessor (it never makes the target a feature), or remove it from 'features'",
        )
    twice = sorted({f for f in features if features.count(f) > 1})
    if twice:
        raise StageError(f"{uri} lists feature(s) {twice} more than once", FIX_MANIFEST)
    same_uri = parse_location(str(data["train_uri"]), what="train_uri") == parse_location(
        str(data["test_uri"]), what="test_uri"
    )
    if same_uri or data["train_sha256"] == data["test_sha256"]:
        how = "the same object" if same_uri else "the same sha256"
        raise StageError(
            f"{uri} names {how} as train and test split: the holdout scores would be training scores",
            "re-run the preprocessor, which writes two disjoint splits",
        )


def require_trustworthy_splits(manifest: Manifest, train: tuple[Any, Any], test: tuple[Any, Any]) -> None:
    """Refuse splits that share rows, or a feature that is the target under another name."""
    import numpy as np
    import pandas as pd

    (X_train, y_train), (X_test, y_test) = train, test
    y = y_train.to_numpy()
    values = X_train.to_numpy()
    leaks = [
        name
        for i, name in enumerate(X_train.columns)
        if (values[:, i] == y).all() or (values[:, i] == 1 - y).all()
    ]
    if leaks:
        raise StageError(
            f"feature(s) {leaks[:5]} of {manifest.uri} equal the target {manifest.target!r} "
            "(or its complement) on every train row: a leak, not a feature",
            "remove them from the features (the preprocessor drops the target's own column)",
        )

    ids = _row_ids(manifest)
    if ids is not None:
        in_test = int(np.isin(ids["test"], ids["train"]).sum())
        if in_test:
            raise StageError(
                f"{in_test} of the {len(X_test)} test rows of {manifest.uri} are also train rows "
                "(same row_id in the manifest's row_ids): the holdout would score memorised rows",
                "re-run the preprocessor, which splits distinct rows",
            )
        return

    # A manifest without row ids (not the preprocessor's): rows are told apart by their values
    # only, and distinct people may share every feature (22% of the census test rows do once
    # the sampling weight is dropped), so only a test split made entirely of train rows is refused.
    def row_hashes(X: pd.DataFrame, y: pd.Series) -> np.ndarray:
        return pd.util.hash_pandas_object(X.assign(**{manifest.target: y}), index=False).to_numpy()

    in_test = int(np.isin(row_hashes(X_test, y_test), row_hashes(X_train, y_train)).sum())
    if in_test == len(X_test):
        raise StageError(
            f"every one of the {len(X_test)} test rows of {manifest.uri} is also a train row "
            "(same features and target): the holdout would score memorised rows",
            "re-run the preprocessor, which writes two disjoint splits",
        )


def _row_ids(manifest: Manifest) -> dict[str, np.ndarray] | None:
    """Each split's row ids (the preprocessor's row_ids object), None if the manifest names none."""
    import pyarrow.parquet as pq

    uri, expected = manifest.raw.get("row_ids_uri"), manifest.raw.get("row_ids_sha256")
    if not isinstance(uri, str):
        return None
    loc = parse_location(uri, what="row_ids_uri")
    if sha256_of(loc) != expected:
        raise StageError(
            f"{loc.uri} changed after {manifest.uri} was written (its sha256 is not the manifest's)",
            "re-run the preprocessor so the manifest and its data agree",
        )
    with open_read(loc) as fh:
        table = pq.read_table(fh)
    if table.column_names != ["row_id", "split"]:
        raise StageError(f"{loc.uri} has columns {table.column_names}, not ['row_id', 'split']",
                         "re-run the preprocessor")  # fmt: skip
    ids, split = table.column("row_id").to_numpy(), table.column("split").to_numpy()
    found = {"train": ids[split == 0], "test": ids[split == 1]}
    rows = manifest.raw.get("rows") or {}
    if any(len(found[which]) != rows.get(which) for which in found):
        raise StageError(
            f"{loc.uri} holds {len(found['train'])} train and {len(found['test'])} test row ids, "
            f"but {manifest.uri} counts {rows.get('train')} and {rows.get('test')} rows",
            "re-run the preprocessor so the manifest and its data agree",
        )
    return found


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
