"""The preprocessor's output set: train.parquet, test.parquet, then features.json (the commit).

features.json is written last, so its presence means the whole set is complete; it also holds the
cache key (a hash of the input, the parameters, the dataset spec and the preprocessor's code) and
the sha256 of both splits.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline_common.errors import StageError
from pipeline_common.storage import OutputSet, exists, read_json, remove, sha256_of
from pipeline_common.uris import Location

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)
TRAIN, TEST, MANIFEST = "train.parquet", "test.parquet", "features.json"


@dataclass(frozen=True)
class Layout:
    prefix: Location

    @property
    def train(self) -> Location:
        return self.prefix.join(TRAIN)

    @property
    def test(self) -> Location:
        return self.prefix.join(TEST)

    @property
    def manifest(self) -> Location:
        return self.prefix.join(MANIFEST)


def cached_manifest(layout: Layout, key: str) -> dict[str, Any] | None:
    """An earlier complete output for the same cache key, verified by its sha256s, else None."""
    if not exists(layout.manifest):
        return None
    try:
        manifest = read_json(layout.manifest)
    except StageError as exc:
        log.warning("earlier %s is unreadable (%s); rebuilding", layout.manifest.uri, exc.problem)
        return None
    if not isinstance(manifest, dict) or manifest.get("cache_key") != key:
        log.info("%s exists for another input, parameters, spec or code; rebuilding", layout.manifest.uri)
        return None
    for loc, field in ((layout.train, "train_sha256"), (layout.test, "test_sha256")):
        if not exists(loc) or sha256_of(loc) != manifest.get(field):
            log.warning("%s is missing or changed since %s was written; rebuilding", loc.uri, MANIFEST)
            return None
    return manifest


def write(layout: Layout, train: pa.Table, test: pa.Table, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write both splits, then the manifest; on any failure remove what this attempt wrote."""
    import pyarrow.parquet as pq

    # A stale manifest must not describe the new splits while they are being replaced.
    remove(layout.manifest)
    with OutputSet() as outputs:
        shas = {}
        for loc, table in ((layout.train, train), (layout.test, test)):
            with outputs.output(loc) as tmp:
                pq.write_table(table, tmp, compression="zstd")
            shas[loc] = outputs.written[-1].sha256
        manifest = {
            **manifest,
            "train_uri": layout.train.uri,
            "test_uri": layout.test.uri,
            "train_sha256": shas[layout.train],
            "test_sha256": shas[layout.test],
        }
        with outputs.output(layout.manifest) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n")
        outputs.commit()
    return manifest
