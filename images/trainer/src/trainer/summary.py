"""The run summary: every candidate's scores and the promotion decision, as one plain-text table.

Built here once, from what promote already holds (the candidates' fit results and its decision),
and put in promote's return.json as `summary`; promote's log ends with it, `make demo` prints it
and scripts/trigger_dag.py prints it from promote's XCom when a DAG run ends. Plain text in a
fixed-width font: it is read in terminals and in Airflow's task log.
"""

from __future__ import annotations

from typing import Any


def _num(value: Any, spec: str) -> str:
    """A number as `spec` formats it; "-" for anything else (a candidate list written by hand)."""
    return format(value, spec) if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _cv(fit: dict[str, Any]) -> str:
    mean, std = _num(fit.get("cv_roc_auc"), ".4f"), fit.get("cv_roc_auc_std")
    return f"{mean} ± {std:.4f}" if isinstance(std, int | float) and mean != "-" else mean


def table(fits: list[dict[str, Any]], decision: dict[str, Any]) -> str:
    """The candidates best first (the one promote compared marked *), then the decision and links."""
    head = (
        f"{'model':<10} {'cv roc_auc':>15} {'roc_auc':>8} {'pr_auc':>8} {'log_loss':>8} {'fits':>5} "
        f"{'seconds':>8}  best params"
    )
    lines = [head, "-" * len(head)]
    # Best first; the input's order (the DAG's task order) never changes the text.
    ordered = sorted(fits, key=lambda f: (-f["metrics"]["roc_auc"], f["model"], f["run_id"]))
    for fit in ordered:
        m = fit["metrics"]
        mark = " *" if fit["run_id"] == decision["run_id"] else ""
        params = ", ".join(f"{k}={v}" for k, v in sorted((fit.get("best_params") or {}).items()))
        lines.append(
            f"{fit['model'] + mark:<10} {_cv(fit):>15} {_num(m.get('roc_auc'), '.4f'):>8} "
            f"{_num(m.get('pr_auc'), '.4f'):>8} {_num(m.get('log_loss'), '.4f'):>8} "
            f"{_num(fit.get('n_fits'), 'd'):>5} {_num(fit.get('seconds'), '.1f'):>8}  {params}"
        )
    target = f"{decision['model_name']}@{decision['alias']}"
    if decision["promoted"]:
        verdict = f"now holds {target} as v{decision['registered_version']}"
    elif decision.get("champion_version") is not None:
        verdict = f"not promoted: v{decision['champion_version']} keeps {target}"
    else:
        verdict = f"not promoted: {target} stays empty"
    lines += [
        "",
        f"* best candidate: {decision['best_model']} (run {decision['run_id'][:8]}) {verdict}",
        # The gate's rule and its numbers: why the champion was replaced or kept (docs/promotion.md).
        f"  why ({decision['rule']}): {decision['reason']}",
    ]
    if decision.get("report_uri"):
        lines.append(f"  decision report: {decision['report_uri']}")
    for fit in ordered:
        if fit.get("card_uri"):
            lines.append(f"  model card {fit['model']}: {fit['card_uri']}")
    return "\n".join(lines)
