"""`trainer train`: cross-validated search on the train split, holdout scores, one MLflow run.

Retries of an Airflow task do not train twice: the run carries a task key (dag_id/run_id/task_id);
a FINISHED run with the same key and model is returned as is, and RUNNING leftovers of a killed
earlier attempt are marked KILLED. A run that fails (exception or SIGTERM) ends as FAILED.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline_common.errors import StageError
from pipeline_common.lineage import lineage
from pipeline_common.resources import available_cpus

from trainer import __version__ as trainer_version
from trainer import card, data, fit_costs, grids, metrics, models, page, plots, search, tracking, trust_probe

log = logging.getLogger(__name__)
SEED = 55
RESULT_ARTIFACT = "fit_result.json"
INPUT_EXAMPLE_ROWS = 5
# Imported in the background during the search, which leaves this process waiting on its workers;
# after it they would come one after the other before the run ends (~2.5 s, skops ~1.6 of it).
AFTER_SEARCH_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_agg", "skops.io")


@dataclass(frozen=True)
class TrainOptions:
    model: str
    features_uri: str
    experiment: str
    grid: str = "full"
    search: str = "grid"
    cv: int = 5
    n_jobs: int | None = None


def task_key() -> str | None:
    """dag_id/run_id/task_id of the Airflow task running this pod; None outside Airflow.

    The try number is left out on purpose: a retry must find the run of the attempt before it.
    """
    facts = lineage()
    parts = [facts.get(k) for k in ("airflow.dag_id", "airflow.run_id", "airflow.task_id")]
    return "/".join(parts) if all(parts) else None  # type: ignore[arg-type]


def _budget(requested: int | None) -> int:
    cpus = available_cpus()
    if requested is None:
        return cpus
    if requested < 1:
        raise StageError(
            f"--n-jobs {requested} is not a positive number", "pass --n-jobs 1 or more, or leave it out"
        )
    if requested > cpus:
        log.warning(
            "--n-jobs %d exceeds the %d CPU(s) of this stage; using %d (oversubscription only slows it)",
            requested,
            cpus,
            cpus,
        )
        return cpus
    return requested


def _pip_requirements(spec: models.ModelSpec) -> list[str]:
    """Pins of what loading the model needs, from this image (skips MLflow's slow inference)."""
    pins = []
    for dist in spec.pip_packages:
        with contextlib.suppress(metadata.PackageNotFoundError):
            pins.append(f"{dist}=={metadata.version(dist)}")
    for dist in ("mlflow-skinny", "mlflow"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            pins.insert(0, f"mlflow-skinny=={metadata.version(dist)}")
            break
    return pins


@contextlib.contextmanager
def _trusted_local_load() -> Iterator[None]:
    """Let MLflow load back the model it just wrote (serving-input validation) in this process only."""
    saved = os.environ.get("MLFLOW_ALLOW_PICKLE_DESERIALIZATION")
    os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "true"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", None)
        else:
            os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = saved


@contextlib.contextmanager
def _untrusted_types_named(spec: models.ModelSpec) -> Iterator[None]:
    """A model whose catalogue entry misses a type skops needs: one line naming the types and the fix."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        found = re.search(r"Untrusted types found in the file: \[([^\]]*)\]", str(exc))
        if not found:
            raise
        raise StageError(
            f"model {spec.name} needs skops to trust {found.group(1)} to load it back",
            f"review them and add them to trusted_types in {spec.entry.origin} (models/README.md)",
        ) from exc


def _reuse(client: Any, experiment_id: str, key: str, model: str) -> dict[str, Any] | None:
    """The result of a FINISHED run of this task, if an earlier attempt completed one."""
    from mlflow.entities import RunStatus

    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{tracking.TASK_KEY}` = '{key}' and tags.`{tracking.MODEL_TAG}` = '{model}'",
        max_results=50,
    )
    for run in runs:
        if run.info.status == "RUNNING":
            # A killed earlier attempt (SIGKILL, node loss) never ended its run.
            log.warning("marking run %s of an earlier attempt KILLED (it never finished)", run.info.run_id)
            client.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.KILLED))
    for run in runs:
        if run.info.status == "FINISHED":
            with tempfile.TemporaryDirectory(prefix="fit-result-") as scratch:
                path = client.download_artifacts(run.info.run_id, RESULT_ARTIFACT, scratch)
                result = json.loads(Path(path).read_text())
            log.info(
                "task %s already has FINISHED run %s; returning its result without training again",
                key,
                run.info.run_id,
            )
            return result
    return None


def run(opts: TrainOptions) -> dict[str, Any]:
    """Train, with every MLflow call bounded by TRAINER_MLFLOW_TIMEOUT (tracking.bounded)."""
    with tracking.bounded("train"):
        return _run(opts)


def _run(opts: TrainOptions) -> dict[str, Any]:
    started = time.monotonic()
    spec = models.get(opts.model)
    if opts.search not in search.SEARCHES:
        raise StageError(f"unknown --search {opts.search!r}", f"use one of {list(search.SEARCHES)}")
    if opts.cv < 2:
        raise StageError(f"--cv {opts.cv} is too small", "use at least 2 folds (5 is the default)")
    tracking.tracking_uri()  # its form now; whether it answers once the input is known to be good
    # The manifest first: it is the cheapest check of the likeliest bad input (--features-uri),
    # and the grid check imports scikit-learn and LightGBM.
    manifest = data.load_manifest(opts.features_uri)
    grid = grids.load(opts.grid, opts.model)
    n_jobs = _budget(opts.n_jobs)
    # Everything that can refuse the input runs before MLflow is touched: a refused fit leaves
    # no experiment and no run behind.
    X_train, y_train = data.read_split(manifest, "train")
    X_test, y_test = data.read_split(manifest, "test")
    data.require_two_classes(y_train, "train")
    data.require_two_classes(y_test, "test")
    if y_train.value_counts().min() < opts.cv:
        raise StageError(
            f"the train split has only {y_train.value_counts().min()} rows of its rarer class, "
            f"fewer than --cv {opts.cv} folds",
            "use more data or fewer folds",
        )
    data.require_trustworthy_splits(manifest, (X_train, y_train), (X_test, y_test))
    trust_probe.require_loadable(spec, grid, X_train, y_train, SEED)

    client = tracking.connect()
    experiment_id = tracking.ensure_experiment(client, opts.experiment)
    key = task_key()
    if key:
        reused = _reuse(client, experiment_id, key, opts.model)
        if reused is not None:
            return reused

    import mlflow

    tags = {
        tracking.MODEL_TAG: opts.model,
        "pipeline.features_uri": manifest.uri,
        "pipeline.train_uri": manifest.train_uri,
        "pipeline.test_uri": manifest.test_uri,
        "pipeline.train_sha256": manifest.train_sha256,
        "pipeline.test_sha256": manifest.test_sha256,
        "pipeline.dataset": str(manifest.raw.get("dataset", "")),
        "pipeline.target": manifest.target,
        "pipeline.trainer_version": trainer_version,
        **lineage(),
    }
    if key:
        tags[tracking.TASK_KEY] = key
    log.info(
        "training %s: grid %s (%d candidates x %d folds = %d fits), %s search, %d worker(s), "
        "%d train / %d test rows",
        opts.model,
        grid.name,
        grid.n_candidates,
        opts.cv,
        grid.n_candidates * opts.cv,
        opts.search,
        n_jobs,
        len(y_train),
        len(y_test),
    )
    # The context manager ends the run FAILED on any exception, SIGTERM (Terminated) included.
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name(opts.model, grid_label(grid, spec), manifest),
        tags=tags,
    ) as active:
        run_id = active.info.run_id
        result = _train_and_log(opts, spec, grid, manifest, n_jobs, X_train, y_train, X_test, y_test)
        result.update(
            {
                "stage": "train",
                "model": opts.model,
                "run_id": run_id,
                "run_name": active.info.run_name,
                "card_uri": f"runs:/{run_id}/{card.ARTIFACT}",
                "experiment_id": experiment_id,
                "experiment": opts.experiment,
                "features_uri": manifest.uri,
                "test_sha256": manifest.test_sha256,
            }
        )
        result["seconds"] = round(time.monotonic() - started, 3)
        mlflow.log_dict(result, RESULT_ARTIFACT)
    return result


def grid_label(grid: grids.Grid, spec: models.ModelSpec) -> str:
    """The grid's catalogue name, or "custom" for a YAML file (its path says little in a run name)."""
    return grid.name if grid.name in spec.entry.grids else "custom"


def run_name(model: str, grid: str, manifest: data.Manifest) -> str:
    """`lgbm full · data 1f7f3e · 12-06 04:49Z`: runs of one experiment told apart by model, grid,
    data version (the raw extract's sha256, else the train split's) and start time (UTC), in
    that order because MLflow's runs list shows only the first ~22 characters of a name."""
    from datetime import UTC, datetime

    version = str(manifest.raw.get("input_sha256") or manifest.train_sha256)[:6]
    return f"{model} {grid} · data {version} · {datetime.now(UTC):%m-%d %H:%MZ}"


def _import_in_background(names: tuple[str, ...]) -> None:
    """Start importing `names` in a daemon thread; a later import of one waits for it to finish."""

    def load() -> None:
        for name in names:
            try:
                importlib.import_module(name)
            except ImportError as exc:  # the real import after the search reports it
                log.debug("background import of %s failed: %s", name, exc)

    threading.Thread(target=load, name="import-after-search", daemon=True).start()


def _train_and_log(
    opts: TrainOptions,
    spec: models.ModelSpec,
    grid: grids.Grid,
    manifest: data.Manifest,
    n_jobs: int,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
) -> dict[str, Any]:
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold

    cv = StratifiedKFold(n_splits=opts.cv, shuffle=True, random_state=SEED)
    estimator = spec.build(SEED)
    searcher = search.make_search(
        opts.search,
        estimator,
        grid.param_grid(),
        cv=cv,
        n_jobs=n_jobs,
        seed=SEED,
        staged=spec.staged,
        # What each candidate cost in the last run of this model and grid, for an ETA that knows
        # the costliest fits come first (only the progress lines use it).
        costs=lambda: fit_costs.previous(opts.model, grid.name),
    )
    _import_in_background(AFTER_SEARCH_MODULES)
    t0 = time.monotonic()
    # Plain float64 arrays, not a DataFrame: the searches index them per fold, and joblib
    # memory-maps large arrays to process workers instead of pickling a DataFrame per task;
    # feature names return with the refit below. Candidates that stop at
    # max_iter are scored as they are (the original example did the same) without one warning
    # per fit; only the selected model's convergence is reported, after the refit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        searcher.fit(X_train.to_numpy(), y_train.to_numpy())
    search_seconds = time.monotonic() - t0
    search.release_workers()
    best = searcher.best_index_
    cv_results = pd.DataFrame(searcher.cv_results_)
    n_fits = int(len(cv_results) * opts.cv)
    prefixed = searcher.best_params_
    best_params = {k[len(spec.prefix) :] if k.startswith(spec.prefix) else k: v for k, v in prefixed.items()}
    cv_mean = float(cv_results.loc[best, "mean_test_score"])
    cv_std = float(cv_results.loc[best, "std_test_score"])
    log.info(
        "search done in %.1f s: best %s cv roc_auc %.4f +/- %.4f",
        search_seconds,
        best_params,
        cv_mean,
        cv_std,
    )

    t0 = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = clone(estimator).set_params(**prefixed).fit(X_train, y_train)
    refit_seconds = time.monotonic() - t0
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if not converged:
        log.warning(
            "the selected model %s stopped before converging (%s); its scores stand, but consider "
            "a stronger regularisation or a larger max_iter",
            best_params,
            next(
                str(w.message).splitlines()[0] for w in caught if issubclass(w.category, ConvergenceWarning)
            ),
        )
    proba = model.predict_proba(X_test)[:, 1]
    scores = metrics.holdout(y_test.to_numpy(), proba)
    labels = plots.class_labels(manifest.raw, manifest.target)
    report = metrics.at_threshold(y_test.to_numpy(), proba, labels)
    log.info(
        "holdout: %s; at threshold %g: accuracy %.4f, f1 %.4f",
        ", ".join(f"{k} {scores[k]:.4f}" for k in metrics.HEADLINE),
        report["threshold"],
        report["accuracy"],
        report["f1"],
    )
    # Models actually grown: fewer than n_fits when the staged search shares fits.
    n_model_fits = int(getattr(searcher, "n_model_fits_", n_fits))
    mlflow.log_params(
        {
            "model": opts.model,
            "grid": grid.name,
            "search": opts.search,
            "cv": opts.cv,
            "n_jobs": n_jobs,
            "n_candidates": len(cv_results),
            "n_fits": n_fits,
            "n_model_fits": n_model_fits,
            "seed": SEED,
            **{f"best.{k}": v for k, v in best_params.items()},
        }
    )
    # Only what people compare across runs (MLflow's runs list shows every metric as a column);
    # the classification report, timings and counts are in the model card and its artifacts.
    mlflow.log_metrics(
        {
            **scores,
            "cv_roc_auc_mean": cv_mean,
            "cv_roc_auc_std": cv_std,
            "fit_seconds": search_seconds + refit_seconds,
        }
    )
    mlflow.set_tag("pipeline.converged", str(converged).lower())
    _log_evaluation(
        card.Fit(
            model=opts.model,
            description=spec.description,
            run_id=mlflow.active_run().info.run_id,  # type: ignore[union-attr]
            run_name=mlflow.active_run().info.run_name,  # type: ignore[union-attr]
            experiment=opts.experiment,
            grid=grid.name,
            subgrids=[dict(sub) for sub in grid.subgrids],
            search=opts.search,
            cv=opts.cv,
            n_candidates=len(cv_results),
            n_fits=n_fits,
            n_model_fits=n_model_fits,
            best_params=best_params,
            cv_mean=cv_mean,
            cv_std=cv_std,
            search_seconds=search_seconds,
            refit_seconds=refit_seconds,
            converged=converged,
            scores=scores,
            report=report,
            labels=labels,
            manifest={**manifest.raw, "uri": manifest.uri},
            slices=[],
            lineage=lineage(),
            trainer_version=trainer_version,
        ),
        spec,
        model,
        cv_results,
        X_test,
        y_test,
        proba,
    )

    t0 = time.monotonic()
    example = X_test.head(INPUT_EXAMPLE_ROWS)
    signature = infer_signature(example, model.predict_proba(example))
    import mlflow.sklearn

    with _trusted_local_load(), _untrusted_types_named(spec):
        info = mlflow.sklearn.log_model(
            sk_model=model,
            name="model",
            # skops (MLflow 3's default, no arbitrary code on load) with the model's own allow-list.
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            skops_trusted_types=list(spec.trusted_types) or None,
            pip_requirements=_pip_requirements(spec),
            signature=signature,
            input_example=example,
            pyfunc_predict_fn="predict_proba",
        )
    log.info("model logged in %.1f s: %s", time.monotonic() - t0, info.model_uri)
    return {
        "model_uri": info.model_uri,
        "metrics": {k: round(scores[k], 6) for k in metrics.HEADLINE},
        "cv_roc_auc": round(cv_mean, 6),
        "cv_roc_auc_std": round(cv_std, 6),
        "best_params": best_params,
        "n_candidates": len(cv_results),
        "n_fits": n_fits,
    }


def _log_evaluation(
    fit: card.Fit,
    spec: models.ModelSpec,
    model: Any,
    cv_results: Any,
    X_test: Any,
    y_test: Any,
    proba: Any,
) -> None:
    """The plots, the model card and the tables behind them, as the run's artifacts, in one upload.

    Each plot is drawn and encoded once: the same PNG bytes are the plots/ artifact and the
    card's inline image.
    """
    import mlflow

    t0 = time.monotonic()
    positive = fit.labels[1]
    threshold = fit.report["threshold"]
    importance = spec.importance(model, X_test, y_test, SEED)
    figures = [
        ("plots/roc_curve.png", "ROC curve on the holdout",
         plots.roc_curve(y_test, proba, fit.scores["roc_auc"], fit.model, fit.labels)),
        ("plots/precision_recall_curve.png", "Precision-recall curve on the holdout",
         plots.pr_curve(y_test, proba, fit.scores["pr_auc"], fit.model, fit.labels)),
        ("plots/confusion_matrix.png", f"Confusion matrix on the holdout at threshold {threshold:g}",
         plots.confusion_matrix(y_test, (proba >= threshold).astype(int), fit.labels, threshold)),
        ("plots/feature_importance.png", "Feature importance",
         plots.feature_importance(importance, positive)),
    ]  # fmt: skip
    fit.slices = card.slice_metrics(y_test, proba, X_test, card.slice_by(fit.manifest), threshold)
    with tempfile.TemporaryDirectory(prefix="trainer-") as tmp:
        out = Path(tmp)
        for folder in ("plots", "cv", "evaluation"):
            (out / folder).mkdir()
        for path, alt, figure in figures:
            raw = page.png_bytes(figure)
            (out / path).write_bytes(raw)
            fit.plots.append((alt, raw))
        cv_results.to_csv(out / "cv" / "cv_results.csv", index=False)
        importance.sort_values(ascending=False).to_csv(out / "cv" / "feature_importance.csv", header=True)
        (out / "evaluation" / "classification_report.json").write_text(
            json.dumps(fit.report, indent=2) + "\n"
        )
        import pandas as pd

        pd.DataFrame(fit.slices, columns=list(card.SLICE_COLUMNS)).to_csv(
            out / "evaluation" / "slices.csv", index=False
        )
        (out / card.ARTIFACT).write_text(card.render(fit), encoding="utf-8")
        mlflow.log_artifacts(tmp)
    log.info("plots, model card and evaluation tables in %.1f s: %s", time.monotonic() - t0, card.ARTIFACT)
