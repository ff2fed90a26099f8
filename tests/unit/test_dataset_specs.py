"""datasets/*.yaml: every shipped spec loads and describes its shipped data; a wrong spec is one
clear error naming the key; the fingerprint follows content, not formatting."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from pipeline_common import dataset_spec
from pipeline_common.errors import StageError

from tests.helpers.stages import CENSUS_CSV_GZ, CENSUS_TEST_CSV_GZ, PENGUINS_CSV, ROOT

SPECS = dataset_spec.available()
CENSUS_TEXT = (ROOT / "datasets" / "census.yaml").read_text()


def test_the_shipped_specs() -> None:
    assert SPECS == ["census", "penguins"]
    for name in SPECS:
        spec = dataset_spec.load(name)
        assert spec.name == name and spec.description and spec.licence
        assert (ROOT / spec.local_source).is_file(), spec.local_source
        assert all(reason for reason in spec.drop.values())
        assert spec.default_target in spec.targets
    assert dataset_spec.load().name == dataset_spec.DEFAULT_DATASET == "census"


def _values(path, missing: str) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    return frame.replace(missing, None)


@pytest.mark.parametrize(
    ("name", "paths", "missing"),
    [("census", [CENSUS_CSV_GZ, CENSUS_TEST_CSV_GZ], "?"), ("penguins", [PENGUINS_CSV], "NA")],
)
def test_every_spec_describes_its_shipped_data_exactly(name: str, paths: list, missing: str) -> None:
    """Vocabularies are the values the data holds (no more, no fewer); every number is in range."""
    spec = dataset_spec.load(name)
    frame = pd.concat([_values(p, missing) for p in paths], ignore_index=True)
    assert list(frame.columns) == list(spec.columns)
    for column in spec.columns.values():
        values = frame[column.name].dropna()
        if column.categories is not None:
            seen = {column.aliases.get(v, v) for v in values}
            assert seen == set(column.categories), column.name
        if column.kind != "string":
            numbers = pd.to_numeric(values)
            assert column.low is None or numbers.min() >= column.low, column.name
            assert column.high is None or numbers.max() <= column.high, column.name


def _broken(edit) -> str:
    raw = yaml.safe_load(CENSUS_TEXT)
    edit(raw)
    return yaml.safe_dump(raw)


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda r: r.update(colums=1), ["the file has unknown key(s) ['colums']"]),
        (lambda r: r.pop("targets"), ["lacks ['targets']"]),
        (lambda r: r["columns"]["age"].update(kind="integer"), ["columns.age has kind 'integer'"]),
        (lambda r: r["columns"]["age"].update(rang=[1, 2]), ["columns.age has unknown key(s) ['rang']"]),
        (lambda r: r["columns"]["sex"].update(range=[0, 1]), ["string column and cannot have a range"]),
        (lambda r: r["columns"]["age"].update(range=[90, 17]), ["min 90 above max 17"]),
        (lambda r: r["columns"]["age"].update(categories=["a"]), ["int column and cannot have categories"]),
        (lambda r: r["columns"]["age"].update(missing="category"), ["'category' on a numeric column"]),
        (lambda r: r["drop"].update(salary="gone"), ["drop names 'salary', which is not a column"]),
        (lambda r: r["targets"]["never_married"].update(column="relationship"), ["which is in drop"]),
        (
            lambda r: r["targets"]["never_married"].update(positive=["Single"]),
            ["['Single'] not in the categories"],
        ),
        (lambda r: r["targets"]["never_married"].update(labels=["a"]), ["name class 0 and class 1"]),
        (lambda r: r.update(default_target="married"), ["default_target is 'married'"]),
        (
            lambda r: r["features"].append({"step": "one_hot", "columns": ["relationship"]}),
            ["reads 'relationship'"],
        ),
        (lambda r: r["features"].append({"step": "one_hot"}), ["names no input column"]),
        (lambda r: r.update(slice_by=["age"]), ["slice_by names 'age', which no one_hot step encodes"]),
        (lambda r: r.update(max_invalid_rows=-1), ["max_invalid_rows must be a whole number"]),
        (lambda r: r.update(name="adult"), ["is 'adult' but the file is census.yaml"]),
    ],
)
def test_a_wrong_spec_is_one_error_naming_the_key(edit, words: list[str]) -> None:
    with pytest.raises(StageError) as err:
        dataset_spec.parse(_broken(edit), "datasets/census.yaml", expect_name="census")
    line = err.value.one_line("extract")
    assert "dataset spec datasets/census.yaml:" in line and "| fix:" in line
    for word in words:
        assert word in line, line


def test_invalid_yaml_and_unknown_names() -> None:
    with pytest.raises(StageError, match="is not valid YAML"):
        dataset_spec.parse("name: [census", "x.yaml")
    with pytest.raises(StageError) as err:
        dataset_spec.load("iris")
    assert "unknown dataset 'iris' | fix: use one of ['census', 'penguins']" in err.value.one_line("x")
    with pytest.raises(StageError, match=r"no target 'single'"):
        dataset_spec.load("census").target("single")


def test_a_spec_file_by_path(tmp_path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(CENSUS_TEXT)
    assert dataset_spec.load(str(path)).fingerprint == dataset_spec.load("census").fingerprint


def test_the_fingerprint_follows_content_not_formatting() -> None:
    reformatted = yaml.safe_dump(yaml.safe_load(CENSUS_TEXT), default_flow_style=False)
    same = dataset_spec.parse("# another comment\n" + reformatted, "a.yaml")
    assert same.fingerprint == dataset_spec.load("census").fingerprint
    changed = dataset_spec.parse(_broken(lambda r: r["columns"]["age"].update(range=[16, 90])), "b.yaml")
    assert changed.fingerprint != same.fingerprint


def test_the_target_column_is_left_out_of_every_feature_step() -> None:
    spec = dataset_spec.load("census")
    for target in spec.targets.values():
        inputs = [c for step in spec.feature_steps(target) for c in step.columns]
        assert target.column not in inputs
    assert "income_bracket" in [
        c for s in spec.feature_steps(spec.target("never_married")) for c in s.columns
    ]


def test_every_shipped_copy_matches_the_checksum_data_readme_records() -> None:
    import gzip
    import hashlib
    import re

    readme = (ROOT / "data" / "README.md").read_text()
    for name in SPECS:
        path = ROOT / dataset_spec.load(name).local_source
        row = next(line for line in readme.splitlines() if line.startswith(f"| `{path.name}` |"))
        recorded = re.findall(r"`([0-9a-f]{64})`", row)[0]
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == recorded, path
