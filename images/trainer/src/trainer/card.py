"""The model card of one fit: a self-contained HTML page logged with its run (model_card.html).

What the model predicts, the data it saw (source, rows, sha256, positive rate), the grid and the
parameters chosen, CV and holdout scores, the four plots, the scores per slice of the manifest's
`slice_by` attributes and where it came from (image, Airflow run). One page, so a person opening
the run in MLflow's artifact view reads the whole story; built with trainer/page.py like the
decision report.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer import compare, page

ARTIFACT = "model_card.html"
# The keys of slice_metrics' rows (evaluation/slices.csv).
SLICE_COLUMNS = (
    "attribute",
    "value",
    "rows",
    "positives",
    "positive_rate",
    "mean_score",
    "roc_auc",
    "accuracy",
)


@dataclass
class Fit:
    """Everything the card shows about one fit (train.py fills it in as it logs the run)."""

    model: str
    description: str
    run_id: str
    run_name: str
    experiment: str
    grid: str
    subgrids: list[dict[str, list[Any]]]
    search: str
    cv: int
    n_candidates: int
    n_fits: int
    n_model_fits: int
    best_params: dict[str, Any]
    cv_mean: float
    cv_std: float
    search_seconds: float
    refit_seconds: float
    converged: bool
    scores: dict[str, float]
    report: dict[str, Any]  # metrics.at_threshold
    labels: tuple[str, str]
    manifest: dict[str, Any]  # the features.json as read (data.Manifest.raw) plus its uri
    slices: list[dict[str, Any]]
    lineage: dict[str, str]
    trainer_version: str
    plots: list[tuple[str, bytes]] = field(default_factory=list)  # (what it shows, PNG bytes)


def slice_by(manifest: dict[str, Any]) -> list[str]:
    """The manifest's slice attributes; anything malformed means none (the card still renders)."""
    value = manifest.get("slice_by", [])
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


def slice_metrics(
    y: Any, proba: Any, frame: Any, attributes: list[str], threshold: float
) -> list[dict[str, Any]]:
    """Per one-hot column `<attribute>_<value>` of the holdout: rows, positives and the model's scores."""
    labels = np.asarray(y, dtype=np.int64)
    scores = np.asarray(proba, dtype=np.float64)
    out = []
    for attribute in attributes:
        for column in compare.slice_columns(list(frame.columns), attribute):
            mask = np.asarray(frame[column]) == 1
            rows, positives = int(mask.sum()), int(labels[mask].sum())
            out.append(
                {
                    "attribute": attribute,
                    "value": column[len(attribute) + 1 :],
                    "rows": rows,
                    "positives": positives,
                    "positive_rate": positives / rows if rows else None,
                    "mean_score": float(scores[mask].mean()) if rows else None,
                    # A slice of one class has no ROC AUC.
                    "roc_auc": compare.auc(labels[mask], scores[mask]) if 0 < positives < rows else None,
                    "accuracy": float(((scores[mask] >= threshold) == labels[mask]).mean()) if rows else None,
                }
            )
    return out


def _grid_table(subgrids: list[dict[str, list[Any]]]) -> str:
    rows = []
    for i, sub in enumerate(subgrids):
        for name, values in sub.items():
            shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
            rows.append([f"{i + 1}" if len(subgrids) > 1 else "", name, shown])
    head = ["sub-grid", "parameter", "values"] if len(subgrids) > 1 else ["", "parameter", "values"]
    if len(subgrids) == 1:
        return page.table(head[1:], [r[1:] for r in rows], align=False)
    return page.table(head, rows, align=False)


def _report_table(report: dict[str, Any]) -> str:
    rows = [
        [name, v["precision"], v["recall"], v["f1-score"], int(v["support"])]
        for name, v in {**report["classes"], **report["averages"]}.items()
    ]
    return page.table(["class", "precision", "recall", "F1", "rows"], rows)


def _share(value: float | None) -> str | None:
    return None if value is None else f"{value:.1%}"


def _slice_table(slices: list[dict[str, Any]]) -> str:
    if not slices:
        return '<p class="muted">The features manifest names no slice attributes (slice_by).</p>'
    rows = [
        [s["attribute"], s["value"], s["rows"], s["positives"], _share(s["positive_rate"]),
         _share(s["mean_score"]), s["roc_auc"], _share(s["accuracy"])]
        for s in slices
    ]  # fmt: skip
    return page.table(
        ["attribute", "value", "rows", "positives", "positive rate", "mean predicted", "ROC AUC", "accuracy"],
        rows,
    )


def _lineage(fit: Fit) -> list[tuple[str, Any]]:
    facts = fit.lineage
    airflow = (
        f"DAG {facts['airflow.dag_id']}, run {facts.get('airflow.run_id', '?')}, task "
        f"{facts.get('airflow.task_id', '?')}, try {facts.get('airflow.try_number', '?')}"
        if facts.get("airflow.dag_id")
        else "none (run outside Airflow)"
    )
    return [
        ("MLflow run", f"{fit.run_name} ({fit.run_id}), experiment {fit.experiment}"),
        ("image", facts.get("stage_image") or "none (run outside a stage image)"),
        ("Airflow", airflow),
        ("trainer version", fit.trainer_version),
        ("features manifest", fit.manifest.get("uri")),
    ]


def render(fit: Fit) -> str:
    m = fit.manifest
    negative, positive = fit.labels
    rows = m.get("rows") if isinstance(m.get("rows"), dict) else {}
    support = {name: int(v["support"]) for name, v in fit.report["classes"].items()}
    holdout_rate = support[positive] / max(sum(support.values()), 1)
    overall = m.get("positive_rate")
    rate = f"{holdout_rate:.1%} {positive} in the holdout" + (
        f", {overall:.1%} in all rows" if isinstance(overall, int | float) else ""
    )
    data = [
        ("dataset", m.get("dataset")),
        ("source", m.get("source") or m.get("input_uri")),
        ("raw extract", f"{m.get('input_uri', '-')} (sha256 {m.get('input_sha256', '-')})"),
        ("train split", f"{page.fmt(rows.get('train'))} rows, sha256 {m.get('train_sha256', '-')}"),
        ("test split (holdout)", f"{page.fmt(rows.get('test'))} rows, sha256 {m.get('test_sha256', '-')}"),
        ("positive rate", rate),
        ("features", f"{len(m.get('features', []))} columns"),
        ("split", f"test size {m.get('test_size', '-')}, seed {m.get('seed', '-')}"),
    ]
    search = [
        ("model", f"{fit.model}: {fit.description}"),
        ("grid", f"{fit.grid}: {fit.n_candidates} candidates"),
        ("search", f"{fit.search}, {fit.cv}-fold stratified CV: {fit.n_fits} CV fits, "
                   f"{fit.n_model_fits} models grown"),
        ("chosen parameters", ", ".join(f"{k}={v}" for k, v in sorted(fit.best_params.items()))),
        ("converged", "yes" if fit.converged else "no: stopped at max_iter (its scores stand)"),
        ("time", f"search {fit.search_seconds:.1f} s, refit {fit.refit_seconds:.1f} s"),
    ]  # fmt: skip
    scores = [
        ("CV ROC AUC (mean ± std over folds)", f"{fit.cv_mean:.4f} ± {fit.cv_std:.4f}"),
        ("holdout ROC AUC", fit.scores["roc_auc"]),
        ("holdout PR AUC (average precision)", fit.scores["pr_auc"]),
        ("holdout log loss", fit.scores["log_loss"]),
        (f"accuracy at threshold {fit.report['threshold']:g}", fit.report["accuracy"]),
        (f"F1 of {positive} at threshold {fit.report['threshold']:g}", fit.report["f1"]),
    ]
    title = f"Model card: {fit.model} predicting {positive}"
    body = (
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="lead">{html.escape(fit.run_name)} · predicts <b>{html.escape(positive)}</b> (class 1) '
        f"against <b>{html.escape(negative)}</b> (class 0), target <code>{html.escape(str(m.get('target')))}"
        "</code></p>"
        f"<h2>Scores</h2>{page.facts(scores)}"
        f"<h2>Plots (holdout)</h2>{page.images(fit.plots)}"
        f"<h2>Classification report at threshold {fit.report['threshold']:g}</h2>{_report_table(fit.report)}"
        f"<h2>Slices (holdout)</h2>{_slice_table(fit.slices)}"
        f"<h2>Data</h2>{page.facts(data)}"
        f"<h2>Search</h2>{page.facts(search)}{_grid_table(fit.subgrids)}"
        f"<h2>Lineage</h2>{page.facts(_lineage(fit))}"
    )
    return page.document(title, body)
