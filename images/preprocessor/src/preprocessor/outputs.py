"""The preprocessor's output set: train-, test- and row_ids-<sha12>.parquet, then features.json.

Replacing an earlier output never destroys it before the new one is complete:

1. The splits and their row ids are written under content-addressed names (the first 12 hex digits of their
   sha256), beside whatever an earlier manifest names, which they therefore never overwrite with
   other bytes. A retry of the same work writes the same names.
2. features.json is replaced last, in one atomic step (a rename locally, one object upload on
   gs://), and only if it is still the version this run saw when it started (versions.py): two
   runs writing one prefix cannot both commit. This swap is the only commit.
3. Only then are the objects no manifest names any more removed: the splits the replaced manifest
   named, and leftovers of attempts that died before their commit. Anything still holding the
   old features_uri reads the old splits until this step.

A failure before the commit (SIGTERM, a full disk, a storage error) removes what the attempt wrote
and leaves the earlier output exactly as it was. The manifest also holds the cache key (a hash of
the input, the parameters, the dataset spec and the preprocessor's code) and both splits' sha256.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline_common.errors import StageError
from pipeline_common.storage import (
    OutputSet,
    exists,
    listing,
    read_json,
    remove_if_unchanged,
    sha256_of,
    version_of,
)
from pipeline_common.uris import Location, parse_location
from pipeline_common.versions import Version

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)
MANIFEST = "features.json"
SPLITS = ("train", "test")
# The data objects a manifest names (`<part>_uri`, `<part>_sha256`): the splits, then each split
# row's identity (row_id, split: 0 train / 1 test), kept apart so the splits hold only the data.
PARTS = (*SPLITS, "row_ids")
# Data objects of this stage under a prefix: content-addressed, or the names before them.
SPLIT_NAME = re.compile(r"^(train|test|row_ids)(-[0-9a-f]{12})?\.parquet$")


@dataclass(frozen=True)
class Layout:
    prefix: Location

    @property
    def manifest(self) -> Location:
        return self.prefix.join(MANIFEST)

    def owns(self, loc: Location) -> bool:
        """True for the manifest and the split objects this stage writes under the prefix."""
        return loc.parent == self.prefix and (loc.name == MANIFEST or bool(SPLIT_NAME.match(loc.name)))


@dataclass(frozen=True)
class Earlier:
    """The prefix as this run found it: the manifest's version (the commit's precondition) and
    content (None when absent or unreadable)."""

    version: Version | None
    manifest: dict[str, Any] | None


def earlier(layout: Layout) -> Earlier:
    """Read before any work: if the manifest changes after this, the commit is refused."""
    version = version_of(layout.manifest)
    if version is None:
        return Earlier(None, None)
    try:
        manifest = read_json(layout.manifest)
    except StageError as exc:
        log.warning("earlier %s is unreadable (%s); it will be replaced", layout.manifest.uri, exc.problem)
        return Earlier(version, None)
    return Earlier(version, manifest if isinstance(manifest, dict) else None)


def _named(layout: Layout, manifest: dict[str, Any] | None) -> dict[str, Location]:
    """The data objects a manifest names under this prefix, by part (train/test/row_ids)."""
    named = {}
    for which in PARTS:
        uri = (manifest or {}).get(f"{which}_uri")
        if not isinstance(uri, str):
            continue
        try:
            loc = parse_location(uri)
        except StageError:
            continue
        if layout.owns(loc):
            named[which] = loc
    return named


def cached_manifest(layout: Layout, found: Earlier, key: str) -> dict[str, Any] | None:
    """An earlier complete output for the same cache key, verified by its sha256s, else None."""
    manifest = found.manifest
    if manifest is None:
        return None
    if manifest.get("cache_key") != key:
        log.info("%s exists for another input, parameters, spec or code; rebuilding", layout.manifest.uri)
        return None
    named = _named(layout, manifest)
    for which in PARTS:
        loc = named.get(which)
        if loc is None or not exists(loc) or sha256_of(loc) != manifest.get(f"{which}_sha256"):
            log.warning("the %s split of %s is missing or changed; rebuilding", which, layout.manifest.uri)
            return None
    return manifest


def _committed_names(layout: Layout) -> set[Location]:
    """What the manifest stored now names: a failed attempt must not remove those objects."""
    if version_of(layout.manifest) is None:
        return set()
    try:
        return set(_named(layout, read_json(layout.manifest)).values())
    except StageError:
        return set()


def write(
    layout: Layout,
    found: Earlier,
    train: pa.Table,
    test: pa.Table,
    row_ids: pa.Table,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Write both splits and their row ids, then swap the manifest; remove superseded objects
    after the commit."""
    import pyarrow.parquet as pq

    with OutputSet(keep=lambda: _committed_names(layout)) as outputs:
        split = {}
        for which, table in zip(PARTS, (train, test, row_ids), strict=True):
            with outputs.content_addressed(layout.prefix, which, ".parquet") as tmp:
                pq.write_table(table, tmp, compression="zstd")
            split[which] = outputs.written[-1]
        manifest = {
            **manifest,
            **{f"{which}_uri": split[which].loc.uri for which in PARTS},
            **{f"{which}_sha256": split[which].sha256 for which in PARTS},
        }
        with outputs.output(layout.manifest, expect=found.version) as tmp:
            tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n")
        outputs.commit()
    committed = outputs.written[-1]
    remove_superseded(layout, keep={w.loc for w in split.values()}, before=committed.created)
    return manifest


def remove_superseded(layout: Layout, keep: set[Location], before: float) -> None:
    """After the commit: remove this stage's split objects the new manifest does not name.

    Only objects created before the commit go (a run that started after it may be writing its
    own), each only at the version listed (one rewritten since stays). The output is committed
    whatever happens here, so a failure is a warning: the next commit removes what is left.
    """
    try:
        for stored in listing(layout.prefix):
            if stored.loc in keep or not SPLIT_NAME.match(stored.loc.name) or stored.created > before:
                continue
            if remove_if_unchanged(stored.loc, stored.version):
                log.info("removed superseded %s", stored.loc.uri)
    except StageError as exc:
        log.warning("superseded splits under %s not all removed (%s)", layout.prefix.uri, exc.problem)
