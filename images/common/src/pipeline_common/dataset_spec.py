"""Dataset specs: what the extractor and the preprocessor know about a table, read from datasets/NAME.yaml.

A spec names the table's columns with their kinds, valid ranges and category vocabularies, the
binary targets it can derive, the columns dropped (each with its reason), the feature steps and
the default source. datasets/README.md documents every key; this module reads and checks them, so
a typo in a spec is one clear error before any data is read. Only the standard library and PyYAML
are imported, because the Airflow image reads the specs too (the DAGs' dataset and target params).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pipeline_common.errors import StageError

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_DATASET = "census"
KINDS = ("int", "float", "string")
MISSING_POLICIES = ("drop", "category")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
# Feature names end up as column names of Parquet, pandas and LightGBM: [A-Za-z0-9_] only.
FEATURE_NAME = re.compile(r"^[A-Za-z0-9_]+$")
FIX_SPEC = "see datasets/README.md for the keys of a dataset spec"

_TOP_KEYS = {
    "name",
    "description",
    "licence",
    "default_source",
    "local_source",
    "missing_tokens",
    "unknown_category",
    "max_invalid_rows",
    "columns",
    "drop",
    "targets",
    "default_target",
    "features",
    "slice_by",
}
_REQUIRED_TOP = ("name", "description", "columns", "targets", "default_target", "features")
_COLUMN_KEYS = {"kind", "range", "categories", "aliases", "missing"}
_TARGET_KEYS = {"column", "positive", "labels"}


@dataclass(frozen=True)
class Column:
    """One column of the source table. Values are checked after cleaning (strings stripped)."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] | None = None  # None: any value (one-hot uses the observed ones)
    aliases: dict[str, str] = field(default_factory=dict)  # other spellings -> a category
    missing: str = "drop"  # a row missing this value is dropped, or gets the unknown category


@dataclass(frozen=True)
class Target:
    """A binary target derived from one column: 1 where the value is one of `positive`."""

    name: str
    column: str
    positive: tuple[Any, ...]
    labels: tuple[str, str]  # how people call class 0 and class 1 (plots, reports)


@dataclass(frozen=True)
class FeatureStep:
    """One step of feature engineering: `step` names a function of preprocessor/feature_steps.py."""

    step: str
    columns: tuple[str, ...]
    options: dict[str, Any]


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    licence: str
    default_source: str | None
    local_source: str | None
    missing_tokens: tuple[str, ...]
    unknown_category: str
    max_invalid_rows: int
    columns: dict[str, Column]
    drop: dict[str, str]
    targets: dict[str, Target]
    default_target: str
    features: tuple[FeatureStep, ...]
    slice_by: tuple[str, ...]
    origin: str  # where the spec was read from
    fingerprint: str  # sha256 of the spec's content (cache keys)

    def target(self, name: str | None) -> Target:
        """The named target, or the default one; StageError naming the choices otherwise."""
        chosen = name or self.default_target
        if chosen not in self.targets:
            raise StageError(
                f"dataset {self.name!r} has no target {chosen!r}",
                f"use one of {sorted(self.targets)} (targets: in {self.origin})",
            )
        return self.targets[chosen]

    def kind_columns(self, kind: str) -> list[str]:
        return [c.name for c in self.columns.values() if c.kind == kind]

    @property
    def kept_columns(self) -> list[str]:
        """The columns left after `drop`, in the table's order."""
        return [c for c in self.columns if c not in self.drop]

    def feature_steps(self, target: Target) -> list[FeatureStep]:
        """The steps with the target's own column taken out (it must never be a feature)."""
        steps = []
        for step in self.features:
            columns = tuple(c for c in step.columns if c != target.column)
            if columns:
                steps.append(FeatureStep(step.step, columns, step.options))
        return steps

    def check_schema(self, schema: pa.Schema, source: str) -> None:
        """Raise a StageError unless `schema` has exactly this table's columns with their kinds."""
        names = list(schema.names)
        duplicated = sorted({n for n in names if names.count(n) > 1})
        fix = f"read the {self.name} table (or a copy with its {len(self.columns)} columns and kinds)"
        if duplicated:
            raise StageError(f"{source} has duplicated column(s) {duplicated}", fix)
        missing = [c for c in self.columns if c not in names]
        extra = [c for c in names if c not in self.columns]
        if missing and len(missing) > len(self.columns) // 2:
            raise StageError(
                f"{source} is not the {self.name} table: it lacks {len(missing)} of "
                f"{len(self.columns)} columns {missing}",
                f"{fix}, or pass the --dataset whose spec describes it",
            )
        if missing:
            raise StageError(f"{source} lacks {self.name} column(s) {missing}", fix)
        if extra:
            raise StageError(
                f"{source} has column(s) outside the {self.name} spec {extra}",
                f"select only the columns {self.origin} lists (a --query naming them, for BigQuery)",
            )
        wrong = {}
        for name, column in self.columns.items():
            found = arrow_kind(schema.field(name).type)
            # An all-NULL column has no type of its own; a whole number fits a float column.
            if found == "null" or found == column.kind or (column.kind == "float" and found == "int"):
                continue
            wrong[name] = found
        if wrong:
            detail = ", ".join(f"{c} is {k} (expected {self.columns[c].kind})" for c, k in wrong.items())
            raise StageError(
                f"{source} has columns of the wrong type: {detail}",
                "cast them to INT64/FLOAT64/STRING as the spec says",
            )


def arrow_kind(dtype: pa.DataType) -> str:
    """'int', 'float', 'string' or 'null' for an Arrow type; its own name otherwise."""
    import pyarrow.types as t

    if t.is_integer(dtype):
        return "int"
    if t.is_floating(dtype) or t.is_decimal(dtype):
        return "float"
    if t.is_string(dtype) or t.is_large_string(dtype) or t.is_string_view(dtype):
        return "string"
    if t.is_null(dtype):
        return "null"
    return str(dtype)


# --------------------------------------------------------------------------- loading


def datasets_dir() -> Path:
    from pipeline_common.config import folder

    return folder("datasets")


def available() -> list[str]:
    """Names of the specs in datasets/."""
    return sorted(p.stem for p in datasets_dir().glob("*.yaml"))


def load(ref: str | None = None) -> DatasetSpec:
    """A spec by name (datasets/NAME.yaml), or from a YAML file at a path or gs:// URI."""
    ref = (ref or DEFAULT_DATASET).strip()
    if NAME.match(ref):
        path = datasets_dir() / f"{ref}.yaml"
        if not path.is_file():
            raise StageError(
                f"unknown dataset {ref!r}",
                f"use one of {available()}, a spec file path, or add datasets/{ref}.yaml (docs/extending.md)",
            )
        return parse(path.read_text(encoding="utf-8"), str(path), expect_name=ref)
    from pipeline_common.storage import read_bytes
    from pipeline_common.uris import parse_location

    loc = parse_location(ref, what="--dataset")
    return parse(read_bytes(loc).decode("utf-8"), loc.uri)


def parse(text: str, origin: str, expect_name: str | None = None) -> DatasetSpec:
    import yaml

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise StageError(f"dataset spec {origin} is not valid YAML ({first})", FIX_SPEC) from exc
    return _build(raw, origin, expect_name)


class _Checker:
    """Collects nothing: the first problem raises, naming the spec and the key."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, problem: str, fix: str = FIX_SPEC) -> NoReturn:
        raise StageError(f"dataset spec {self.origin}: {where} {problem}", fix)

    def mapping(self, value: Any, where: str, allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping, got {type(value).__name__}")
        if allowed is not None:
            unknown = sorted(str(k) for k in value if k not in allowed)
            if unknown:
                self.fail(where, f"has unknown key(s) {unknown}", f"use only {sorted(allowed)} ({FIX_SPEC})")
        return value

    def strings(self, value: Any, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
        if not isinstance(value, list) or (not value and not allow_empty):
            self.fail(where, "must be a non-empty list" if not allow_empty else "must be a list")
        if not all(isinstance(v, str) and v for v in value):
            self.fail(where, f"must hold non-empty strings, got {value!r}")
        if len(set(value)) != len(value):
            self.fail(where, f"lists a value twice: {value!r}")
        return tuple(value)

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"must be a non-empty string, got {value!r}")
        return value.strip()


def _column(name: str, raw: Any, check: _Checker) -> Column:
    where = f"columns.{name}"
    spec = check.mapping(raw, where, _COLUMN_KEYS)
    kind = spec.get("kind")
    if kind not in KINDS:
        check.fail(where, f"has kind {kind!r}", f"use one of {list(KINDS)}")
    low = high = None
    if "range" in spec:
        bounds = spec["range"]
        if kind == "string":
            check.fail(where, "is a string column and cannot have a range", "use categories instead")
        ok = isinstance(bounds, list) and len(bounds) == 2
        ok = ok and all(b is None or (isinstance(b, int | float) and not isinstance(b, bool)) for b in bounds)
        if not ok:
            check.fail(f"{where}.range", f"must be [min, max] (null for open), got {bounds!r}")
        low, high = bounds
        if low is not None and high is not None and low > high:
            check.fail(f"{where}.range", f"has min {low} above max {high}")
    categories = None
    if "categories" in spec:
        if kind != "string":
            check.fail(where, f"is a {kind} column and cannot have categories", "give it a range instead")
        categories = check.strings(spec["categories"], f"{where}.categories")
    aliases = check.mapping(spec.get("aliases", {}), f"{where}.aliases")
    for alias, canonical in aliases.items():
        if not isinstance(alias, str) or not isinstance(canonical, str):
            check.fail(f"{where}.aliases", f"must map strings to strings, got {alias!r}: {canonical!r}")
        if categories is not None and canonical not in categories:
            check.fail(f"{where}.aliases", f"maps {alias!r} to {canonical!r}, which is not a category")
    missing = spec.get("missing", "drop")
    if missing not in MISSING_POLICIES:
        check.fail(f"{where}.missing", f"is {missing!r}", f"use one of {list(MISSING_POLICIES)}")
    if missing == "category" and kind != "string":
        check.fail(f"{where}.missing", "is 'category' on a numeric column", "use drop")
    return Column(name, kind, low, high, categories, dict(aliases), missing)


def _target(name: str, raw: Any, columns: dict[str, Column], dropped: set[str], check: _Checker) -> Target:
    where = f"targets.{name}"
    if not NAME.match(name):
        check.fail(where, "is not a valid target name", "use lower-case letters, digits and '_'")
    spec = check.mapping(raw, where, _TARGET_KEYS)
    column = spec.get("column")
    if column not in columns:
        check.fail(f"{where}.column", f"names {column!r}, which is not a column")
    if column in dropped:
        check.fail(f"{where}.column", f"names {column!r}, which is in drop", "keep the target's column")
    kind = columns[column].kind
    positive = spec.get("positive")
    if not isinstance(positive, list) or not positive:
        check.fail(f"{where}.positive", "must be a non-empty list of the values that mean 1")
    if kind == "string":
        positive = list(check.strings(positive, f"{where}.positive"))
        known = columns[column].categories
        if known is not None and not set(positive) <= set(known):
            check.fail(
                f"{where}.positive",
                f"has value(s) {sorted(set(positive) - set(known))} not in the categories",
            )
    elif not all(isinstance(v, int | float) and not isinstance(v, bool) for v in positive):
        check.fail(f"{where}.positive", f"must hold numbers for the {kind} column {column}")
    labels = check.strings(spec.get("labels", [f"not {name}", name]), f"{where}.labels")
    if len(labels) != 2:
        check.fail(f"{where}.labels", "must name class 0 and class 1, in that order")
    return Target(name, column, tuple(positive), (labels[0], labels[1]))


def _feature(i: int, raw: Any, columns: dict[str, Column], dropped: set[str], check: _Checker) -> FeatureStep:
    where = f"features[{i}]"
    spec = dict(check.mapping(raw, where))
    step = spec.pop("step", None)
    if not isinstance(step, str) or not NAME.match(step):
        check.fail(where, f"needs a step name, got {step!r}", "e.g. step: one_hot")
    if "columns" in spec:
        inputs = check.strings(spec.pop("columns"), f"{where}.columns")
    elif "column" in spec:
        inputs = (check.text(spec.pop("column"), f"{where}.column"),)
    else:
        check.fail(where, "names no input column", "give `column: NAME` or `columns: [A, B]`")
    for name in inputs:
        if name not in columns:
            check.fail(where, f"reads {name!r}, which is not a column")
        if name in dropped:
            check.fail(where, f"reads {name!r}, which is in drop", "remove it from drop or from the step")
    if "name" in spec and not FEATURE_NAME.match(str(spec["name"])):
        check.fail(f"{where}.name", f"{spec['name']!r} may hold only letters, digits and '_'")
    return FeatureStep(step, inputs, spec)


def _build(raw: Any, origin: str, expect_name: str | None) -> DatasetSpec:
    check = _Checker(origin)
    top = check.mapping(raw, "the file", _TOP_KEYS)
    absent = [k for k in _REQUIRED_TOP if k not in top]
    if absent:
        check.fail("the file", f"lacks {absent}")
    name = check.text(top["name"], "name")
    if not NAME.match(name):
        check.fail("name", f"{name!r} is not a valid dataset name", "use lower-case letters, digits and '_'")
    if expect_name is not None and name != expect_name:
        check.fail("name", f"is {name!r} but the file is {expect_name}.yaml", "make them equal")
    raw_columns = check.mapping(top["columns"], "columns")
    if not raw_columns:
        check.fail("columns", "is empty")
    columns = {str(n): _column(str(n), spec, check) for n, spec in raw_columns.items()}
    drop = check.mapping(top.get("drop", {}), "drop")
    for column, reason in drop.items():
        if column not in columns:
            check.fail("drop", f"names {column!r}, which is not a column")
        check.text(reason, f"drop.{column} (the reason)")
    dropped = set(drop)
    targets_raw = check.mapping(top["targets"], "targets")
    if not targets_raw:
        check.fail("targets", "is empty")
    targets = {str(n): _target(str(n), spec, columns, dropped, check) for n, spec in targets_raw.items()}
    default_target = top["default_target"]
    if default_target not in targets:
        check.fail("default_target", f"is {default_target!r}", f"use one of {sorted(targets)}")
    if not isinstance(top["features"], list) or not top["features"]:
        check.fail("features", "must be a non-empty list of steps")
    features = tuple(_feature(i, s, columns, dropped, check) for i, s in enumerate(top["features"]))
    one_hot_inputs = {c for f in features if f.step == "one_hot" for c in f.columns}
    slice_by = check.strings(top.get("slice_by", []), "slice_by", allow_empty=True)
    for attribute in slice_by:
        if attribute not in one_hot_inputs:
            check.fail("slice_by", f"names {attribute!r}, which no one_hot step encodes")
    tokens = check.strings(top.get("missing_tokens", []), "missing_tokens", allow_empty=True)
    max_invalid = top.get("max_invalid_rows", 0)
    if not isinstance(max_invalid, int) or isinstance(max_invalid, bool) or max_invalid < 0:
        check.fail("max_invalid_rows", f"must be a whole number >= 0, got {max_invalid!r}")
    default_source = top.get("default_source")
    local_source = top.get("local_source")
    for key, value in (("default_source", default_source), ("local_source", local_source)):
        if value is not None:
            check.text(value, key)
    return DatasetSpec(
        name=name,
        description=check.text(top["description"], "description"),
        licence=str(top.get("licence", "")).strip(),
        default_source=default_source,
        local_source=local_source,
        missing_tokens=tokens,
        unknown_category=check.text(top.get("unknown_category", "Unknown"), "unknown_category"),
        max_invalid_rows=max_invalid,
        columns=columns,
        drop={str(k): str(v).strip() for k, v in drop.items()},
        targets=targets,
        default_target=default_target,
        features=features,
        slice_by=slice_by,
        origin=origin,
        fingerprint=hashlib.sha256(json.dumps(top, sort_keys=True, default=str).encode()).hexdigest(),
    )
