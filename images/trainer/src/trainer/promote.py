"""`trainer promote`: register the best candidate and move the champion alias if it wins.

Rules (also in the README):
1. The best candidate has the highest holdout roc_auc; ties go to the model name, then run id
   (alphabetical), so the choice never depends on the order of the list.
2. It is registered once: a version already created from the same run is reused.
3. The current champion (models:/NAME@ALIAS) is scored on the best candidate's own holdout (the
   test split named by its features manifest). When the champion's run was itself evaluated on that
   very split (its `census.test_sha256` tag equals the candidate's), the holdout roc_auc it logged
   is that score, and the model is not loaded again (skops' import alone costs ~3 s). The alias
   moves only if the candidate's roc_auc is strictly higher; a tie keeps the champion.
4. If the champion cannot be scored on that holdout (its input columns differ from the manifest's
   features, or its artifact cannot be loaded), it cannot defend its title: the candidate is
   promoted and the reason says why.
5. The decision is stored as tags on the version and on the run (promote.*). Promoting a version
   that already holds a decision returns that decision unchanged, so re-runs are no-ops.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from pathlib import Path
from typing import Any

from pipeline_common import timing
from pipeline_common.errors import StageError
from pipeline_common.uris import parse_location

from trainer import data, metrics, models, tracking

log = logging.getLogger(__name__)
REQUIRED = ("model", "run_id", "model_uri", "metrics", "features_uri", "test_sha256")
DECISION_TAG = "promote.decision"
FIX_CANDIDATES = (
    "pass --candidates a JSON array of `trainer fit` results (their return.json objects) or @FILE holding one"
)


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
            f"{source} holds no candidates", "run at least one `trainer fit` task before promote"
        )
    for i, cand in enumerate(candidates):
        if not isinstance(cand, dict):
            raise StageError(f"{source}[{i}] is not an object", FIX_CANDIDATES)
        missing = [k for k in REQUIRED if k not in cand]
        if missing:
            raise StageError(
                f"{source}[{i}] (model {cand.get('model', '?')}) lacks {missing}", FIX_CANDIDATES
            )
        auc = cand["metrics"].get("roc_auc") if isinstance(cand["metrics"], dict) else None
        if not isinstance(auc, int | float) or isinstance(auc, bool) or not math.isfinite(auc):
            raise StageError(
                f"{source}[{i}] (model {cand['model']}) has no numeric metrics.roc_auc", FIX_CANDIDATES
            )
    return candidates


def best_candidate(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(
        candidates, key=lambda c: (-float(c["metrics"]["roc_auc"]), str(c["model"]), str(c["run_id"]))
    )[0]


def _version_of_run(client: Any, name: str, run_id: str) -> Any | None:
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    return min(versions, key=lambda v: int(v.version)) if versions else None


def _register(client: Any, name: str, cand: dict[str, Any]) -> Any:
    import mlflow
    from mlflow.exceptions import MlflowException

    existing = _version_of_run(client, name, cand["run_id"])
    if existing is not None:
        log.info("run %s is already version %s of %s; reusing it", cand["run_id"], existing.version, name)
        return existing
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Census adult income: predicts never_married (see the census-pipeline README)"
        )
    version = mlflow.register_model(cand["model_uri"], name, tags={"census.model": str(cand["model"])})
    log.info("registered %s as version %s of %s", cand["model_uri"], version.version, name)
    return client.get_model_version(name, version.version)


def _load_sklearn(client: Any, name: str, version: Any) -> Any:
    """Load a registered sklearn model with the trainer's own skops allow-list.

    The allow-list comes from this code, not from the artifact (an artifact could list anything).
    """
    import mlflow
    import skops.io
    import yaml

    dst = tempfile.mkdtemp(prefix="champion-")
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version.version}", dst_path=dst))
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"].get("sklearn", {})
    if flavor.get("serialization_format") != "skops":
        raise ValueError(f"serialised as {flavor.get('serialization_format')!r}, not skops")
    return skops.io.load(local / flavor["pickled_model"], trusted=models.ALL_TRUSTED_TYPES or None)


def _recorded_score(client: Any, champion: Any, test_sha256: str) -> float | None:
    """The holdout roc_auc the champion's run logged, if that run was evaluated on this test split."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(champion.run_id)
    except MlflowException:  # a deleted run: score the model itself
        return None
    if run.data.tags.get("census.test_sha256") != test_sha256:
        return None
    score = run.data.metrics.get("roc_auc")
    return float(score) if score is not None and math.isfinite(score) else None


def _score_champion(
    client: Any, name: str, champion: Any, cand: dict[str, Any]
) -> tuple[float | None, str | None]:
    """(roc_auc on the candidate's holdout, None) or (None, why it cannot be scored)."""
    manifest = data.load_manifest(cand["features_uri"])
    if manifest.test_sha256 != cand["test_sha256"]:
        raise StageError(
            f"{manifest.uri} now names a different test split than candidate {cand['run_id']} was scored on",
            "re-run the fit tasks on the current features, then promote",
        )
    recorded = _recorded_score(client, champion, cand["test_sha256"])
    if recorded is not None:
        log.info(
            "champion v%s was scored on this holdout when trained: roc_auc %.4f", champion.version, recorded
        )
        return recorded, None
    log.info("champion v%s was trained on another split: scoring it on this holdout", champion.version)
    try:
        model = _load_sklearn(client, name, champion)
    except Exception as exc:
        return None, f"champion v{champion.version} cannot be loaded ({type(exc).__name__}: {str(exc)[:150]})"
    expected = list(getattr(model, "feature_names_in_", []))
    if expected != manifest.features:
        return None, f"champion v{champion.version} takes different input columns than {manifest.uri}"
    X_test, y_test = data.read_split(manifest, "test")
    proba = model.predict_proba(X_test)[:, 1]
    return metrics.holdout(y_test.to_numpy(), proba)["roc_auc"], None


def run(experiment: str, model_name: str, candidates_text: str, alias: str = "champion") -> dict[str, Any]:
    if not model_name.strip():
        raise StageError("--model-name is empty", "name the registered model, e.g. census-never-married")
    if not alias.strip() or alias.strip() != alias:
        raise StageError(f"--alias {alias!r} is not a valid alias", "use e.g. champion")
    candidates = parse_candidates(candidates_text)
    for cand in candidates:
        parse_location(str(cand["features_uri"]), what="candidate features_uri")
    best = best_candidate(candidates)
    log.info(
        "best of %d candidate(s): %s (run %s) holdout roc_auc %.4f",
        len(candidates),
        best["model"],
        best["run_id"],
        best["metrics"]["roc_auc"],
    )
    # MLflow (2-3 s of imports) loads after the candidates are read and checked.
    from mlflow.exceptions import MlflowException

    client = tracking.connect()
    tracking.ensure_experiment(client, experiment)
    try:
        client.get_run(best["run_id"])
    except MlflowException as exc:
        raise StageError(
            f"run {best['run_id']} of candidate {best['model']} is not in this tracking server",
            "promote candidates trained against the same MLFLOW_TRACKING_URI",
        ) from exc

    version = _register(client, model_name, best)
    base = {
        "model_name": model_name,
        "alias": alias,
        "best_model": best["model"],
        "run_id": best["run_id"],
        "registered_version": int(version.version),
        "roc_auc": float(best["metrics"]["roc_auc"]),
    }

    recorded = version.tags.get(DECISION_TAG)
    if recorded:
        decision = json.loads(recorded)
        log.info(
            "version %s already has a promote decision (%s); nothing to do",
            version.version,
            decision["reason"],
        )
        return {**base, **decision}

    try:
        champion = client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        champion = None
    if champion is None:
        decision = {
            "champion_version": None,
            "champion_roc_auc": None,
            "promoted": True,
            "reason": f"no {alias} yet: version {version.version} becomes {alias}",
        }
    elif champion.version == version.version:
        decision = {
            "champion_version": int(champion.version),
            "champion_roc_auc": base["roc_auc"],
            "promoted": True,
            "reason": f"version {version.version} already holds {alias}",
        }
    else:
        score, problem = _score_champion(client, model_name, champion, best)
        if score is not None:
            # Candidates carry roc_auc rounded to 6 places (return.json); compare like with like,
            # or an identical model would "beat" the champion by rounding.
            score = round(score, 6)
        if score is None:
            decision = {
                "champion_version": int(champion.version),
                "champion_roc_auc": None,
                "promoted": True,
                "reason": f"{problem}; deciding by the candidate: version {version.version} becomes {alias}",
            }
        elif base["roc_auc"] > score:
            decision = {
                "champion_version": int(champion.version),
                "champion_roc_auc": round(score, 6),
                "promoted": True,
                "reason": f"roc_auc {base['roc_auc']:.4f} beats {alias} v{champion.version} ({score:.4f}) "
                "on the same holdout",
            }
        else:
            decision = {
                "champion_version": int(champion.version),
                "champion_roc_auc": round(score, 6),
                "promoted": False,
                "reason": f"roc_auc {base['roc_auc']:.4f} does not beat {alias} v{champion.version} "
                f"({score:.4f}) on the same holdout",
            }
    log.info("decision: %s", decision["reason"])

    if decision["promoted"]:
        client.set_registered_model_alias(model_name, alias, version.version)
    flat = {
        "promote.promoted": str(decision["promoted"]).lower(),
        "promote.reason": decision["reason"],
        "promote.roc_auc": str(base["roc_auc"]),
        "promote.champion_version": str(decision["champion_version"]),
        "promote.champion_roc_auc": str(decision["champion_roc_auc"]),
        "promote.alias": alias,
    }
    for key, value in flat.items():
        client.set_model_version_tag(model_name, version.version, key, value)
        client.set_tag(best["run_id"], key, value)
    # Written last: its presence marks the decision complete (a crash before it re-decides).
    client.set_model_version_tag(
        model_name, version.version, DECISION_TAG, json.dumps(decision, sort_keys=True)
    )
    return {**base, **decision}
