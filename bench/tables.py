"""The tables `make bench` prints, built from the results dict (also kept in latest.json)."""

from __future__ import annotations

from typing import Any

from bench import report


def _models(results: dict[str, Any]) -> list[str]:
    """The models this run trained (bench.run --models), in their order."""
    return list((results.get("options") or {}).get("models") or [])


def main_table(results: dict[str, Any]) -> str:
    base = results.get("baseline") or {}
    proc = (results.get("pipeline") or {}).get("stages", {})
    ctr = (results.get("containers") or {}).get("stages", {})
    exh = results.get("exhaustive") or {}
    prep = base.get("prep", {})

    def bsum(*names: str) -> tuple[float | None, float | None, int | None]:
        got = [prep[n] for n in names if n in prep]
        if not got:
            return None, None, None
        return (
            sum(g["wall_s"] for g in got),
            sum(g["cpu_s"] for g in got),
            max(g["peak_rss_bytes"] for g in got),
        )

    def s(d: dict, key: str) -> tuple[float | None, float | None, float | None]:
        st = d.get(key)
        if not st:
            return None, None, None
        return st["wall_s"], st["cpu_s"], st["peak_rss_mb"] * 1e6

    rows, totals = [], {"b": 0.0, "bc": 0.0, "p": 0.0, "pc": 0.0, "c": 0.0, "capped": False}

    def add(label, b, p, c, b_auc=None, p_auc=None, e_auc=None, capped=False):
        bw, bc, bm = b
        pw, pc, pm = p
        cw, _, cm = c
        totals["b"] += bw or 0
        totals["bc"] += bc or 0
        totals["p"] += pw or 0
        totals["pc"] += pc or 0
        totals["c"] += cw or 0
        totals["capped"] |= capped
        rows.append(
            [
                label,
                report.secs(bw, capped),
                report.secs(pw),
                report.secs(cw),
                report.ratio(bw, pw, capped),
                report.secs(bc, capped),
                report.secs(pc),
                report.mb(bm),
                report.mb(pm),
                report.mb(cm),
                report.auc(b_auc),
                report.auc(p_auc),
                report.auc(e_auc),
            ]
        )

    add("extract (import + load)", bsum("import", "load"), s(proc, "extract"), s(ctr, "extract"))
    add(
        "preprocess (clean, one-hot, split)",
        bsum("clean", "features", "split"),
        s(proc, "preprocess"),
        s(ctr, "preprocess"),
    )
    for model in _models(results):
        bm = (base.get("models") or {}).get(model)
        b = (bm["wall_s"], bm["cpu_s"], bm["peak_rss_bytes"]) if bm else (None, None, None)
        pfit = proc.get(f"fit:{model}", {})
        p_auc = ((pfit.get("result") or {}).get("metrics") or {}).get("roc_auc")
        label = f"train {model}"
        if bm and bm["capped"]:
            est = bm.get("extrapolated_s")
            label += f" [base: {bm.get('fits_done')}/{bm.get('fits_total')} fits in cap" + (
                f", est. {est:.0f} s]" if est else "]"
            )
        add(
            label,
            b,
            s(proc, f"fit:{model}"),
            s(ctr, f"fit:{model}"),
            bm.get("roc_auc") if bm else None,
            p_auc,
            (exh.get(model) or {}).get("roc_auc"),
            capped=bool(bm and bm["capped"]),
        )
    add("promote (verify, gate, register, alias)", (None, None, None), s(proc, "promote"), s(ctr, "promote"))
    # The pipeline's total is the multi-model chain as the DAG runs it (fits in parallel), timed
    # end to end, not the sum of the one-at-a-time rows above.
    multi = results.get("multimodel") or {}
    if multi.get("chain_wall_s") and multi.get("ok"):
        totals["p"], totals["pc"] = multi["chain_wall_s"], multi["total_cpu_s"]
    if (results.get("containers") or {}).get("chain_wall_s"):
        totals["c"] = results["containers"]["chain_wall_s"]
    rows.append(
        [
            "TOTAL extract -> champion (fits in parallel)" if multi else "TOTAL extract -> champion",
            report.secs(totals["b"] or None, totals["capped"]),  # no baseline run: "-", not 0.0
            report.secs(totals["p"]),
            report.secs(totals["c"] or None),
            report.ratio(totals["b"], totals["p"], totals["capped"]),
            report.secs(totals["bc"] or None, totals["capped"]),
            report.secs(totals["pc"]),
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    results["headline"] = {
        "baseline_total_s": totals["b"],
        "baseline_capped": totals["capped"],
        "pipeline_process_total_s": totals["p"],
        "pipeline_container_total_s": totals["c"] or None,
        "speedup": (totals["b"] / totals["p"]) if totals["p"] else None,
        "speedup_is_lower_bound": totals["capped"],
    }
    headers = [
        "step",
        "base s",
        "proc s",
        "ctr s",
        "ratio",
        "base CPU",
        "proc CPU",
        "base MB",
        "proc MB",
        "ctr MB",
        "base AUC",
        "proc AUC",
        "exh AUC",
    ]
    title = (
        "Baseline (one process, original grids) vs pipeline (stages as processes / containers); "
        "train = search, refit, holdout (+ MLflow logging in the pipeline); ratio = base/proc wall; "
        ">= : the baseline hit its time cap (est. = its time extrapolated from the fits it finished)"
    )
    return report.table(headers, rows, title)


def gate_line(results: dict[str, Any]) -> str:
    """What the promotion gate costs next to the fits it judges (issue 15).

    The multi-model chain promotes into the registered model the first chain's promote created, so
    its gate loads and scores both models on the full holdout, runs DeLong and the slices and
    draws the report: the gate's whole cost."""
    lines = []
    for key, label in (("pipeline", "first chain, no champion yet"), ("multimodel", "against a champion")):
        part = results.get(key) or {}
        promote = (part.get("stages") or {}).get("promote") or {}
        res = promote.get("result") or {}
        if res.get("gate_seconds") is None:
            continue
        fits = sum(st["wall_s"] for k, st in part["stages"].items() if k.startswith("fit:"))
        fits = part.get("fits_wall_s") if part.get("parallel_fits") else fits
        share = f"{100 * res['gate_seconds'] / fits:.1f}% of the fits' {fits:.1f} s" if fits else "no fits"
        lines.append(
            f"promotion gate ({label}): {res['gate_seconds']:.2f} s of promote's {promote['wall_s']:.1f} s "
            f"(rule {res.get('rule')}) = {share}"
        )
    return "\n".join(lines)


def halving_table(results: dict[str, Any]) -> str:
    proc = (results.get("pipeline") or {}).get("stages", {})
    halv = (results.get("halving") or {}).get("stages", {})
    exh = results.get("exhaustive") or {}
    rows = []
    for model in _models(results):
        g, h = proc.get(f"fit:{model}"), halv.get(f"fit:{model}")
        if not g and not h:
            continue
        g_auc = ((g or {}).get("result", {}).get("metrics") or {}).get("roc_auc")
        h_auc = ((h or {}).get("result", {}).get("metrics") or {}).get("roc_auc")
        e_auc = (exh.get(model) or {}).get("roc_auc")
        rows.append(
            [
                model,
                report.secs((g or {}).get("wall_s")),
                report.secs((h or {}).get("wall_s")),
                report.ratio((g or {}).get("wall_s"), (h or {}).get("wall_s")),
                (g or {}).get("result", {}).get("n_fits"),
                (h or {}).get("result", {}).get("n_fits"),
                report.auc(g_auc),
                report.auc(h_auc),
                report.auc(e_auc),
                _delta(g_auc, e_auc),
                _delta(h_auc, e_auc),
            ]
        )
    headers = [
        "model",
        "grid s",
        "halving s",
        "speedup",
        "grid fits",
        "halving fits",
        "grid AUC",
        "halving AUC",
        "exh AUC",
        "grid-exh",
        "halving-exh",
    ]
    return report.table(headers, rows, "trainer --search grid vs --search halving (process), holdout ROC AUC")


def peer_table(results: dict[str, Any]) -> str:
    """The trainer's searches against plain GridSearchCV with the same estimators, folds and grid."""
    pipeline = results.get("pipeline") or {}
    proc, fit_seconds = pipeline.get("stages", {}), pipeline.get("fit_seconds") or {}
    exh = results.get("exhaustive") or {}
    rows, tot_p, tot_e = [], 0.0, 0.0
    for model in sorted(exh):
        peer, fit = exh[model], (proc.get(f"fit:{model}") or {}).get("result", {})
        ours = fit_seconds.get(model)
        p_auc, e_auc = (fit.get("metrics") or {}).get("roc_auc"), peer.get("roc_auc")
        same = fit.get("best_params") == peer.get("best_params") if fit and peer.get("best_params") else None
        tot_p += ours or 0
        tot_e += peer.get("search_wall_s") or 0
        rows.append(
            [
                model,
                report.secs(peer.get("search_wall_s")),
                report.secs(peer.get("search_cpu_s")),
                report.secs(ours),
                report.ratio(peer.get("search_wall_s"), ours),
                fit.get("n_fits"),
                "yes" if same else ("NO" if same is False else "-"),
                report.auc(p_auc),
                report.auc(e_auc),
                "-" if p_auc is None or e_auc is None else f"{abs(p_auc - e_auc):.1e}",
            ]
        )
    if len(rows) > 1:
        rows.append(
            [
                "both",
                report.secs(tot_e),
                "",
                report.secs(tot_p),
                report.ratio(tot_e, tot_p),
                "",
                "",
                "",
                "",
                "",
            ]
        )
    headers = [
        "model",
        "peer search s",
        "peer CPU s",
        "trainer search s",
        "speedup",
        "CV fits",
        "same candidate",
        "trainer AUC",
        "peer AUC",
        "|diff|",
    ]
    return report.table(
        headers,
        rows,
        "fair peer: plain GridSearchCV (one thread per fit, n_jobs = CPUs, same estimators, folds and "
        "grids) vs the trainer's search, search + refit",
    )


def schedule_table(results: dict[str, Any]) -> str:
    rows = []
    for key in ("schedule", "schedule_containers"):
        for label, run in (results.get(key) or {}).items():
            per = run.get("per_model_wall_s") or {}
            cpu = run.get("per_model_cpu_s") or {}
            sharers = run.get("cpu_sharers") or {}
            rows.append(
                [
                    label,
                    run.get("mode", "process"),
                    ", ".join(f"{m} {sharers.get(m, 1)}" for m in sorted(per)),
                    report.secs(run.get("fits_wall_s")),
                    ", ".join(f"{m} {report.secs(w)}" for m, w in sorted(per.items())),
                    ", ".join(f"{m} {report.secs(c)}" for m, c in sorted(cpu.items())),
                    "ok" if run.get("ok") else "FAILED",
                ]
            )
    headers = ["arrangement", "mode", "PIPELINE_CPU_SHARERS", "pair s", "each trainer s", "CPU s", "result"]
    return report.table(headers, rows, "the multi-model DAG's trainers on this machine (fits only)")


def _delta(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a - b:+.4f}"


def overhead_table(results: dict[str, Any]) -> str:
    rows = []
    for mode in ("pipeline", "containers"):
        for key, st in ((results.get(mode) or {}).get("stages") or {}).items():
            o = st.get("overhead_s") or {}
            rows.append(
                [
                    key,
                    st["mode"],
                    report.secs(st["wall_s"]),
                    _ms(o.get("start_to_first_work")),
                    _ms(o.get("last_work_to_result")),
                    _ms(o.get("result_to_exit")),
                    _ms(o.get("start_to_first_log")),
                ]
            )
    headers = [
        "stage",
        "mode",
        "wall s",
        "start->first work",
        "last work->return.json",
        "return.json->exit",
        "start->first log",
    ]
    floor = (results.get("containers") or {}).get("docker_floor") or {}
    title = "Per-stage overhead (seconds; return.json timings; target < 1 s process, < 2 s container)"
    if floor:
        title += f"; `docker run ... python -c pass` floor {floor['docker_run_python_pass_s']:.2f} s"
    return report.table(headers, rows, title)


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def scaling_table(results: dict[str, Any]) -> str:
    rows = [
        [
            r["stage"],
            r["source"],
            f"x{r['k']}",
            f"{r['rows']:,}",
            report.secs(r["wall_s"]),
            r["s_per_million_rows"],
            f"{r['peak_rss_mb']:.0f}",
            r["frame_mb"],
            r["peak_over_frame"],
            r.get("marginal_peak_over_frame"),
            "ok" if r["ok"] else "FAILED",
        ]
        for r in (results.get("scaling") or {}).get("rows", [])
    ]
    headers = [
        "stage",
        "source",
        "scale",
        "rows",
        "wall s",
        "s/1M rows",
        "peak MB",
        "frame MB",
        "peak/frame",
        "marginal",
        "status",
    ]
    return report.table(headers, rows, "Scaling (process; target: linear time, peak < 3x frame)")


def images_table(results: dict[str, Any]) -> str:
    rows = [
        [i["image"], i.get("size_mb"), i.get("build_s"), "yes" if i["present"] else "not built"]
        for i in results.get("images") or []
    ]
    return report.table(["image", "size MB", "build s", "present"], rows, "Images")
