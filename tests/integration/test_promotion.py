"""`trainer promote`, `ledger` and `rollback` as processes against a real MLflow server (SQLite,
artifacts proxied to the GCS emulator), on real census fits: each defect of issue 15 reproduced,
the gate, the race of two promotes, the ledger and rollback.

Every fit is one real `trainer train` with a one-candidate grid, so the models (and their holdout
scores) are fixed: A is the first champion; on the same 6,508 holdout rows B beats it by +0.0019
(DeLong p = 0.0015), B2 by +0.0010, NOISE by +0.0002 (p = 0.34) and TIE is A again.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pipeline_common import wiring

from tests.fixtures.servers import MlflowServer
from tests.helpers.stages import (
    CENSUS_CSV_GZ,
    CENSUS_TEST_CSV_GZ,
    ROOT,
    StageRun,
    assert_bad_input,
    run_stage,
)

LGBM = "lgbm: {{learning_rate: [{lr}], n_estimators: [{n}], num_leaves: [{leaves}], max_depth: [{depth}]}}\n"
GRIDS = {
    "A": LGBM.format(lr=0.05, n=100, leaves=31, depth=16),
    "B": LGBM.format(lr=0.1, n=100, leaves=31, depth=16),
    "B2": LGBM.format(lr=0.05, n=150, leaves=40, depth=24),
    "NOISE": LGBM.format(lr=0.05, n=120, leaves=63, depth=8),
    "WEAK": "lgbm: {n_estimators: [5], num_leaves: [4], learning_rate: [0.05]}\n",
}
# fit name -> (grid, features); TIE refits A, WEAK_TEST is a custom grid on the UCI test file
# (whose holdout lacks the one-hot column native_country_Holand_Netherlands), NO_CAPITAL_LOSS is
# A's grid without the capital_loss column, OTHER lives in another experiment.
FITS = {
    "A": ("A", "census"),
    "B": ("B", "census"),
    "B2": ("B2", "census"),
    "TIE": ("A", "census"),
    "NOISE": ("NOISE", "census"),
    "WEAK_TEST": ("WEAK", "uci_test"),
    "NO_CAPITAL_LOSS": ("A", "no_capital_loss"),
    "OTHER": ("WEAK", "census"),
}
AIRFLOW_ENV = (
    "AIRFLOW_CTX_DAG_ID",
    "AIRFLOW_CTX_DAG_RUN_ID",
    "AIRFLOW_CTX_TASK_ID",
    "AIRFLOW_CTX_TRY_NUMBER",
)


@dataclass
class World:
    env: dict[str, str]
    experiment: str
    other_experiment: str
    features: dict[str, str]  # name -> features_uri
    fits: dict[str, dict[str, Any]]
    client: Any
    work: Path

    def promote(self, model_name: str, *names: str, args: tuple[str, ...] = (), **kw: Any) -> StageRun:
        return self.promote_results(model_name, [self.fits[n] for n in names], args=args, **kw)

    def promote_results(
        self,
        model_name: str,
        results: list[dict[str, Any]],
        args: tuple[str, ...] = (),
        experiment: str | None = None,
        env: dict[str, str] | None = None,
    ) -> StageRun:
        tag = uuid.uuid4().hex[:8]
        candidates = self.work / f"candidates-{tag}.json"
        candidates.write_text(json.dumps(results))
        argv = ["promote", "--experiment", experiment or self.experiment, "--model-name", model_name,
                "--candidates", f"@{candidates}", *args]  # fmt: skip
        return run_stage("trainer", argv, xcom_dir=self.work / f"xcom-{tag}", env={**self.env, **(env or {})})

    def cli(self, *argv: str) -> StageRun:
        return run_stage(
            "trainer", list(argv), xcom_dir=self.work / f"xcom-{uuid.uuid4().hex[:8]}", env=self.env
        )

    def versions(self, model_name: str) -> list[int]:
        return sorted(int(v.version) for v in self.client.search_model_versions(f"name = '{model_name}'"))

    def champion(self, model_name: str) -> int:
        return int(self.client.get_registered_model(model_name).aliases["champion"])

    def ledger(self, model_name: str) -> list[dict[str, Any]]:
        tags = self.client.get_registered_model(model_name).tags
        return [json.loads(tags[k]) for k in sorted(tags) if k.startswith("ledger.champion.")]


def ok(run: StageRun) -> dict[str, Any]:
    assert run.rc == 0, f"rc={run.rc}\n{run.stderr[-4000:]}"
    assert run.xcom is not None
    return run.xcom


def _preprocess(source: Path, out: Path, dataset: str = "census") -> dict[str, Any]:
    raw = ok(run_stage("extractor", wiring.extract_args(dataset=dataset, source=str(source),
                                                       output=str(out / "raw.parquet")),
                       xcom_dir=out / "x-extract"))  # fmt: skip
    return ok(run_stage("preprocessor", wiring.preprocess_args(dataset=dataset, input_uri=raw["raw_uri"],
                                                               output_prefix=str(out / "features")),
                        xcom_dir=out / "x-preprocess"))  # fmt: skip


def _spec_with_observed_countries(path: Path) -> str:
    """The census spec with native_country's categories taken from the data, not declared: the UCI
    test file (no Holand-Netherlands row) then gets one one-hot column fewer than adult.data."""
    spec = yaml.safe_load((ROOT / "datasets" / "census.yaml").read_text())
    del spec["columns"]["native_country"]["categories"]
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.fixture(scope="module")
def world(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from mlflow.tracking import MlflowClient

    work = tmp_path_factory.mktemp("promotion")
    env = {k: "" for k in AIRFLOW_ENV} | {"MLFLOW_TRACKING_URI": mlflow_server.url, "PIPELINE_CPUS": "2"}
    census = _preprocess(CENSUS_CSV_GZ, work / "census")
    uci_test = _preprocess(
        CENSUS_TEST_CSV_GZ, work / "uci_test", _spec_with_observed_countries(work / "observed.yaml")
    )
    # The same split, with capital_loss left out of the features (the champion never sees it).
    manifest = json.loads(Path(census["features_uri"].removeprefix("file://")).read_text())
    manifest["features"].remove("capital_loss")
    no_capital_loss = work / "no_capital_loss.json"
    no_capital_loss.write_text(json.dumps(manifest))
    features = {
        "census": census["features_uri"],
        "uci_test": uci_test["features_uri"],
        "no_capital_loss": str(no_capital_loss),
    }
    for name, grid in GRIDS.items():
        (work / f"{name}.yaml").write_text(grid)
    tag = uuid.uuid4().hex[:8]
    experiment, other = f"promotion-{tag}", f"promotion-other-{tag}"

    def fit(name: str) -> dict[str, Any]:
        grid, data = FITS[name]
        argv = ["train", "--model", "lgbm", "--features-uri", features[data], "--cv", "2",
                "--grid", str(work / f"{grid}.yaml"),
                "--experiment", other if name == "OTHER" else experiment]  # fmt: skip
        # Two fits at a time, one CPU each: they are mostly process start and MLflow logging.
        fit_env = {**env, "PIPELINE_CPUS": "1"}
        return ok(run_stage("trainer", argv, xcom_dir=work / f"xcom-fit-{name}", env=fit_env, timeout=600))

    with ThreadPoolExecutor(2) as pool:
        fits = dict(zip(FITS, pool.map(fit, FITS), strict=True))
    yield World(env, experiment, other, features, fits, MlflowClient(mlflow_server.url), work)


@pytest.fixture(scope="module")
def better(world: World) -> dict[str, Any]:
    """A becomes the first champion; B, strictly better, replaces it (from an Airflow task)."""
    name = f"better-{uuid.uuid4().hex[:6]}"
    first = ok(world.promote(name, "A"))
    airflow = {"AIRFLOW_CTX_DAG_ID": "mlflow-dag", "AIRFLOW_CTX_DAG_RUN_ID": "manual__it",
               "AIRFLOW_CTX_TASK_ID": "promote", "AIRFLOW_CTX_TRY_NUMBER": "1"}  # fmt: skip
    second = ok(world.promote_results(name, [world.fits["B"]], env=airflow))
    return {"name": name, "first": first, "second": second}


def test_a_strictly_better_model_is_promoted_with_a_full_record(world: World, better: dict[str, Any]) -> None:
    first, second, name = better["first"], better["second"], better["name"]
    assert first["promoted"] and first["rule"] == "no_champion" and first["registered_version"] == 1
    assert second["promoted"] and second["rule"] == "gate_passed", second["reason"]
    assert (second["champion_version"], second["registered_version"], second["ledger_seq"]) == (1, 2, 2)
    assert second["delta"] == pytest.approx(0.0019, abs=0.0003) and second["delta"] >= 0.001
    assert second["delta_ci"][0] > 0 and second["p_value"] < 0.05
    assert second["roc_auc"] == pytest.approx(world.fits["B"]["metrics"]["roc_auc"], abs=1e-6)
    assert second["champion_roc_auc"] == pytest.approx(world.fits["A"]["metrics"]["roc_auc"], abs=1e-6)
    assert second["holdout"]["rows"] == 6508 and second["holdout"]["source"] == "candidate"
    guarded = {(s["attribute"], s["value"]) for s in second["slices"] if s["guarded"]}
    assert {("sex", "Female"), ("sex", "Male"), ("race", "White"), ("race", "Black")} <= guarded
    assert second["trigger"] == {"dag_id": "mlflow-dag", "run_id": "manual__it", "task_id": "promote",
                                 "try_number": "1"}  # fmt: skip
    assert world.champion(name) == 2 and world.versions(name) == [1, 2]

    version = world.client.get_model_version(name, "2")
    assert version.tags["promote.rule"] == "gate_passed" and version.tags["promote.promoted"] == "true"
    assert version.tags["promote.triggered_by"] == "mlflow-dag/manual__it/promote"
    assert version.tags["promote.p_value"] == str(second["p_value"])
    assert json.loads(version.tags["promote.decision"])["decision_id"] == second["decision_id"]
    run_tags = world.client.get_run(second["run_id"]).data.tags
    assert (
        run_tags["promote.reason"] == second["reason"] and run_tags["promote.report"] == second["report_uri"]
    )
    ledger = world.ledger(name)
    assert [(e["seq"], e["action"], e["version"], e["previous"]) for e in ledger] == [
        (1, "promote", 1, None),
        (2, "promote", 2, 1),
    ]
    assert ledger[1]["by"] == second["trigger"] and ledger[1]["rule"] == "gate_passed"
    assert "lock.champion" not in world.client.get_registered_model(name).tags


def test_the_decision_report_is_one_page_linked_from_the_version(
    world: World, better: dict[str, Any], tmp_path: Path
) -> None:
    second = better["second"]
    link = world.client.get_model_version(better["name"], "2").tags["promote.report"]
    assert (
        link
        == second["report_uri"]
        == f"runs:/{second['run_id']}/promote/{second['decision_id']}/report.html"
    )
    path = world.client.download_artifacts(second["run_id"], link.split("/", 2)[2], str(tmp_path))
    page = Path(path).read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == 3  # ROC, precision-recall, slices
    for src in images:
        assert base64.b64decode(src.removeprefix("data:image/png;base64,"))[:4] == b"\x89PNG"
    assert not re.search(r'(src|href)="(?!data:)', page), "the page must not fetch anything"
    for text in ("PROMOTED", "gate_passed", f"{second['delta']:+.4f}", "95% interval", "race", "mlflow-dag"):
        assert text in page, text


def test_a_tie_and_a_noise_level_gain_are_kept_out_and_not_registered(world: World) -> None:
    name = f"keep-{uuid.uuid4().hex[:6]}"
    ok(world.promote(name, "A"))
    tie = ok(world.promote(name, "TIE"))
    assert not tie["promoted"] and tie["rule"] == "gain_below_min_delta" and tie["delta"] == 0
    noise = ok(world.promote(name, "NOISE"))
    assert not noise["promoted"] and noise["rule"] == "gain_below_min_delta"
    assert 0 < noise["delta"] < 0.001
    # Without min_delta, the paired test alone keeps the noise out.
    test_only = ok(world.promote(name, "NOISE", args=("--min-delta", "0")))
    assert not test_only["promoted"] and test_only["rule"] == "gain_not_significant"
    assert test_only["p_value"] > 0.05 and test_only["delta_ci"][0] < 0 < test_only["delta_ci"][1]
    # The bootstrap reaches the same verdict, reproducibly.
    boot = [ok(world.promote(name, "NOISE", args=("--min-delta", "0", "--test", "bootstrap", "--seed", "7")))
            for _ in range(2)]  # fmt: skip
    assert boot[0]["rule"] == "gain_not_significant" and boot[0]["gate"]["test"] == "bootstrap"
    assert boot[0]["delta_ci"] == boot[1]["delta_ci"] and boot[0]["p_value"] == boot[1]["p_value"]
    # Losers stay runs: no version, the decision on the run.
    assert world.versions(name) == [1] and world.champion(name) == 1
    tags = world.client.get_run(world.fits["NOISE"]["run_id"]).data.tags
    assert tags["promote.promoted"] == "false" and tags["promote.model_name"] == name


def test_a_rerun_returns_the_recorded_decision_and_writes_nothing(world: World) -> None:
    name = f"rerun-{uuid.uuid4().hex[:6]}"
    ok(world.promote(name, "A"))
    first = ok(world.promote(name, "TIE"))
    run_id = world.fits["TIE"]["run_id"]

    def snapshot() -> tuple[Any, ...]:
        model = world.client.get_registered_model(name)
        artifacts = sorted(a.path for a in world.client.list_artifacts(run_id, "promote"))
        return dict(world.client.get_run(run_id).data.tags), dict(model.tags), dict(model.aliases), artifacts

    before = snapshot()
    again = world.promote(name, "TIE")
    assert "decided before" in again.stderr
    volatile = ("seconds", "timings")
    assert {k: v for k, v in ok(again).items() if k not in volatile} == {
        k: v for k, v in first.items() if k not in volatile
    }
    assert snapshot() == before
    assert world.versions(name) == [1]


def test_a_slice_regression_is_refused(world: World) -> None:
    """B beats A overall, but not on every guarded slice; a tight max_slice_drop refuses it."""
    name = f"slice-{uuid.uuid4().hex[:6]}"
    ok(world.promote(name, "A"))
    result = ok(world.promote(name, "B", args=("--max-slice-drop", "0.001")))
    assert not result["promoted"] and result["rule"] == "slice_drop", result["reason"]
    assert result["delta"] > 0.001 and result["p_value"] < 0.05  # it would pass on the overall numbers
    dropped = [s for s in result["slices"] if s["dropped"]]
    assert dropped and all(s["rows"] >= 500 and s["delta"] < -0.001 for s in dropped)
    worst = min(dropped, key=lambda s: s["delta"])
    assert f"{worst['attribute']}={worst['value']}" in result["reason"]
    assert world.versions(name) == [1] and world.champion(name) == 1


def test_a_better_champion_with_other_columns_is_compared_and_kept(world: World) -> None:
    """Issue 15, defect 1: the champion (census data) has one one-hot column more than the
    candidate's holdout (the UCI test file has no Holand-Netherlands row; its spec takes the
    countries from the data). It used to be replaced
    unseen ("takes different input columns"); now it is scored on the candidate's holdout, that
    column being provably zero there, and it wins."""
    name = f"regress-{uuid.uuid4().hex[:6]}"
    ok(world.promote(name, "A"))
    result = ok(world.promote(name, "WEAK_TEST"))
    assert not result["promoted"] and result["rule"] == "gain_below_min_delta", result["reason"]
    assert result["holdout"]["source"] == "candidate"
    assert result["holdout"]["zero_filled"] == ["native_country_Holand_Netherlands"]
    assert result["holdout"]["rows"] == 3256  # the UCI test file's holdout
    assert result["roc_auc"] == pytest.approx(world.fits["WEAK_TEST"]["metrics"]["roc_auc"], abs=1e-6)
    assert result["champion_roc_auc"] > result["roc_auc"] + 0.01
    assert world.champion(name) == 1 and world.versions(name) == [1]


def test_without_a_fair_comparison_the_champion_stays_unless_forced(world: World) -> None:
    """The champion never saw capital_loss, which the candidate's holdout holds, and the candidate
    needs capital_loss, which the champion's holdout lacks: no holdout serves both."""
    name = f"unfair-{uuid.uuid4().hex[:6]}"
    ok(world.promote(name, "NO_CAPITAL_LOSS"))
    kept = ok(world.promote(name, "A"))
    assert not kept["promoted"] and kept["rule"] == "no_fair_comparison"
    assert "capital_loss" in kept["reason"] and kept["delta"] is None and kept["champion_roc_auc"] is None
    assert world.versions(name) == [1]
    forced = ok(world.promote(name, "A", args=("--force",)))
    assert forced["promoted"] and forced["forced"] and forced["rule"] == "forced"
    assert "no_fair_comparison" in forced["reason"]
    assert world.champion(name) == 2
    assert [e["action"] for e in world.ledger(name)] == ["promote", "force"]


def test_forged_or_mixed_up_candidates_are_refused_before_any_write(world: World) -> None:
    """Issue 15, defect 2: the JSON is a pointer; every claim is checked against MLflow."""
    b, a = world.fits["B"], world.fits["A"]
    running = world.client.create_run(world.client.get_experiment_by_name(world.experiment).experiment_id)
    missing_experiment = f"nope-{uuid.uuid4().hex[:6]}"
    cases = {
        "metric": ([{**b, "metrics": {**b["metrics"], "roc_auc": 0.99}}], None, ["metrics.roc_auc 0.99"]),
        "model_uri": ([{**b, "model_uri": a["model_uri"]}], None, ["was logged by run", a["run_id"]]),
        "experiment": ([world.fits["OTHER"]], None, ["not an active run of --experiment"]),
        "not_finished": ([{**b, "run_id": running.info.run_id}], None, ["RUNNING, not FINISHED"]),
        "unknown_run": ([{**b, "run_id": "0" * 32}], None, ["not in this tracking server"]),
        "features_uri": ([{**b, "features_uri": world.features["uci_test"]}], None, ["features_uri"]),
        "no_experiment": ([b], missing_experiment, [missing_experiment, "does not exist"]),
    }
    names = {case: f"forged-{case}-{uuid.uuid4().hex[:6]}" for case in cases}
    with ThreadPoolExecutor(2) as pool:
        runs = dict(zip(cases, pool.map(
            lambda c: world.promote_results(names[c], cases[c][0], experiment=cases[c][1]), cases
        ), strict=True))  # fmt: skip
    for case, (_, _, words) in cases.items():
        assert_bad_input(runs[case], *words)
        assert world.client.search_registered_models(f"name = '{names[case]}'") == [], case
    assert world.client.get_experiment_by_name(missing_experiment) is None, "promote created an experiment"
    world.client.set_terminated(running.info.run_id)


def test_invalid_names_and_a_missing_manifest_fail_before_any_write(world: World) -> None:
    """Issue 15, defect 4: nothing is registered before everything is checked."""
    name = f"valid-{uuid.uuid4().hex[:6]}"
    for args, words in ((("--alias", "v2"), ["--alias 'v2'"]), (("--alias", "latest"), ["reserved"])):
        assert_bad_input(world.promote(name, "A", args=args), *words)
    assert_bad_input(world.promote("bad/name", "A"), "--model-name", "bad/name")
    assert world.client.search_registered_models(f"name = '{name}'") == []

    ok(world.promote(name, "A"))
    manifest = Path(world.fits["B"]["features_uri"].removeprefix("file://"))
    hidden = manifest.with_suffix(".hidden")
    manifest.rename(hidden)
    try:
        assert_bad_input(world.promote(name, "B"), "features.json", "does not exist")
    finally:
        hidden.rename(manifest)
    assert world.versions(name) == [1] and world.champion(name) == 1


def test_two_concurrent_promotes_never_move_the_alias_past_each_other(world: World) -> None:
    """Both B and B2 beat the champion A. The test holds the alias lock while both promotes start
    and decide against A (that is the race: two DAG runs finishing together), then lets go. The
    one that takes the lock second must find the alias moved and decide again against the new
    holder. So every ledger entry replaces the version the entry before it installed, and every
    promotion was judged against the very version it replaced."""
    from trainer import registry

    name = f"race-{uuid.uuid4().hex[:6]}"
    ok(world.promote(name, "A"))
    procs = []
    with registry.alias_lock(world.client, name, "champion"):
        for fit in ("B", "B2"):
            candidates = world.work / f"race-{name}-{fit}.json"
            candidates.write_text(json.dumps([world.fits[fit]]))
            xcom = world.work / f"race-{name}-{fit}"
            argv = [sys.executable, "-m", "trainer", "promote", "--experiment", world.experiment,
                    "--model-name", name, "--candidates", f"@{candidates}",
                    "--min-delta", "0.0005"]  # fmt: skip
            env = {**os.environ, **world.env, "XCOM_DIR": str(xcom)}
            proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
            procs.append((xcom, proc, Stderr(proc)))
        for _, _, stderr in procs:
            assert stderr.wait_for("decision against v1: replaces champion v1"), stderr.text()[-3000:]
    results = []
    for xcom, proc, stderr in procs:
        proc.wait(timeout=300)
        assert proc.returncode == 0, stderr.text()[-3000:]
        results.append(json.loads((xcom / "return.json").read_text()))
    ledger = world.ledger(name)
    for before, after in itertools.pairwise(ledger):
        assert after["previous"] == before["version"], ledger
    by_seq = {r["ledger_seq"]: r for r in results if r["ledger_seq"] is not None}
    assert by_seq, "one of them must have won against A"
    for seq, result in by_seq.items():
        assert result["champion_version"] == ledger[seq - 1]["previous"], (result["rounds"], ledger)
    # Both decided against A first; the later one saw the alias move and decided again.
    assert sorted(len(r["rounds"]) for r in results) == [1, 2], [r["rounds"] for r in results]
    assert all(r["rounds"][0] == 1 for r in results)
    late = next(r for r in results if len(r["rounds"]) == 2)
    assert late["rounds"][1] == ledger[1]["version"] and late["champion_version"] == ledger[1]["version"]
    assert "moved to v" in next(s for _, _, s in procs if "deciding again" in s.text()).text()
    assert world.champion(name) == ledger[-1]["version"]
    assert len(world.versions(name)) == len(ledger), "a loser was registered"
    assert "lock.champion" not in world.client.get_registered_model(name).tags


class Stderr:
    """A process's stderr read in the background, so the test can wait for a line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.done = False
        self._new = threading.Condition()
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._new:
                self.lines.append(line)
                self._new.notify_all()
        with self._new:
            self.done = True
            self._new.notify_all()

    def wait_for(self, needle: str, timeout: float = 240) -> bool:
        def seen() -> bool:
            return any(needle in line for line in self.lines)

        with self._new:
            self._new.wait_for(lambda: seen() or self.done, timeout)
            return seen()

    def text(self) -> str:
        with self._new:
            return "".join(self.lines)


def test_rollback_moves_the_alias_back_and_the_ledger_tells_the_story(
    world: World, better: dict[str, Any]
) -> None:
    name = better["name"]
    back = ok(world.cli("rollback", "--model-name", name))
    assert back["moved"] and (back["from_version"], back["to_version"]) == (2, 1)
    assert world.champion(name) == 1
    rolled = world.client.get_model_version(name, "2").tags
    assert rolled["promote.rolled_back"].startswith(f"ledger #{back['ledger_seq']}")
    restored = world.client.get_model_version(name, "1").tags
    assert restored["promote.rule"] == "rollback" and restored["promote.champion_version"] == "2"

    shown = world.cli("ledger", "--model-name", name)
    table = ok(shown) and shown.stdout
    assert "rollback" in table and "@champion: v1 since ledger #3" in table
    assert [e["action"] for e in shown.xcom["entries"]] == ["promote", "promote", "rollback"]

    # The rolled-back run does not come back by itself...
    again = ok(world.promote(name, "B"))
    assert not again["promoted"] and again["rule"] == "rolled_back" and world.champion(name) == 1
    # ... only on purpose, and then the previous champion is where a rollback returns.
    forward = ok(
        world.cli("rollback", "--model-name", name, "--to-version", "2", "--reason", "fixed upstream")
    )
    assert forward["to_version"] == 2 and world.champion(name) == 2
    assert "promote.rolled_back" not in world.client.get_model_version(name, "2").tags
    assert ok(world.cli("rollback", "--model-name", name))["to_version"] == 1
    assert [(e["action"], e["version"]) for e in world.ledger(name)][2:] == [
        ("rollback", 1),
        ("rollback", 2),
        ("rollback", 1),
    ]
    assert world.ledger(name)[3]["reason"] == "fixed upstream"
    # Nothing to go back to, or nothing at all: one clear line each.
    single = f"single-{uuid.uuid4().hex[:6]}"
    ok(world.promote(single, "A"))
    assert_bad_input(
        world.cli("rollback", "--model-name", single), "records no champion before v1", "--to-version"
    )
    assert_bad_input(world.cli("ledger", "--model-name", f"nope-{single}"), "does not exist")
