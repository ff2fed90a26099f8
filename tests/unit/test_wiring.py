"""pipeline_common.wiring against the stages' own parsers: what the DAGs, `make demo`, the tests
and the benchmark pass is exactly what each CLI accepts, and every option it offers is wired."""

from __future__ import annotations

import argparse

import pytest
from extractor.cli import build_parser as extractor_parser
from pipeline_common import wiring
from preprocessor.cli import build_parser as preprocessor_parser
from trainer.cli import build_parser as trainer_parser

# Options a run of the pipeline never sets (operators use them by hand).
NOT_WIRED = {
    "extractor": {"--query", "--project"},  # BigQuery SQL instead of a table; the billing project (env)
    "preprocessor": set(),
    "train": {"--n-jobs"},  # the CPU budget comes from PIPELINE_CPUS
    # The gate's finer settings and the deliberate overrides are an operator's (docs/promotion.md).
    "promote": {
        "--min-slice-rows",
        "--test",
        "--bootstrap",
        "--seed",
        "--slice-by",
        "--force",
        "--register-challengers",
    },
}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"}


def _subparser(name: str) -> argparse.ArgumentParser:
    action = next(a for a in trainer_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _wired(args: list[str]) -> set[str]:
    return {a for a in args if a.startswith("--")}


def test_extract_args_parse_and_cover_the_extractor() -> None:
    args = wiring.extract_args(
        dataset="penguins", source="gs://b/p.csv", output="gs://b/r/x.parquet", force=True
    )
    parsed = extractor_parser().parse_args(args)
    assert (parsed.dataset, parsed.source, parsed.output, parsed.force) == (
        "penguins",
        "gs://b/p.csv",
        "gs://b/r/x.parquet",
        True,
    )
    assert _wired(args) | NOT_WIRED["extractor"] == _options(extractor_parser())


def test_preprocess_args_parse_and_cover_the_preprocessor() -> None:
    args = wiring.preprocess_args(
        dataset="census",
        input_uri="i",
        output_prefix="o",
        target="income_over_50k",
        test_size=0.25,
        seed=7,
        force=True,
    )
    parsed = preprocessor_parser().parse_args(args)
    assert (parsed.dataset, parsed.input, parsed.output_prefix, parsed.target) == (
        "census",
        "i",
        "o",
        "income_over_50k",
    )
    assert (parsed.test_size, parsed.seed, parsed.force) == (0.25, 7, True)
    assert _wired(args) | NOT_WIRED["preprocessor"] == _options(preprocessor_parser())


def test_train_and_promote_args_parse_and_cover_the_trainer() -> None:
    train = wiring.train_args(
        model="hgb", features_uri="f", experiment="e", grid="demo", search="halving", cv=3
    )
    parsed = trainer_parser().parse_args(train)
    assert (parsed.command, parsed.model, parsed.grid, parsed.search, parsed.cv) == (
        "train",
        "hgb",
        "demo",
        "halving",
        3,
    )
    assert _wired(train) | NOT_WIRED["train"] == _options(_subparser("train"))
    promote = wiring.promote_args(
        experiment="e",
        model_name="census-never-married",
        candidates="@c.json",
        alias="champion",
        min_delta=0.002,
        alpha=0.01,
        max_slice_drop=0.05,
    )
    parsed = trainer_parser().parse_args(promote)
    assert (parsed.command, parsed.model_name, parsed.candidates, parsed.alias) == (
        "promote",
        "census-never-married",
        "@c.json",
        "champion",
    )
    assert _wired(promote) | NOT_WIRED["promote"] == _options(_subparser("promote"))


@pytest.mark.parametrize(
    ("flag", "expected"), [(False, []), (True, ["--force"]), ("{{ t }}", ["{{ t }}"]), ("", [])]
)
def test_flags_may_be_templates(flag, expected: list[str]) -> None:
    assert wiring.extract_args(dataset="d", source=None, output="o", force=flag) == [
        "--dataset",
        "d",
        "--output",
        "o",
        *expected,
    ]


def test_layout_and_model_name() -> None:
    assert wiring.registered_model_name("census", "never_married") == "census-never-married"
    assert wiring.extract_output("gs://b/runs/x", "penguins") == "gs://b/runs/x/extract/penguins.parquet"
    assert wiring.preprocess_prefix("gs://b/runs/x") == "gs://b/runs/x/preprocess"


def test_the_benchmark_and_make_demo_spell_no_stage_option_themselves() -> None:
    """Their stage command lines come from wiring only: no option of a stage appears in their code
    except as an option of one of their own command lines (add_argument)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    stage_options = (
        _options(extractor_parser())
        | _options(preprocessor_parser())
        | _options(_subparser("train"))
        | _options(_subparser("promote"))
    )
    paths = [*sorted((root / "bench").glob("*.py")), root / "scripts" / "demo.py"]
    trees = {path: ast.parse(path.read_text()) for path in paths}
    # Options of their own command lines (bench.run calls bench.baseline and bench.reference).
    own = {
        arg.value
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
        for arg in node.args
        if isinstance(arg, ast.Constant)
    }
    for path, tree in trees.items():
        spelled = {
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in stage_options
        }
        assert spelled <= own, f"{path.relative_to(root)} spells stage options: {sorted(spelled - own)}"
