"""Promotion logic without MLflow: the gate's rules, holdout alignment, the ledger stack, the report."""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pipeline_common.errors import StageError
from trainer import compare, data, gate, holdout, promote, registry, report

from tests.helpers import trainer_data
from tests.helpers.figures import overlapping_text


def paired(delta: float, p: float, rows: int = 6508) -> compare.Paired:
    return compare.Paired("delong", rows, 2134, 0.89, 0.89 + delta, delta, 0.001, delta - 0.002,
                          delta + 0.002, 1.0, p, 2 * p)  # fmt: skip


def slice_check(rows: int, delta: float | None, opts: gate.GateOptions) -> list[gate.SliceCheck]:
    score = compare.SliceScore("race", "Black", "race_Black", rows, rows // 3, 0.85,
                               None if delta is None else 0.85 + delta)  # fmt: skip
    return gate.check_slices([score], opts)


OPTS = gate.GateOptions()


def test_defaults() -> None:
    assert (OPTS.min_delta, OPTS.alpha, OPTS.max_slice_drop, OPTS.min_slice_rows) == (0.001, 0.05, 0.02, 500)
    assert (OPTS.test, OPTS.bootstrap, OPTS.seed) == ("delong", 2000, 55)


def test_a_significant_gain_above_min_delta_passes() -> None:
    v = gate.judge(paired(0.0019, 0.0015), slice_check(644, -0.001, OPTS), OPTS, "champion v1")
    assert v.promoted and v.rule == "gate_passed"
    assert v.reason.startswith("replaces champion v1: roc_auc 0.8919 vs 0.8900")


@pytest.mark.parametrize(
    ("delta", "p", "rule"),
    [
        (0.0, 0.5, "gain_below_min_delta"),  # a tie
        (0.0008, 0.0001, "gain_below_min_delta"),  # significant but negligible
        (-0.01, 1.0, "gain_below_min_delta"),  # worse
        (0.0015, 0.2, "gain_not_significant"),  # noise-level gain
        (0.0015, 0.05, "gain_not_significant"),  # p must be below alpha
    ],
)
def test_ties_noise_and_losses_keep_the_champion(delta: float, p: float, rule: str) -> None:
    v = gate.judge(paired(delta, p), [], OPTS, "champion v1")
    assert not v.promoted and v.rule == rule and v.reason.startswith("champion v1 stays")


def test_a_gain_of_exactly_min_delta_counts() -> None:
    assert gate.judge(paired(0.001, 0.01), [], OPTS, "c").promoted


def test_a_guarded_slice_drop_refuses_an_overall_gain() -> None:
    checks = slice_check(644, -0.025, OPTS)
    assert checks[0].guarded and checks[0].dropped
    v = gate.judge(paired(0.003, 0.001), checks, OPTS, "champion v2")
    assert not v.promoted and v.rule == "slice_drop"
    assert "race=Black (644 rows) drops -0.0250 (limit -0.02)" in v.reason


def test_small_or_single_class_slices_are_reported_but_not_guarded() -> None:
    small = slice_check(219, -0.05, OPTS)[0]
    single = slice_check(900, None, OPTS)[0]
    assert not small.guarded and not small.dropped
    assert not single.guarded and single.as_dict()["delta"] is None
    assert gate.judge(paired(0.003, 0.001), [small, single], OPTS, "c").promoted


def test_force_keeps_the_gates_verdict_in_the_reason() -> None:
    kept = gate.judge(paired(0.0, 0.5), [], OPTS, "champion v1")
    forced = gate.forced(kept)
    assert forced.promoted and forced.rule == "forced" and "gain_below_min_delta" in forced.reason
    assert set(gate.RULES) >= {"gate_passed", "no_fair_comparison", "forced", "rollback", "slice_drop"}


@pytest.mark.parametrize(
    ("change", "option"),
    [
        ({"min_delta": -0.1}, "--min-delta"),
        ({"min_delta": float("nan")}, "--min-delta"),
        ({"alpha": 0.0}, "--alpha"),
        ({"alpha": 1.0}, "--alpha"),
        ({"max_slice_drop": 1.5}, "--max-slice-drop"),
        ({"min_slice_rows": 0}, "--min-slice-rows"),
        ({"test": "t-test"}, "--test"),
        ({"bootstrap": 5}, "--bootstrap"),
    ],
)
def test_invalid_gate_options_are_refused(change: dict[str, Any], option: str) -> None:
    with pytest.raises(StageError, match=option):
        gate.GateOptions(**change).check()


# --------------------------------------------------------------------------- holdout alignment


@pytest.fixture(scope="module")
def census_test() -> pd.DataFrame:
    X, _ = data.read_split(data.load_manifest(trainer_data.census_features()["features_uri"]), "test")
    return X


def test_an_absent_category_is_zero_filled(census_test: pd.DataFrame) -> None:
    """The UCI test file has no Holand-Netherlands row: its holdout lacks that one-hot column."""
    needed = list(census_test.columns)
    lacking = census_test.drop(columns=["native_country_Holand_Netherlands"])
    a = holdout.align(lacking, needed)
    assert a.ok and a.zero_filled == ("native_country_Holand_Netherlands",)
    assert list(a.frame.columns) == needed and (a.frame["native_country_Holand_Netherlands"] == 0).all()
    assert holdout.absent_category(lacking, "native_country_Holand_Netherlands") == "native"


def test_an_unseen_column_is_dropped_only_when_it_is_zero_everywhere(census_test: pd.DataFrame) -> None:
    needed = [c for c in census_test.columns if c != "native_country_Holand_Netherlands"]
    assert census_test["native_country_Holand_Netherlands"].sum() == 0  # not in this test split
    a = holdout.align(census_test, needed)
    assert a.ok and a.dropped == ("native_country_Holand_Netherlands",)
    needed = [c for c in census_test.columns if c != "race_Black"]
    b = holdout.align(census_test, needed)
    assert not b.ok and "race_Black" in b.problem and "never saw" in b.problem


def test_a_missing_column_that_is_not_an_absent_category_cannot_be_filled(census_test: pd.DataFrame) -> None:
    needed = list(census_test.columns)
    for column in ("capital_loss", "sex_Female"):
        # capital_loss is numeric; without sex_Female, sex_Male alone does not cover every row.
        a = holdout.align(census_test.drop(columns=[column]), needed)
        assert not a.ok and column in a.problem, column


# --------------------------------------------------------------------------- ledger


def entry(seq: int, action: str, version: int) -> dict[str, Any]:
    return {"seq": seq, "action": action, "version": version}


def test_the_ledger_stack_pops_rolled_back_champions() -> None:
    entries = [entry(1, "promote", 1), entry(2, "promote", 3), entry(3, "force", 4)]
    assert registry.stack(entries) == [1, 3, 4]
    assert registry.stack([*entries, entry(4, "rollback", 3)]) == [1, 3]
    assert registry.stack([*entries, entry(4, "rollback", 3), entry(5, "rollback", 1)]) == [1]
    # A rollback to a version that is not on the stack (forward again, or one never promoted)
    # pushes it, so the next rollback returns to where it came from.
    assert registry.stack([*entries, entry(4, "rollback", 1), entry(5, "rollback", 4)]) == [1, 4]
    assert registry.stack([*entries, entry(4, "rollback", 2)]) == [1, 3, 4, 2]


def test_the_ledger_reads_its_tags_in_order() -> None:
    tags = {
        "ledger.champion.000002": '{"seq": 2, "version": 3}',
        "ledger.champion.000001": '{"seq": 1, "version": 1}',
        "ledger.challenger.000001": '{"seq": 1, "version": 9}',
        "lock.champion": "{}",
        "ledger.champion.000003": "not json",
    }
    assert [e["version"] for e in registry._ledger(tags, "champion")] == [1, 3]


# --------------------------------------------------------------------------- options and names


@pytest.mark.parametrize(
    ("name", "alias", "word"),
    [("census/model", "champion", "--model-name"), ("it's", "champion", "quotes"), ("m", "latest", "--alias"),
     ("m", "v3", "--alias"), ("m", "bad alias", "--alias"), ("m", "", "--alias")],
)  # fmt: skip
def test_names_follow_mlflows_rules(name: str, alias: str, word: str) -> None:
    with pytest.raises(StageError, match=word):
        promote.check_names(name, alias)


def test_the_decision_key_ignores_candidate_order() -> None:
    opts = promote.PromoteOptions("e", "m", "[]")
    assert promote.decision_key(opts, ["b", "a"], ["sex"]) == promote.decision_key(opts, ["a", "b"], ["sex"])
    stricter = promote.PromoteOptions("e", "m", "[]", gate=gate.GateOptions(alpha=0.01))
    assert promote.decision_key(stricter, ["a"], ["sex"]) != promote.decision_key(opts, ["a"], ["sex"])


# --------------------------------------------------------------------------- the report


def record(promoted: bool = False, n_slices: int = 7) -> dict[str, Any]:
    values = ["Female", "Male", "Amer_Indian_Eskimo", "Asian_Pac_Islander", "Black", "Other", "White"]
    slices = [
        {"attribute": "sex" if i < 2 else "race", "value": values[i % 7] + ("_x" * (i // 7)),
         "rows": 50 + 400 * i, "positives": 20 + 100 * i, "champion_roc_auc": 0.88, "candidate_roc_auc": 0.87,
         "delta": -0.01 * (i % 4), "guarded": i % 2 == 0, "dropped": i == 4}
        for i in range(n_slices)
    ]  # fmt: skip
    return {
        "model_name": "census-never-married", "alias": "champion", "best_model": "logreg",
        "run_id": "r" * 32, "registered_version": 4 if promoted else None, "champion_version": 3,
        "champion_run_id": "c" * 32, "roc_auc": 0.8865, "champion_roc_auc": 0.8985, "delta": -0.012,
        "delta_ci": [-0.0157, -0.0083], "p_value": 1.0, "detectable_delta": 0.0048,
        "holdout": {"source": "candidate", "uri": "gs://b/test.parquet", "sha256": "0" * 64, "rows": 6508,
                    "positives": 2134, "zero_filled": ["native_country_Holand_Netherlands"], "dropped": []},
        "slices": slices, "gate": gate.GateOptions().as_dict(), "promoted": promoted,
        "rule": "gate_passed" if promoted else "gain_below_min_delta", "reason": "champion v3 stays: <why>",
        "trigger": {"dag_id": "mlflow-multimodel-dag", "run_id": "manual__1", "task_id": "promote"},
        "decided_at": "2026-12-06T00:00:00+00:00", "decision_id": "abc", "report_uri": "runs:/r/x",
    }  # fmt: skip


def curves(n: int = 2000) -> report.Curves:
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.33).astype(int)
    champion = y + rng.normal(size=n)
    candidate = y * 1.2 + rng.normal(size=n)
    label = "candidate (logreg, a rather long model label)"
    return report.Curves(y, candidate, label, champion, "champion v3 (lgbm, also a long label)")


@pytest.mark.parametrize("n_slices", [7, 16])
def test_report_figures_have_no_overlapping_text(n_slices: int) -> None:
    figs = report.figures(record(n_slices=n_slices), curves())
    assert [alt.split()[0] for alt, _ in figs] == ["ROC", "Precision-recall", "ROC"]
    for alt, fig in figs:
        assert overlapping_text(fig) == [], alt


def test_report_is_one_self_contained_page() -> None:
    page = report.render(record(promoted=True), curves())
    assert page.startswith("<!doctype html>") and "PROMOTED" in page
    sources = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(sources) == 3
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # Nothing to fetch: MLflow shows HTML artifacts in a sandboxed frame.
    assert not re.search(r'(src|href)="(?!data:)', page)
    for text in ("gate_passed", "95% interval", "p-value", "race", "Black", "DROP", "mlflow-multimodel-dag"):
        assert text in page, text
    kept = report.render(record(), None)  # no curves (e.g. the champion could not be loaded)
    assert "KEPT" in kept and len(re.findall("<img ", kept)) == 1


# --------------------------------------------------------------------------- bounded MLflow calls


def test_bounded_caps_mlflows_retries_and_turns_a_failing_server_into_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os

    from mlflow.exceptions import MlflowException
    from trainer import tracking

    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")  # the environment's own limit wins
    with tracking.bounded("promote"):
        # Retries are bounded by time (TRAINER_MLFLOW_TIMEOUT), the count only by MLflow's limit.
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == str(tracking.MLFLOW_RETRY_LIMIT)
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "5"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    failing = MlflowException("API request to http://x/api/2.0/mlflow/runs/get failed with exception boom")
    with (
        pytest.raises(StageError, match="failed during promote: API request to") as caught,
        tracking.bounded("promote"),
    ):
        raise failing
    assert "re-run" in caught.value.fix
    with pytest.raises(KeyError), tracking.bounded("promote"):  # a bug stays a bug (traceback, exit 1)
        raise KeyError("x")


class _RacingRegistry:
    """A registry whose first lock write collides with a rival's insert, as MLflow's stores do."""

    def __init__(self, error: str) -> None:
        self.tags: dict[str, str] = {}
        self.collisions = 1
        self.error = error

    def get_registered_model(self, name: str) -> Any:
        return type("Model", (), {"tags": dict(self.tags)})()

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        from mlflow.exceptions import MlflowException

        if self.collisions:
            self.collisions -= 1
            raise MlflowException(self.error, error_code="BAD_REQUEST")
        self.tags[key] = value

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        self.tags.pop(key, None)


@pytest.mark.parametrize(
    "error",
    [
        "(sqlite3.IntegrityError) UNIQUE constraint failed: registered_model_tags.key",
        "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint",
    ],
)
def test_a_colliding_first_lock_write_is_a_lost_race_not_an_error(error: str) -> None:
    client = _RacingRegistry(error)
    with registry.alias_lock(client, "m", "champion", delay=0.01, wait=5) as owner:
        assert "lock.champion" in client.tags and owner in client.tags["lock.champion"]
    assert "lock.champion" not in client.tags


def test_other_lock_write_errors_still_fail() -> None:
    from mlflow.exceptions import MlflowException

    client = _RacingRegistry("PERMISSION_DENIED: not allowed")
    with (
        pytest.raises(MlflowException, match="PERMISSION_DENIED"),
        registry.alias_lock(client, "m", "champion", delay=0.01, wait=5),
    ):
        pass
