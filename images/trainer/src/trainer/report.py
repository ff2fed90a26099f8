"""The decision report of one promotion: a self-contained HTML page (plots inline as PNG).

The page is built with trainer/page.py, as the model card of every fit is (card.py).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer import page
from trainer.plots import AXIS_CHARS, Y_CHARS, wrap

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHAMPION_COLOUR = "#1f77b4"
CANDIDATE_COLOUR = "#d62728"
WITHIN, DROP, UNGUARDED = "#188038", "#d93025", "#9aa0a6"


@dataclass
class Curves:
    """Holdout labels and both models' probabilities on the same rows (champion may be absent)."""

    y: Any
    candidate: Any
    candidate_label: str
    champion: Any | None = None
    champion_label: str = ""
    # How people call class 0 and 1 (the features manifest's target_labels), for the axes.
    labels: tuple[str, str] = ("negative", "positive")


_figure = page.figure


def _series(curves: Curves) -> list[tuple[str, Any, str]]:
    out = []
    if curves.champion is not None:
        out.append((curves.champion_label, curves.champion, CHAMPION_COLOUR))
    out.append((curves.candidate_label, curves.candidate, CANDIDATE_COLOUR))
    return out


def roc_figure(curves: Curves) -> Figure:
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure()
    for label, proba, colour in _series(curves):
        fpr, tpr, _ = roc_curve(curves.y, proba)
        ax.plot(fpr, tpr, color=colour, lw=1.6, label=f"{label}: AUC {roc_auc_score(curves.y, proba):.4f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", lw=1, label="chance: AUC 0.5")
    negative, positive = curves.labels
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.set_xlabel(wrap(f"False positive rate: share of {negative} predicted {positive}", AXIS_CHARS - 4))
    ax.set_ylabel(wrap(f"True positive rate: share of {positive} found", Y_CHARS - 2))
    ax.set_title(f"ROC curves, same {len(curves.y):,} holdout rows")
    ax.legend(loc="lower right", fontsize="small")
    return fig


def pr_figure(curves: Curves) -> Figure:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = _figure()
    for label, proba, colour in _series(curves):
        precision, recall, _ = precision_recall_curve(curves.y, proba)
        ap = average_precision_score(curves.y, proba)
        ax.plot(recall, precision, color=colour, lw=1.6, label=f"{label}: AP {ap:.4f}")
    rate = float(np.mean(np.asarray(curves.y, dtype=np.float64)))
    positive = curves.labels[1]
    ax.axhline(
        rate, linestyle="--", color="grey", lw=1, label=f"chance: {rate:.1%} are {wrap(positive, 20, 1)}"
    )
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.set_xlabel(wrap(f"Recall: share of {positive} found", AXIS_CHARS - 4))
    ax.set_ylabel(wrap(f"Precision: correct share of predicted {positive}", Y_CHARS - 2))
    ax.set_title(f"Precision-recall curves, same {len(curves.y):,} rows")
    ax.legend(loc="lower left", fontsize="small")
    return fig


def slice_figure(slices: list[dict[str, Any]], max_slice_drop: float, min_slice_rows: int) -> Figure | None:
    """Candidate minus champion ROC AUC per slice, with the guard's limit."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    rows = [s for s in slices if s["delta"] is not None]
    if not rows:
        return None
    fig, ax = _figure((5.2, 0.34 * len(rows) + 2.2))
    labels = [f"{s['attribute']}={s['value']} ({s['rows']:,})" for s in rows][::-1]
    deltas = [s["delta"] for s in rows][::-1]
    colours = [DROP if s["dropped"] else (UNGUARDED if not s["guarded"] else WITHIN) for s in rows][::-1]
    ax.barh(range(len(rows)), deltas, color=colours)
    ax.set_yticks(range(len(rows)), labels, fontsize="small")
    ax.axvline(0, color="black", lw=0.8)
    ax.axvline(-max_slice_drop, color=DROP, lw=1, linestyle="--")
    reach = max([abs(d) for d in deltas] + [max_slice_drop]) * 1.15
    ax.set_xlim(-reach, reach)
    ax.set_xlabel("ROC AUC change, candidate - champion")
    ax.set_title("Change per slice (rows)")
    handles = [
        Patch(color=WITHIN, label="guarded, within the limit"),
        Patch(color=DROP, label="guarded, beyond the limit"),
        Patch(color=UNGUARDED, label=f"not guarded (< {min_slice_rows:,} rows)"),
        Line2D([], [], color=DROP, lw=1, linestyle="--", label=f"limit -{max_slice_drop:g}"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize="small")
    return fig


png = page.png


def figures(record: dict[str, Any], curves: Curves | None) -> list[tuple[str, Figure]]:
    out: list[tuple[str, Figure]] = []
    if curves is not None:
        out.append(("ROC curves of both models on the same holdout rows", roc_figure(curves)))
        out.append(("Precision-recall curves of both models on the same holdout rows", pr_figure(curves)))
    gate = record["gate"]
    sliced = slice_figure(
        record.get("slices") or [], float(gate["max_slice_drop"]), int(gate["min_slice_rows"])
    )
    if sliced is not None:
        out.append(("ROC AUC change per slice", sliced))
    return out


_fmt = page.fmt


def _slice_table(slices: list[dict[str, Any]], gate: dict[str, Any], compared: bool) -> str:
    if not slices and not compared:  # e.g. the first promotion: nothing to compare a slice with
        return (
            '<p class="muted">No champion was scored, so no slice changed; the candidate\'s scores per '
            "slice are in its model card (model_card.html of its run).</p>"
        )
    if not slices:
        return (
            '<p class="muted">No slice attributes (the features manifest names none and no --slice-by).</p>'
        )
    head = (
        "<tr><th>attribute</th><th>value</th><th>rows</th><th>positives</th><th>champion AUC</th>"
        "<th>candidate AUC</th><th>change</th><th>guard</th></tr>"
    )
    body = []
    for s in slices:
        if s["delta"] is None:
            status = "single class: no AUC"
        elif not s["guarded"]:
            status = f"not guarded (&lt; {gate['min_slice_rows']:,} rows)"
        elif s["dropped"]:
            status = f"DROP beyond -{gate['max_slice_drop']:g}"
        else:
            status = "ok"
        delta = "-" if s["delta"] is None else f"{s['delta']:+.4f}"
        row = '<tr class="drop">' if s["dropped"] else "<tr>"
        body.append(
            f"{row}<td>{html.escape(s['attribute'])}</td>"
            f"<td>{html.escape(str(s['value']))}</td><td class=num>{s['rows']:,}</td>"
            f"<td class=num>{s['positives']:,}</td><td class=num>{_fmt(s['champion_roc_auc'])}</td>"
            f"<td class=num>{_fmt(s['candidate_roc_auc'])}</td><td class=num>{delta}</td>"
            f"<td>{status}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


def render(record: dict[str, Any], curves: Curves | None) -> str:
    """The page for one decision record (promote's return.json) and its holdout curves."""
    name, alias = record["model_name"], record["alias"]
    verdict = "PROMOTED: the candidate now holds" if record["promoted"] else "KEPT: the champion still holds"
    klass = "promoted" if record["promoted"] else "kept"
    ci = record.get("delta_ci")
    facts = [
        ("rule", f"{record['rule']}: {_rule_text(record['rule'])}"),
        ("candidate", f"{record['best_model']} run {record['run_id']}"
         + (f", version {record['registered_version']}" if record.get("registered_version") else "")),
        ("champion", "none" if record.get("champion_version") is None
         else f"version {record['champion_version']} run {record.get('champion_run_id') or '?'}"),
        ("holdout", _holdout_text(record.get("holdout"))),
        ("candidate ROC AUC", record.get("roc_auc")),
        ("champion ROC AUC", record.get("champion_roc_auc")),
        ("difference", None if record.get("delta") is None else f"{record['delta']:+.4f}"),
        ("95% interval", None if not ci else f"{ci[0]:+.4f} to {ci[1]:+.4f}"),
        ("p-value (one-sided)", None if record.get("p_value") is None
         else f"{record['p_value']:.3g} ({record['gate']['test']})"),
        ("detectable gain (80% power)", record.get("detectable_delta")),
        ("gate", ", ".join(f"{k} {v}" for k, v in record["gate"].items())),
        ("triggered by", _trigger_text(record.get("trigger") or {})),
        ("decided at", record.get("decided_at")),
        ("decision id", record.get("decision_id")),
    ]  # fmt: skip
    images = page.images((alt, page.png_bytes(fig)) for alt, fig in figures(record, curves))
    slices = _slice_table(
        record.get("slices") or [], record["gate"], record.get("champion_roc_auc") is not None
    )
    return page.document(
        f"Promotion decision: {name}@{alias}",
        f"<h1>Promotion decision: {html.escape(name)} @{html.escape(alias)}</h1>"
        f'<div class="verdict {klass}"><b>{verdict} @{html.escape(alias)}.</b> '
        f"{html.escape(record['reason'])}</div>"
        f"{page.facts(facts)}<h2>Champion vs candidate</h2>{images}"
        f"<h2>Slices</h2>{slices}",
    )


def _rule_text(rule: str) -> str:
    from trainer.gate import RULES

    return RULES.get(rule, rule)


def _holdout_text(holdout: dict[str, Any] | None) -> str:
    if not holdout:
        return "-"
    text = (
        f"the {holdout['source']}'s: {holdout['rows']:,} rows ({holdout['positives']:,} positive), "
        f"{holdout['uri']}"
    )
    if holdout.get("zero_filled"):
        text += f"; absent categories filled with 0: {', '.join(holdout['zero_filled'])}"
    if holdout.get("dropped"):
        text += f"; all-zero columns the scored model never saw: {', '.join(holdout['dropped'])}"
    return text


def _trigger_text(trigger: dict[str, Any]) -> str:
    if trigger.get("dag_id"):
        return (
            f"Airflow DAG {trigger['dag_id']}, run {trigger.get('run_id', '?')}, "
            f"task {trigger.get('task_id', '?')}"
            + (f" (try {trigger['try_number']})" if trigger.get("try_number") else "")
        )
    return f"{trigger.get('user', '?')} (no Airflow context)"
