"""`trainer promote`: the alias moves only to a model shown to be better (docs/promotion.md).

Order of work, so that a refusal never leaves a half-done registry:
1. Check the options, the candidates JSON and every candidate against MLflow: the JSON is only a
   pointer; run status, experiment, logged metrics and logged model must agree with it.
2. Decide from reads only: the best candidate is scored with the champion on ONE holdout (the
   candidate's, or the champion's when only that is sound, trainer/holdout.py), then the gate
   (trainer/gate.py) decides. No fair comparison keeps the champion unless --force.
3. Write: under the alias lock the champion is read again (a moved champion means deciding
   again, a bounded number of rounds), the winner is registered, the alias moves and the ledger
   gets its entry (trainer/registry.py). Then the decision: report, decision.json and slice
   table as run artifacts, tags on the version and the run, and the run's `promote.decision`
   tag last. Losers are not registered (unless --register-challengers).
A re-run of the same promote finds that last tag and returns the recorded decision, writing
nothing, as long as the alias and its ledger have not moved since.
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pipeline_common import timing
from pipeline_common.errors import StageError
from pipeline_common.lineage import lineage

from trainer import compare, data, gate, holdout, plots, registry, report, scoring, summary, tracking

log = logging.getLogger(__name__)
REQUIRED = ("model", "run_id", "model_uri", "metrics", "features_uri", "test_sha256")
DECISION_TAG = "promote.decision"
ARTIFACT_DIR = "promote"
MAX_ROUNDS = 3
# Logged metrics and the JSON's (rounded to 6 places by fit) must agree to this.
METRIC_TOLERANCE = 1e-6
FIX_CANDIDATES = (
    "pass --candidates a JSON array of `trainer train` results (their return.json) or @FILE holding one"
)
FIX_FORGED = "pass the train tasks' results unchanged: the candidates JSON only points at runs in MLflow"


@dataclass(frozen=True)
class PromoteOptions:
    experiment: str
    model_name: str
    candidates: str
    alias: str = "champion"
    gate: gate.GateOptions = field(default_factory=gate.GateOptions)
    slice_by: tuple[str, ...] | None = None  # None: the features manifest's slice_by
    force: bool = False
    register_challengers: bool = False


@dataclass(frozen=True)
class Candidate:
    """A fit result whose every claim was checked against its MLflow run."""

    model: str
    run_id: str
    model_uri: str
    model_id: str
    roc_auc: float  # as logged by the run
    features_uri: str
    test_sha256: str
    tags: dict[str, str]


# --------------------------------------------------------------------------- 1. checks


def parse_candidates(text: str) -> list[dict[str, Any]]:
    """The candidate list from JSON text or @file, checked for the keys promote needs."""
    timing.first_work()  # promote's input is this list (the fits' XComs)
    source = "--candidates"
    if text.startswith("@"):
        path = Path(text[1:])
        source = f"--candidates file {path}"
        try:
            text = path.read_text()
        except OSError as exc:
            raise StageError(f"cannot read {source}: {exc.strerror or exc}", FIX_CANDIDATES) from exc
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise StageError(f"{source} is not valid JSON ({exc})", FIX_CANDIDATES) from exc
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise StageError(
            f"{source} must be a JSON array of fit results, got {type(value).__name__}", FIX_CANDIDATES
        )
    candidates = [c for c in value if c is not None]  # skipped upstream tasks pull as null
    if not candidates:
        raise StageError(
            f"{source} holds no candidates", "run at least one `trainer train` task before promote"
        )
    for i, cand in enumerate(candidates):
        if not isinstance(cand, dict):
            raise StageError(f"{source}[{i}] is not an object", FIX_CANDIDATES)
        missing = [k for k in REQUIRED if k not in cand]
        if missing:
            raise StageError(
                f"{source}[{i}] (model {cand.get('model', '?')}) lacks {missing}", FIX_CANDIDATES
            )
        metrics = cand["metrics"]
        auc = metrics.get("roc_auc") if isinstance(metrics, dict) else None
        if not _number(auc):
            raise StageError(
                f"{source}[{i}] (model {cand['model']}) has no numeric metrics.roc_auc", FIX_CANDIDATES
            )
    return candidates


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_names(model_name: str, alias: str) -> None:
    """MLflow's own rules for registered model and alias names, applied before any write."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils import validation

    try:
        validation._validate_model_name(model_name)
        if any(q in model_name for q in "'\"`"):  # they would break the registry's filter strings
            raise MlflowException(f"Invalid model name '{model_name}'. Names cannot contain quotes.")
    except MlflowException as exc:
        raise StageError(
            f"--model-name {model_name!r} is not a valid registered model name ({exc.message})",
            "use letters, digits, '-', '_' or '.', e.g. census-never-married",
        ) from None
    try:
        validation._validate_model_alias_name(alias)
        validation._validate_model_alias_name_reserved(alias)
    except MlflowException as exc:
        raise StageError(
            f"--alias {alias!r} is not a valid alias ({exc.message})",
            "use letters, digits, '_' or '-', not 'latest' nor v<number>, e.g. champion",
        ) from None


def check_slice_by(slice_by: tuple[str, ...] | None) -> None:
    for attribute in slice_by or ():
        if not attribute or not all(ch.isalnum() or ch == "_" for ch in attribute):
            raise StageError(
                f"--slice-by attribute {attribute!r} is not a column prefix",
                "pass attribute names of the features, comma-separated, e.g. sex,race",
            )


def verify(client: Any, raw: dict[str, Any], experiment_id: str, experiment: str) -> Candidate:
    """The candidate as MLflow knows it; any disagreement with the JSON is refused."""
    from mlflow.exceptions import MlflowException

    run_id, model = str(raw["run_id"]), str(raw["model"])
    who = f"candidate {model} (run {run_id})"
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise StageError(
                f"run {run_id} of candidate {model} is not in this tracking server",
                "promote candidates trained against the same MLFLOW_TRACKING_URI",
            ) from exc
        raise
    if str(run.info.experiment_id) != experiment_id or run.info.lifecycle_stage != "active":
        raise StageError(
            f"{who} is not an active run of --experiment {experiment!r} (it is in experiment id "
            f"{run.info.experiment_id}, {run.info.lifecycle_stage})",
            "pass the experiment the train tasks logged to, and only their results",
        )
    if run.info.status != "FINISHED":
        raise StageError(
            f"{who} is {run.info.status}, not FINISHED", "promote only fits that finished; re-run the fit"
        )
    tags = dict(run.data.tags)
    if tags.get(tracking.MODEL_TAG) != model:
        raise StageError(
            f"{who}: the run trained {tags.get(tracking.MODEL_TAG)!r}, not {model!r}", FIX_FORGED
        )
    for key, tag in (("features_uri", "pipeline.features_uri"), ("test_sha256", "pipeline.test_sha256")):
        if str(raw[key]) != tags.get(tag):
            raise StageError(f"{who}: {key} {raw[key]!r} is not the run's {tags.get(tag)!r}", FIX_FORGED)
    claims = {**(raw["metrics"] if isinstance(raw["metrics"], dict) else {})}
    if "cv_roc_auc" in raw:  # fit logs it as cv_roc_auc_mean
        claims["cv_roc_auc_mean"] = raw["cv_roc_auc"]
    if "cv_roc_auc_std" in raw:
        claims["cv_roc_auc_std"] = raw["cv_roc_auc_std"]
    for key, claimed in sorted(claims.items()):
        logged = run.data.metrics.get(key)
        if not _number(claimed) or logged is None or abs(float(logged) - float(claimed)) > METRIC_TOLERANCE:
            raise StageError(f"{who}: metrics.{key} {claimed} is not the {logged} the run logged", FIX_FORGED)
    uri = str(raw["model_uri"])
    model_id = uri.removeprefix("models:/")
    if not uri.startswith("models:/") or not model_id or "/" in model_id:
        raise StageError(f"{who}: model_uri {uri!r} is not a logged model (models:/<id>)", FIX_FORGED)
    try:
        logged_model = client.get_logged_model(model_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise StageError(f"{who}: model_uri {uri} is not in this tracking server", FIX_FORGED) from exc
        raise
    if logged_model.source_run_id != run_id:
        raise StageError(
            f"{who}: model_uri {uri} was logged by run {logged_model.source_run_id}, not by {run_id}",
            FIX_FORGED,
        )
    if str(logged_model.status) != "READY":
        raise StageError(f"{who}: its logged model {uri} is {logged_model.status}, not READY", FIX_FORGED)
    auc = run.data.metrics.get("roc_auc")
    if auc is None or not math.isfinite(auc):
        raise StageError(f"{who}: the run logged no holdout roc_auc", "re-run the fit task")
    return Candidate(
        model, run_id, uri, model_id, float(auc), str(raw["features_uri"]), str(raw["test_sha256"]), tags
    )


def best_candidate(candidates: list[Any]) -> Any:
    """Highest holdout roc_auc; ties go to the model name, then the run id (order never matters)."""

    def key(c: Any) -> tuple[float, str, str]:
        if isinstance(c, Candidate):
            return (-c.roc_auc, c.model, c.run_id)
        return (-float(c["metrics"]["roc_auc"]), str(c["model"]), str(c["run_id"]))

    return sorted(candidates, key=key)[0]


def trigger() -> dict[str, str]:
    """Who asked: the Airflow task (pipeline_common.lineage), else the local user."""
    facts = {k.split(".", 1)[1]: v for k, v in lineage().items() if k.startswith("airflow.")}
    if facts:
        return facts
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry for the UID (containers)
        user = f"uid {os.getuid()}"
    return {"user": user}


# --------------------------------------------------------------------------- 2. deciding


@dataclass
class Context:
    """What every round of deciding shares: the candidate, its holdout and its scores."""

    client: Any
    opts: PromoteOptions
    best: Candidate
    manifest: data.Manifest
    X: Any
    y: Any
    loaded: scoring.Loaded
    proba: Any
    attributes: list[str]
    key: str
    champions: dict[str, scoring.Loaded | str] = field(default_factory=dict)


@dataclass
class Assessment:
    verdict: gate.Verdict
    champion_version: str | None
    champion_run_id: str | None = None
    paired: compare.Paired | None = None
    slices: list[gate.SliceCheck] = field(default_factory=list)
    holdout: dict[str, Any] | None = None
    curves: report.Curves | None = None


def _holdout_facts(
    source: str, manifest: data.Manifest, y: Any, aligned: holdout.Alignment
) -> dict[str, Any]:
    return {
        "source": source,
        "uri": manifest.test_uri,
        "sha256": manifest.test_sha256,
        "rows": len(y),
        "positives": int(np.sum(np.asarray(y, dtype=np.int64))),
        "zero_filled": list(aligned.zero_filled),
        "dropped": list(aligned.dropped),
    }


def _load_champion(ctx: Context, version: str) -> scoring.Loaded | str:
    if version not in ctx.champions:
        uri = f"models:/{ctx.opts.model_name}/{version}"
        try:
            ctx.champions[version] = scoring.load(uri)
        except Exception as exc:  # any failure to load means it cannot be scored
            ctx.champions[version] = f"it cannot be loaded ({type(exc).__name__}: {str(exc)[:150]})"
    return ctx.champions[version]


def _on_champion_holdout(
    ctx: Context, champion: scoring.Loaded, run_tags: dict[str, str] | None
) -> tuple[Any, Any, Any, Any, dict[str, Any]] | str:
    """(y, champion proba, candidate proba, frame, holdout facts) on the champion's own holdout."""
    if run_tags is None:
        return "its run is gone"
    uri = run_tags.get("pipeline.features_uri")
    if not uri:
        return "its run names no features manifest"
    try:
        manifest = data.load_manifest(uri)
        if manifest.test_sha256 != run_tags.get("pipeline.test_sha256"):
            return f"{manifest.uri} names another test split than the one it was scored on"
        if manifest.target != ctx.manifest.target:
            return f"it predicts {manifest.target}, the candidate {ctx.manifest.target}"
        X, y = data.read_split(manifest, "test")
    except StageError as exc:
        return exc.problem
    for_champion = holdout.align(X, champion.features)
    for_candidate = holdout.align(X, ctx.loaded.features)
    problem = for_champion.problem or for_candidate.problem
    if problem:
        return f"for the {'champion' if for_champion.problem else 'candidate'}, {problem}"
    facts = _holdout_facts("champion", manifest, y, for_candidate)
    facts["zero_filled"] = sorted(set(for_champion.zero_filled) | set(for_candidate.zero_filled))
    y = y.to_numpy()
    return y, scoring.predict(champion, for_champion), scoring.predict(ctx.loaded, for_candidate), X, facts


def assess(ctx: Context, state: registry.State) -> Assessment:
    """The decision against the champion `state` names, from reads only."""
    opts, alias = ctx.opts, ctx.opts.alias
    labels = plots.class_labels(ctx.manifest.raw, ctx.manifest.target)
    own = report.Curves(ctx.y, ctx.proba, _label(ctx.best), labels=labels)
    if state.champion is None:
        return Assessment(
            gate.Verdict(
                True, "no_champion", f"no {alias} yet: {ctx.best.model} run {ctx.best.run_id} takes it"
            ),
            None,
            holdout=_holdout_facts("candidate", ctx.manifest, ctx.y, holdout.Alignment(ctx.X)),
            curves=own,
        )
    version = state.champion
    mv = ctx.client.get_model_version(opts.model_name, version)
    name = f"{alias} v{version}"
    if mv.run_id == ctx.best.run_id:
        return Assessment(
            gate.Verdict(
                True, "already_champion", f"{ctx.best.model} run {ctx.best.run_id} is {name} already"
            ),
            version,
            mv.run_id,
            curves=own,
        )
    rolled = [v for v in _versions_of_run(ctx) if v.tags.get(registry.ROLLED_BACK_TAG)]
    if rolled:
        return Assessment(
            gate.Verdict(
                False, "rolled_back",
                f"version {rolled[0].version} of run {ctx.best.run_id} was rolled back "
                f"({rolled[0].tags[registry.ROLLED_BACK_TAG]}); {name} stays (--force promotes it anyway)",
            ),
            version, mv.run_id, curves=own,
        )  # fmt: skip
    champion = _load_champion(ctx, version)
    if isinstance(champion, str):
        return _unfair(ctx, version, mv.run_id, f"{name}: {champion}", own)
    on_candidate = holdout.align(ctx.X, champion.features)
    if on_candidate.ok:
        y, ref, cand, frame = ctx.y, scoring.predict(champion, on_candidate), ctx.proba, ctx.X
        facts = _holdout_facts("candidate", ctx.manifest, ctx.y, on_candidate)
    else:
        try:
            tags = dict(ctx.client.get_run(mv.run_id).data.tags)
        except Exception:  # a deleted run: no holdout of its own to fall back to
            tags = None
        found = _on_champion_holdout(ctx, champion, tags)
        if isinstance(found, str):
            return _unfair(
                ctx, version, mv.run_id,
                f"{name} cannot be scored on the candidate's holdout ({on_candidate.problem}) and the "
                f"candidate cannot be scored on {name}'s ({found})",
                own,
            )  # fmt: skip
        y, ref, cand, frame, facts = found
        log.info("%s scored with the candidate on its own holdout (%s)", name, on_candidate.problem)
    missing = [a for a in ctx.attributes if not compare.slice_columns(list(frame.columns), a)]
    if missing:
        return _unfair(
            ctx,
            version,
            mv.run_id,
            f"the holdout of the comparison has no columns for slice(s) {missing}",
            own,
        )
    paired = compare.compare(y, ref, cand, opts.gate.test, opts.gate.bootstrap, opts.gate.seed)
    slices = gate.check_slices(compare.slice_scores(y, ref, cand, frame, ctx.attributes), opts.gate)
    verdict = gate.judge(paired, slices, opts.gate, name)
    champion_label = f"{name} ({mv.tags.get(tracking.MODEL_TAG, 'model')})"
    curves = report.Curves(y, cand, _label(ctx.best), ref, champion_label, labels)
    return Assessment(verdict, version, mv.run_id, paired, slices, facts, curves)


def _unfair(ctx: Context, version: str, run_id: str | None, why: str, curves: report.Curves) -> Assessment:
    return Assessment(
        gate.Verdict(
            False, "no_fair_comparison", f"no fair comparison: {why}; {ctx.opts.alias} v{version} stays"
        ),
        version,
        run_id,
        curves=curves,
    )


def _label(cand: Candidate) -> str:
    return f"candidate ({cand.model})"


def _versions_of_run(ctx: Context) -> list[Any]:
    from mlflow.exceptions import MlflowException

    try:
        found = ctx.client.search_model_versions(
            f"name = '{ctx.opts.model_name}' and run_id = '{ctx.best.run_id}'"
        )
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise
    return sorted(found, key=lambda v: int(v.version))


def decision_key(opts: PromoteOptions, runs: list[str], attributes: list[str]) -> str:
    """What makes two promotes 'the same': model, alias, candidates and every option."""
    body = {
        "model_name": opts.model_name,
        "alias": opts.alias,
        "runs": sorted(runs),
        "gate": opts.gate.as_dict(),
        "slice_by": attributes,
        "force": opts.force,
        "register_challengers": opts.register_challengers,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- 3. writing


def _register(ctx: Context) -> str:
    existing = _versions_of_run(ctx)
    if existing:
        log.info(
            "run %s is already version %s of %s; reusing it",
            ctx.best.run_id,
            existing[0].version,
            ctx.opts.model_name,
        )
        return str(existing[0].version)
    version = ctx.client.create_model_version(
        ctx.opts.model_name,
        source=ctx.best.model_uri,
        run_id=ctx.best.run_id,
        tags={tracking.MODEL_TAG: ctx.best.model},
        model_id=ctx.best.model_id,
    )
    log.info("registered %s as version %s of %s", ctx.best.model_uri, version.version, ctx.opts.model_name)
    return str(version.version)


def _description(manifest: data.Manifest) -> str:
    """The registered model's description: what it predicts, from which dataset."""
    dataset = manifest.raw.get("dataset", "census")
    return (
        f"{dataset}: predicts {manifest.target} (a <dataset>-<target> model of the census-pipeline project)"
    )


def _record(ctx: Context, a: Assessment, verdict: gate.Verdict, state: registry.State) -> dict[str, Any]:
    p = a.paired
    ident = hashlib.sha256(f"{ctx.key}/{state.champion}/{state.head_seq}".encode()).hexdigest()[:12]
    return {
        "model_name": ctx.opts.model_name,
        "alias": ctx.opts.alias,
        "best_model": ctx.best.model,
        "run_id": ctx.best.run_id,
        "model_uri": ctx.best.model_uri,
        "registered_version": None,
        "champion_version": None if a.champion_version is None else int(a.champion_version),
        "champion_run_id": a.champion_run_id,
        "roc_auc": round(p.candidate_auc if p else ctx.best.roc_auc, 6),
        "champion_roc_auc": round(p.reference_auc, 6) if p else None,
        "delta": round(p.delta, 6) if p else None,
        "delta_ci": [round(p.ci_low, 6), round(p.ci_high, 6)] if p else None,
        "p_value": float(f"{p.p_value:.6g}") if p else None,
        "detectable_delta": round(compare.detectable_delta(p.se, ctx.opts.gate.alpha), 6) if p else None,
        "holdout": a.holdout,
        "slices": [s.as_dict() for s in a.slices],
        "gate": ctx.opts.gate.as_dict(),
        "promoted": verdict.promoted,
        "rule": verdict.rule,
        "reason": verdict.reason,
        "forced": verdict.rule == "forced",
        "trigger": trigger(),
        "decided_at": registry.now_iso(),
        "decision_id": ident,
        "decision_key": ctx.key,
        "ledger_seq": None,
        "report_uri": f"runs:/{ctx.best.run_id}/{ARTIFACT_DIR}/{ident}/report.html",
    }


def _artifacts(ctx: Context, record: dict[str, Any], page: str) -> None:
    with tempfile.TemporaryDirectory(prefix="promote-") as tmp:
        out = Path(tmp)
        (out / "report.html").write_text(page)
        (out / "decision.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        with (out / "slices.csv").open("w", newline="") as fh:
            columns = ["attribute", "value", "rows", "positives", "champion_roc_auc", "candidate_roc_auc",
                       "delta", "guarded", "dropped"]  # fmt: skip
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(record["slices"])
        ctx.client.log_artifacts(ctx.best.run_id, tmp, f"{ARTIFACT_DIR}/{record['decision_id']}")


def summary_tags(record: dict[str, Any]) -> dict[str, str]:
    """The decision as tags (each well under MLflow's 8,000-character run-tag limit)."""
    ci = record["delta_ci"]
    trig = record["trigger"]
    by = (
        f"{trig.get('dag_id')}/{trig.get('run_id')}/{trig.get('task_id')}"
        if trig.get("dag_id")
        else trig.get("user", "?")
    )
    slices = [
        [s["attribute"], s["value"], s["rows"], s["champion_roc_auc"], s["candidate_roc_auc"], s["dropped"]]
        for s in record["slices"]
    ]
    tags = {
        "promote.model_name": record["model_name"],
        "promote.alias": record["alias"],
        "promote.promoted": str(record["promoted"]).lower(),
        "promote.rule": record["rule"],
        "promote.reason": record["reason"][:5000],
        "promote.registered_version": str(record["registered_version"]),
        "promote.champion_version": str(record["champion_version"]),
        "promote.champion_run_id": str(record["champion_run_id"]),
        "promote.roc_auc": str(record["roc_auc"]),
        "promote.champion_roc_auc": str(record["champion_roc_auc"]),
        "promote.delta": str(record["delta"]),
        "promote.delta_ci": "None" if ci is None else f"{ci[0]} {ci[1]}",
        "promote.p_value": str(record["p_value"]),
        "promote.test": record["gate"]["test"],
        "promote.slices": json.dumps(slices)[:7000],
        "promote.triggered_by": by,
        "promote.decided_at": record["decided_at"],
        "promote.report": record["report_uri"],
    }
    return tags


def _marker(record: dict[str, Any], state_after: tuple[str | None, int]) -> str:
    return json.dumps(
        {
            "decision_id": record["decision_id"],
            "decision_key": record["decision_key"],
            "model_name": record["model_name"],
            "alias": record["alias"],
            "promoted": record["promoted"],
            "registered_version": record["registered_version"],
            "alias_version": state_after[0],
            "ledger_seq": state_after[1],
        },
        sort_keys=True,
    )


def _write_tags(ctx: Context, record: dict[str, Any], state_after: tuple[str | None, int]) -> None:
    from mlflow.entities import RunTag

    tags = summary_tags(record)
    marker = _marker(record, state_after)
    version = record["registered_version"]
    # A version that already holds the alias keeps the record of the decision that put it there.
    if version is not None and record["rule"] != "already_champion":
        for key, value in {**tags, DECISION_TAG: marker}.items():
            ctx.client.set_model_version_tag(ctx.opts.model_name, str(version), key, value)
    ctx.client.log_batch(ctx.best.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
    # Last: its presence marks the decision complete (a crash before it decides again).
    ctx.client.set_tag(ctx.best.run_id, DECISION_TAG, marker)


def _recorded(client: Any, best: Candidate, key: str, state: registry.State) -> dict[str, Any] | None:
    """The decision an earlier run of this very promote completed, if nothing moved since."""
    raw = best.tags.get(DECISION_TAG)
    if not raw:
        return None
    try:
        marker = json.loads(raw)
    except ValueError:
        return None
    same = (
        marker.get("decision_key") == key
        and str(marker.get("alias_version")) == str(state.champion)
        and marker.get("ledger_seq") == state.head_seq
    )
    if not same:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="promote-") as scratch:
            path = client.download_artifacts(
                best.run_id, f"{ARTIFACT_DIR}/{marker['decision_id']}/decision.json", scratch
            )
            return json.loads(Path(path).read_text())
    except Exception as exc:  # the artifact is gone: decide again
        log.warning("recorded decision %s unreadable (%s); deciding again", marker.get("decision_id"), exc)
        return None


# --------------------------------------------------------------------------- the command


def run(opts: PromoteOptions) -> dict[str, Any]:
    if not opts.model_name.strip():
        raise StageError("--model-name is empty", "name the registered model, e.g. census-never-married")
    opts.gate.check()
    check_slice_by(opts.slice_by)
    raw = parse_candidates(opts.candidates)
    check_names(opts.model_name, opts.alias)  # imports MLflow (2-3 s) only once the input is sound
    client = tracking.connect()
    with tracking.bounded("promote"):
        record = _promote(client, opts, raw)
    # The table people read at the end of a run (make demo, the DAG's promote log, trigger_dag.py).
    record["summary"] = summary.table(raw, record)
    return record


def _promote(client: Any, opts: PromoteOptions, raw: list[dict[str, Any]]) -> dict[str, Any]:
    experiment_id = tracking.existing_experiment(client, opts.experiment)
    candidates = [verify(client, c, experiment_id, opts.experiment) for c in raw]
    splits = {c.test_sha256 for c in candidates}
    if len(splits) > 1:
        raise StageError(
            f"the {len(candidates)} candidates were scored on {len(splits)} different holdouts",
            "promote candidates of one preprocess output together (or one at a time)",
        )
    best = best_candidate(candidates)
    log.info(
        "best of %d verified candidate(s): %s (run %s) holdout roc_auc %.4f",
        len(candidates), best.model, best.run_id, best.roc_auc,
    )  # fmt: skip
    manifest = data.load_manifest(best.features_uri)
    if manifest.test_sha256 != best.test_sha256:
        raise StageError(
            f"{manifest.uri} now names a different test split than candidate {best.run_id} was scored on",
            "re-run the fit tasks on the current features, then promote",
        )
    attributes = list(opts.slice_by) if opts.slice_by is not None else _manifest_slices(manifest)
    key = decision_key(opts, [c.run_id for c in candidates], attributes)
    state = registry.read(client, opts.model_name, opts.alias)
    recorded = _recorded(client, best, key, state)
    if recorded is not None:
        log.info(
            "this promote was decided before (%s, %s); returning that decision",
            recorded["decision_id"],
            recorded["rule"],
        )
        return recorded

    started = time.monotonic()
    X, y = data.read_split(manifest, "test")
    data.require_two_classes(y, "test")
    absent = [a for a in attributes if not compare.slice_columns(list(X.columns), a)]
    if absent:
        raise StageError(
            f"slice attribute(s) {absent} have no one-hot columns <attribute>_<value> in {manifest.test_uri}",
            "pass --slice-by attributes of the features (e.g. sex,race), or --slice-by '' for none",
        )
    try:
        loaded = scoring.load(best.model_uri)
    except Exception as exc:
        raise StageError(
            f"the logged model {best.model_uri} of run {best.run_id} cannot be loaded ({type(exc).__name__}: "
            f"{str(exc)[:150]})",
            "re-run the fit task",
        ) from exc
    own = holdout.align(X, loaded.features)
    if not own.ok:
        raise StageError(
            f"the model of run {best.run_id} does not fit its own holdout: {own.problem}",
            "re-run the fit task",
        )
    proba = scoring.predict(loaded, own)
    rescored = compare.auc(y.to_numpy(), proba)
    if abs(rescored - best.roc_auc) > METRIC_TOLERANCE:
        raise StageError(
            f"the logged model of run {best.run_id} scores roc_auc {rescored:.6f} on its holdout, not the "
            f"{best.roc_auc:.6f} the run logged",
            "the model or its holdout changed after the fit; re-run the fit task",
        )
    ctx = Context(client, opts, best, manifest, X, y.to_numpy(), loaded, proba, attributes, key)
    prepare_seconds = time.monotonic() - started

    rounds: list[int | None] = []
    gate_seconds = 0.0
    for _ in range(MAX_ROUNDS):
        t0 = time.monotonic()
        assessment = assess(ctx, state)
        verdict = assessment.verdict
        if opts.force and not verdict.promoted:
            verdict = gate.forced(verdict)
        record = _record(ctx, assessment, verdict, state)
        gate_seconds += time.monotonic() - t0
        rounds.append(record["champion_version"])
        log.info("decision against %s: %s", state.champion and f"v{state.champion}", verdict.reason)
        if not verdict.promoted or verdict.rule == "already_champion":
            if verdict.rule == "already_champion":
                record["registered_version"] = record["champion_version"]
            elif opts.register_challengers:
                record["registered_version"] = int(_register(ctx))
            elif existing := _versions_of_run(ctx):  # e.g. a champion rolled back: tag that version too
                record["registered_version"] = int(existing[0].version)
            after = (state.champion, state.head_seq)
            break
        if not state.exists:  # the lock lives on the registered model
            registry.ensure_model(client, opts.model_name, _description(ctx.manifest))
        with registry.alias_lock(client, opts.model_name, opts.alias):
            now = registry.read(client, opts.model_name, opts.alias)
            if now.champion != state.champion:
                log.info(
                    "the %s moved to v%s while deciding against %s; deciding again",
                    opts.alias, now.champion, state.champion and f"v{state.champion}",
                )  # fmt: skip
                state = now
                continue
            version = _register(ctx)
            entry = registry.move(
                client, opts.model_name, opts.alias, version, now,
                {"action": "force" if verdict.rule == "forced" else "promote", "run_id": best.run_id,
                 "rule": verdict.rule, "reason": verdict.reason, "by": record["trigger"],
                 "decision_key": key, "decision_id": record["decision_id"]},
            )  # fmt: skip
        record["registered_version"] = int(version)
        record["ledger_seq"] = entry["seq"]
        after = (version, entry["seq"])
        log.info("%s -> version %s (ledger #%d)", opts.alias, version, entry["seq"])
        break
    else:
        raise StageError(
            f"the {opts.alias} alias of {opts.model_name} moved {MAX_ROUNDS} times while promote decided",
            "re-run promote once the other promotions have finished",
        )
    record["rounds"] = rounds
    t0 = time.monotonic()
    page = report.render(record, assessment.curves)
    # What the gate adds to a promotion: loading and scoring both models, the paired test, the
    # slices and the report (the registry writes are not part of it).
    record["gate_seconds"] = round(prepare_seconds + gate_seconds + time.monotonic() - t0, 3)
    _artifacts(ctx, record, page)
    _write_tags(ctx, record, after)
    log.info("decision report: %s", record["report_uri"])
    return record


def _manifest_slices(manifest: data.Manifest) -> list[str]:
    value = manifest.raw.get("slice_by", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise StageError(
            f"{manifest.uri}: 'slice_by' must be a list of attribute names", "re-run the preprocessor"
        )
    return list(value)
