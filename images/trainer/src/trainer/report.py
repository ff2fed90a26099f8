"""The decision report of one promotion: a self-contained HTML page (plots inline as PNG).

MLflow's artifact view shows an HTML artifact in a sandboxed frame that cannot fetch other
artifacts, so every image is a data: URI and the style sheet is inline.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# 5.2 x 4.4 in at 100 dpi: two plots side by side within the page's 1,100 px.
DPI = 100
CHAMPION_COLOUR = "#1f77b4"
CANDIDATE_COLOUR = "#d62728"
WITHIN, DROP, UNGUARDED = "#188038", "#d93025", "#9aa0a6"
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:1.4em;margin:0 0 .4em}h2{font-size:1.15em;margin:1.4em 0 .5em}
.verdict{padding:10px 14px;border-radius:6px;font-size:1.05em;margin:.6em 0 1em}
.promoted{background:#e6f4ea;border:1px solid #34a853}.kept{background:#fef7e0;border:1px solid #f9ab00}
table{border-collapse:collapse;font-size:.92em}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f5;white-space:nowrap}td.num{text-align:right;font-variant-numeric:tabular-nums}
.drop{background:#fce8e6}.muted{color:#777}
.plots{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}
.plots img{max-width:100%;height:auto;border:1px solid #eee}
code{background:#f3f3f3;padding:0 3px;border-radius:3px}
"""


@dataclass
class Curves:
    """Holdout labels and both models' probabilities on the same rows (champion may be absent)."""

    y: Any
    candidate: Any
    candidate_label: str
    champion: Any | None = None
    champion_label: str = ""


def _figure(size: tuple[float, float] = (5.2, 4.4)) -> tuple[Figure, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.add_subplot()


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
    ax.set(xlabel="False positive rate", ylabel="True positive rate", xlim=(0, 1), ylim=(0, 1.01))
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
    ax.axhline(rate, linestyle="--", color="grey", lw=1, label=f"positive rate {rate:.3f}")
    ax.set(xlabel="Recall", ylabel="Precision", xlim=(0, 1), ylim=(0, 1.01))
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


def png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return base64.b64encode(buf.getvalue()).decode("ascii")


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


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _table(rows: list[tuple[str, Any]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _slice_table(slices: list[dict[str, Any]], gate: dict[str, Any]) -> str:
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
    images = "".join(
        f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{png(fig)}"></figure>'
        for alt, fig in figures(record, curves)
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>Promotion decision: {html.escape(name)}@{html.escape(alias)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Promotion decision: {html.escape(name)} @{html.escape(alias)}</h1>"
        f'<div class="verdict {klass}"><b>{verdict} @{html.escape(alias)}.</b> '
        f"{html.escape(record['reason'])}</div>"
        f"{_table(facts)}<h2>Champion vs candidate</h2><div class=plots>{images or '<p>no curves</p>'}</div>"
        f"<h2>Slices</h2>{_slice_table(record.get('slices') or [], record['gate'])}"
        "</body></html>"
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
