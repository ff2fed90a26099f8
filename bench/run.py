"""Benchmark the pipeline against the original in-process example, on this machine, in one run.

Parts (all by default; pick with --parts): baseline, pipeline (stages as processes), exhaustive
(the fair peer), schedule (the multi-model trainers' arrangements), halving, containers, overhead,
scaling, images. Prints one table per part and
writes bench/results/latest.json. Benchmarks, not tests: nothing here asserts a timing.

Run: .venv/bin/python -m bench.run [--quick] [--baseline-cap 600] [--scales "1 10 100"] [--containers auto]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipeline_common import wiring

from bench import report, tables
from bench.measure import RunResult, Sample, run_measured, steps_from_markers
from bench.report import say
from bench.scaling import run_scaling
from bench.stages import PY, ROOT, TAG, StageRun, docker_ok, image_exists, run_stage

PARTS = (
    "baseline",
    "pipeline",
    "exhaustive",
    "schedule",
    "halving",
    "containers",
    "overhead",
    "scaling",
    "images",
)
MODELS = ("lgbm", "logreg")
DATASET = "census"  # the benchmark's table (datasets/census.yaml), the original example's
DATA_CANDIDATES = (ROOT / "data/census_adult_income.csv.gz",)  # shipped in the repository
BUILD_TIMES = ROOT / "bench/results/build_times.json"


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return path.name


def _beat(label: str, cap: float | None):
    def beat(sample: Sample) -> None:
        cap_text = f" of cap {cap:.0f} s" if cap else ""
        say(f"    {label}: {sample.t:.0f} s{cap_text}, CPU {sample.cpu:.0f} s, RSS {sample.rss / 1e6:.0f} MB")

    return beat


def _last_result(run: RunResult) -> dict[str, Any]:
    results = [m for _, m in run.markers if m.get("event") == "result"]
    return results[-1] if results else {}


# --- 1. baseline ---------------------------------------------------------------------------------


def run_baseline(data: Path, models: list[str], cap: float, grid: str) -> dict[str, Any]:
    out: dict[str, Any] = {"cap_s": cap, "grid": grid, "models": {}, "prep": {}}
    from sklearn.model_selection import ParameterGrid

    from bench.baseline import ORIGINAL_GRIDS, TINY_GRIDS

    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for i, model in enumerate(models):
        say(f"  baseline {model}: load, clean, one-hot, split, GridSearchCV(n_jobs=-1); cap {cap:.0f} s ...")
        cmd = [PY, "-m", "bench.baseline", "--data", str(data), "--model", model, "--grid", grid]
        run = run_measured(cmd, env=env, cwd=ROOT, cap_s=cap, heartbeat=_beat(f"baseline {model}", cap))
        steps = steps_from_markers(run)
        if i == 0:
            out["prep"] = {k: v for k, v in steps.items() if not k.startswith(("search:", "predict:"))}
            info = [m for _, m in run.markers if m.get("step") == "data"]
            out["data"] = info[0] if info else {}
        res = _last_result(run)
        if run.returncode != 0 and not run.timed_out:
            say("    baseline failed: " + run.text("stderr")[-800:])
        search = steps.get(f"search:{model}", {})
        predict = steps.get(f"predict:{model}", {})
        total_fits = 5 * len(ParameterGrid((ORIGINAL_GRIDS if grid == "original" else TINY_GRIDS)[model]))
        fits_done = sum(1 for ln in run.lines if ln.text.startswith("[CV ") and " END " in ln.text)
        out["models"][model] = {
            "capped": run.timed_out,
            "fits_done": fits_done,
            "fits_total": total_fits,
            # A capped grid's full time if the remaining fits ran as fast as the finished ones.
            "extrapolated_s": (search.get("wall_s", 0.0) * total_fits / fits_done)
            if run.timed_out and fits_done
            else None,
            "returncode": run.returncode,
            "wall_s": search.get("wall_s", 0.0) + predict.get("wall_s", 0.0),
            "cpu_s": search.get("cpu_s", 0.0) + predict.get("cpu_s", 0.0),
            "peak_rss_bytes": max(search.get("peak_rss_bytes", 0), predict.get("peak_rss_bytes", 0)),
            "process_wall_s": run.wall_s,
            "process_peak_rss_bytes": run.peak_rss_bytes,
            "roc_auc": res.get("roc_auc"),
            "cv_roc_auc": res.get("cv_roc_auc"),
            "best_params": res.get("best_params"),
            "n_candidates": res.get("n_candidates"),
            "n_failed_candidates": res.get("n_failed"),
            "steps": steps,
        }
        state = (
            f"HIT THE CAP after {fits_done}/{total_fits} fits"
            if run.timed_out
            else f"AUC {res.get('roc_auc', float('nan')):.4f}"
        )
        say(f"  baseline {model}: {out['models'][model]['wall_s']:.1f} s search+predict, {state}")
    return out


# --- 2. the pipeline, stage by stage -------------------------------------------------------------


def _stage_env(mlflow_uri: str) -> dict[str, str]:
    return {"MLFLOW_TRACKING_URI": mlflow_uri, "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false"}


def run_pipeline(
    mode: str,
    workdir: Path,
    data: Path,
    models: list[str],
    grid: str,
    search: str,
    mlflow_uri: str,
    experiment: str,
    fit_only_from: dict[str, Any] | None = None,
    parallel: bool = False,
    cpu_sharers: dict[str, int] | None = None,
) -> dict[str, Any]:
    """extract -> preprocess -> fit each model -> promote; `fit_only_from` reuses a features_uri.

    parallel: the fits run at the same time, as the multi-model DAG's trainer pods do; otherwise
    one after the other (each with all the CPUs), for per-model figures.
    cpu_sharers: PIPELINE_CPU_SHARERS of each model's trainer (a model not in it: unset, every CPU);
    default: the number of fits when they run at once, as the multi-model DAG sets it on its trainer
    pods, else none.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    env = _stage_env(mlflow_uri)
    if cpu_sharers is None:
        cpu_sharers = {model: len(models) for model in models} if parallel else {}
    stages: dict[str, StageRun] = {}
    chain_t0 = time.monotonic()

    def go(key: str, stage: str, args: list[str], sharers: int | None = None) -> StageRun:
        say(f"  {mode} {key} ...")
        stage_env = env if sharers is None else {**env, "PIPELINE_CPU_SHARERS": str(sharers)}
        run = run_stage(stage, args, mode=mode, workdir=workdir, xcom=workdir / "xcom" / key, env=stage_env)
        state = "ok" if run.ok else f"FAILED rc={run.returncode} {run.error}"
        say(
            f"  {mode} {key}: {run.wall_s:.1f} s wall, {run.cpu_s:.1f} s CPU, "
            f"{run.peak_rss_bytes / 1e6:.0f} MB, {state}"
        )
        stages[key] = run
        return run

    if fit_only_from is None:
        raw = workdir / "raw" / "census.parquet"
        ext = go(
            "extract",
            "extractor",
            wiring.extract_args(dataset=DATASET, source=str(data), output=str(raw), force=True),
        )
        if not ext.ok:
            return _pipeline_out(stages)
        pre = go(
            "preprocess",
            "preprocessor",
            wiring.preprocess_args(
                dataset=DATASET, input_uri=str(raw), output_prefix=str(workdir / "features"), force=True
            ),
        )
        if not pre.ok:
            return _pipeline_out(stages)
        features_uri = pre.result["features_uri"]
    else:
        features_uri = fit_only_from["features_uri"]

    def fit_args(model: str) -> list[str]:
        return wiring.train_args(
            model=model, features_uri=features_uri, experiment=experiment, grid=grid, search=search
        )

    def fit(model: str) -> StageRun:
        return go(f"fit:{model}", "trainer", fit_args(model), cpu_sharers.get(model))

    fits_t0 = time.monotonic()
    if parallel:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(models)) as pool:
            done = list(pool.map(fit, models))
    else:
        done = [fit(m) for m in models]
    fits_wall = time.monotonic() - fits_t0
    fits = [run.result for run in done if run.ok]
    search_seconds = _fit_seconds(mlflow_uri, fits)
    if fits and fit_only_from is None:
        candidates = workdir / "candidates.json"
        candidates.write_text(json.dumps(fits))
        candidates.chmod(0o644)
        go(
            "promote",
            "trainer",
            wiring.promote_args(
                experiment=experiment, model_name=f"census-bench-{mode}", candidates=f"@{candidates}"
            ),
        )
    out = _pipeline_out(stages)
    out["features_uri"] = features_uri
    out["parallel_fits"] = parallel
    out["fits_wall_s"] = round(fits_wall, 3)
    out["fit_seconds"] = search_seconds
    # Wall clock of the whole chain as run (with parallel fits: extract -> champion as the DAG).
    out["chain_wall_s"] = round(time.monotonic() - chain_t0, 3)
    return out


def _fit_seconds(mlflow_uri: str, fits: list[dict[str, Any]]) -> dict[str, float]:
    """Each fit's search + refit seconds, the run's `fit_seconds` metric (what the peer times)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_uri)
    return {fit["model"]: client.get_run(fit["run_id"]).data.metrics.get("fit_seconds") for fit in fits}


def run_schedule(
    features_uri: str, workdir: Path, models: list[str], grid: str, mlflow_uri: str, mode: str = "process"
) -> dict[str, Any]:
    """The trainers of one DAG run arranged four ways on this machine: one after the other with
    every CPU each; side by side with every CPU each (oversubscribed); side by side with the CPUs
    split between them (the multi-model DAG's default); side by side with only the longest (in the
    first arrangement) keeping every CPU, so it takes the whole machine once the others end. Wall
    clock of the pair, fits only (the same features).

    mode "container": `docker run` with the bench's pod-like flags, so each trainer gets its own
    cgroup of equal weight, as pods of equal CPU requests do (workdir must hold the features).
    """
    out: dict[str, Any] = {}

    def arrange(label: str, parallel: bool, cpu_sharers: dict[str, int]) -> None:
        say(f"  schedule ({mode}): {label} ...")
        run = run_pipeline(
            mode,
            workdir if mode == "container" else workdir / label.replace(" ", "-").replace(",", ""),
            Path(),
            models,
            grid,
            "grid",
            mlflow_uri,
            f"bench-schedule-{mode}",
            fit_only_from={"features_uri": features_uri},
            parallel=parallel,
            cpu_sharers=cpu_sharers,
        )
        out[label] = {
            "parallel": parallel,
            "cpu_sharers": cpu_sharers,
            "mode": mode,
            "fits_wall_s": run["fits_wall_s"],
            "per_model_wall_s": {k.removeprefix("fit:"): v["wall_s"] for k, v in run["stages"].items()},
            "per_model_cpu_s": {k.removeprefix("fit:"): v["cpu_s"] for k, v in run["stages"].items()},
            "cpu_s": run["total_cpu_s"],
            "ok": run["ok"],
        }
        say(f"  schedule ({mode}): {label}: the pair in {run['fits_wall_s']:.1f} s")

    split = {model: len(models) for model in models}
    arrange("one after the other", False, {})
    arrange("side by side", True, {})
    arrange("side by side, CPUs split", True, split)
    walls = out["one after the other"]["per_model_wall_s"]
    if len(models) >= 2 and all(walls.values()):
        longest = max(walls, key=walls.get)
        others = {model: n for model, n in split.items() if model != longest}
        arrange("side by side, the longest keeps every CPU", True, others)
    return out


def _pipeline_out(stages: dict[str, StageRun]) -> dict[str, Any]:
    ok = all(s.ok for s in stages.values())
    return {
        "ok": ok,
        "stages": {k: s.summary() for k, s in stages.items()},
        "total_wall_s": sum(s.wall_s for s in stages.values()),
        "total_cpu_s": sum(s.cpu_s for s in stages.values()),
        "peak_rss_bytes": max((s.peak_rss_bytes for s in stages.values()), default=0),
    }


def _features_json(features_uri: str) -> Path:
    return Path(features_uri.removeprefix("file://"))


# --- exhaustive reference --------------------------------------------------------------------------


def run_exhaustive(features_uri: str, models: list[str], grid: str) -> dict[str, Any]:
    out = {}
    for model in models:
        say(f"  peer {model}: plain GridSearchCV over the '{grid}' grid, one fit per CPU ...")
        cmd = [
            PY,
            "-m",
            "bench.reference",
            "--features-json",
            str(_features_json(features_uri)),
            "--model",
            model,
            "--grid",
            grid,
        ]
        run = run_measured(
            cmd,
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            heartbeat=_beat(f"exhaustive {model}", None),
        )
        res = _last_result(run)
        out[model] = {
            "wall_s": run.wall_s,
            "cpu_s": run.cpu_s,
            "peak_rss_bytes": run.peak_rss_bytes,
            "returncode": run.returncode,
            **res,
        }
        if run.returncode != 0:
            say("    " + run.text("stderr")[-500:])
        search = steps_from_markers(run).get(f"search:{model}", {})
        out[model]["search_wall_s"] = search.get("wall_s")
        out[model]["search_cpu_s"] = search.get("cpu_s")
        say(f"  peer {model}: search {search.get('wall_s', float('nan')):.1f} s, AUC {res.get('roc_auc')}")
    return out


# --- containers: docker run floor ---------------------------------------------------------------


def docker_floor(stage: str = "extractor") -> dict[str, float] | None:
    """`docker run` of the stage image doing nothing but start Python: the container floor."""
    image = f"census-pipeline/{stage}:{TAG}"
    walls = []
    for _ in range(3):
        t0 = time.monotonic()
        done = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "--entrypoint", "python", image, "-c", "pass"],
            capture_output=True,
        )
        if done.returncode != 0:
            return None
        walls.append(time.monotonic() - t0)
    return {"docker_run_python_pass_s": min(walls)}


def start_mlflow_server(state: Path) -> Any:
    """The tests' `mlflow server` (tests/fixtures/servers.py): SQLite and local artifacts under `state`."""
    from tests.fixtures import servers

    return servers.start_mlflow(None, state, log_dir=state)


def run_containers(work: Path, args: argparse.Namespace, models: list[str]) -> dict[str, Any]:
    """The pipeline as containers; with the trainer image missing, extract and preprocess only."""
    docker = docker_ok()
    missing = [s for s in ("extractor", "preprocessor", "trainer") if not (docker and image_exists(s))]
    if missing and args.containers == "yes":
        raise SystemExit(
            f"ERROR [bench] --containers yes but image(s) {missing} (tag {TAG}) are not built "
            "or Docker is not running | fix: make images"
        )
    if not docker or {"extractor", "preprocessor"} & set(missing):
        reason = f"Docker not running or image(s) {missing} (tag {TAG}) not built"
        say(f"== containers: skipped ({reason})")
        return {"skipped": reason}
    if "trainer" in missing:
        say(f"== containers: census-pipeline/trainer:{TAG} not built: extract and preprocess only")
        models = []
    say("== pipeline: stages as containers")
    cwork = work / "ctr"
    cwork.mkdir(mode=0o777)
    cwork.chmod(0o777)
    data_copy = cwork / args.data.name
    shutil.copy(args.data, data_copy)
    data_copy.chmod(0o644)
    # The trainer image ships mlflow-skinny (no SQLite store): it needs the tracking server.
    out = run_pipeline(
        "container",
        cwork,
        data_copy,
        models,
        args.grid,
        "grid",
        args.mlflow_uri,
        "bench-container",
        parallel=True,
    )
    out["docker_floor"] = docker_floor()
    out["trainer_image_missing"] = "trainer" in missing
    return out


# --- images ----------------------------------------------------------------------------------------


def image_sizes() -> list[dict[str, Any]]:
    build_times = json.loads(BUILD_TIMES.read_text()) if BUILD_TIMES.is_file() else {}
    out = []
    for name in ("extractor", "preprocessor", "trainer", "mlflow", "airflow"):
        ref = f"census-pipeline/{name}:{TAG}"
        done = subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Size}} {{.Created}}", ref],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            out.append({"image": ref, "present": False})
            continue
        size, created = done.stdout.split(maxsplit=1)
        out.append(
            {
                "image": ref,
                "present": True,
                "size_mb": round(int(size) / 1e6, 1),
                "created": created.strip(),
                "build_s": build_times.get(ref, {}).get("build_seconds"),
            }
        )
    return out


# --- main --------------------------------------------------------------------------------------------


def _write_json(path: Path, results: dict[str, Any], work: Path | None = None) -> None:
    """The results as JSON; the run's temporary work directory appears as <work>, never as a
    path of this machine (the file may be committed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, default=str) + "\n"
    if work is not None:
        text = text.replace(str(work), "<work>")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    p.add_argument(
        "--data", type=Path, default=None, help="census CSV (default: data/census_adult_income.csv.gz)"
    )
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--models", default=",".join(MODELS), help="models to train, comma-separated")
    p.add_argument(
        "--baseline-cap", type=float, default=600.0, help="seconds per baseline model grid before kill"
    )
    p.add_argument(
        "--scales", default="1 10 100", help='row multipliers for the scaling part, e.g. "1 10 100"'
    )
    p.add_argument(
        "--containers",
        choices=["auto", "yes", "no"],
        default="auto",
        help="run stages as containers: auto = when Docker runs and the images exist",
    )
    p.add_argument("--grid", default="full", help="trainer grid for the pipeline (full|demo|PATH)")
    p.add_argument(
        "--mlflow-uri",
        default="",
        help="tracking server to use (default: a local `mlflow server` on a SQLite store in a temp dir)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny grids, scale 1 only, cap 120 s: checks the harness end to end in a few minutes",
    )
    p.add_argument(
        "--no-bigquery",
        dest="bigquery",
        action="store_false",
        help="scaling: skip the BigQuery-emulator source (started from tests/fixtures/servers.py)",
    )
    p.add_argument(
        "--bigquery-max-scale",
        type=int,
        default=100,
        help="scaling: largest multiplier loaded into the BigQuery emulator (100x: ~8 s to load)",
    )
    p.add_argument(
        "--features-uri",
        default="",
        help="reuse this features.json (e.g. from a --keep run) for the exhaustive/halving parts",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary work directory")
    p.add_argument(
        "--output", type=Path, default=ROOT / "bench/results/latest.json", help="where to write results"
    )
    args = p.parse_args(argv)
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        p.error(f"unknown part(s) {sorted(unknown)}; choose from {','.join(PARTS)}")
    try:
        args.scale_list = [int(x) for x in args.scales.replace(",", " ").split()]
    except ValueError:
        p.error(f'--scales {args.scales!r} must be integers, e.g. "1 10 100"')
    if args.quick:
        args.grid, args.scale_list, args.baseline_cap = "demo", [1], min(args.baseline_cap, 120.0)
    if args.data is None:
        args.data = next((c for c in DATA_CANDIDATES if c.is_file()), None)
        if args.data is None:
            p.error("no census CSV found at data/census_adult_income.csv.gz; pass --data PATH")
    elif not args.data.is_file():
        p.error(f"--data {args.data} does not exist; pass the census CSV")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    parts = set(args.parts.split(","))
    models = args.models.split(",")
    results: dict[str, Any] = {
        "environment": report.environment(ROOT),
        "options": {
            # Relative to the repository when inside it: results never record a machine's paths.
            "data": _display_path(args.data),
            "parts": sorted(parts),
            "models": models,
            "baseline_cap_s": args.baseline_cap,
            "scales": args.scale_list,
            "grid": args.grid,
            "quick": args.quick,
        },
    }
    env = results["environment"]
    say(
        f"bench: {env['date_utc']}, {env['machine']['cpus_affinity']} CPUs, "
        f"{env['machine']['memory_gib']} GiB, "
        f"load {env['machine']['loadavg_start'][0]:.1f}; data {args.data}"
    )
    work = Path(tempfile.mkdtemp(prefix="census-bench-"))
    work.chmod(0o777)  # containers run as UID 10001 and write here
    server = None
    if not args.mlflow_uri and parts & {"pipeline", "exhaustive", "halving", "overhead", "containers"}:
        # A tracking server, as deployed: the trainers only make REST calls (no store set-up in
        # their timings) and the containers reach it over the loopback.
        server = start_mlflow_server(work / "mlflow-server")
        args.mlflow_uri = server.url
        say(f"bench: mlflow server at {args.mlflow_uri}")
    mlflow_uri = args.mlflow_uri
    started = time.monotonic()

    def save() -> None:  # after every part, so a run stopped half-way still leaves its figures
        results["bench_wall_s"] = round(time.monotonic() - started, 1)
        _write_json(args.output, results, work)

    try:
        # Most telling first: the pipeline and its checks, then the (capped, slow) baseline.
        if args.features_uri:  # reuse a kept run's split: exhaustive/halving without re-running
            results["pipeline"] = {"features_uri": args.features_uri, "stages": {}, "reused": True}
        elif parts & {"pipeline", "exhaustive", "halving", "overhead"}:
            say(f"== pipeline: stages as processes, grid {args.grid}")
            results["pipeline"] = run_pipeline(
                "process", work / "proc", args.data, models, args.grid, "grid", mlflow_uri, "bench-process"
            )
            save()
            say(f"== multi-model pipeline: the same chain with the fits in parallel (grid {args.grid})")
            results["multimodel"] = run_pipeline(
                "process",
                work / "multi",
                args.data,
                models,
                args.grid,
                "grid",
                mlflow_uri,
                "bench-multimodel",
                parallel=True,
            )
            say(f"  extract -> champion: {results['multimodel']['chain_wall_s']:.1f} s wall")
            save()
        features_uri = (results.get("pipeline") or {}).get("features_uri")
        if "exhaustive" in parts and features_uri:
            say("== fair peer: plain GridSearchCV with the trainer's estimators, on the pipeline's split")
            results["exhaustive"] = run_exhaustive(features_uri, models, args.grid)
            save()
        if "schedule" in parts and features_uri:
            say("== schedule: the multi-model DAG's trainers, one after the other or side by side")
            results["schedule"] = run_schedule(features_uri, work / "schedule", models, args.grid, mlflow_uri)
            save()
        if "halving" in parts and features_uri:
            say("== trainer --search halving")
            results["halving"] = run_pipeline(
                "process",
                work / "proc",
                args.data,
                models,
                args.grid,
                "halving",
                mlflow_uri,
                "bench-halving",
                fit_only_from={"features_uri": features_uri},
            )
            save()
        if "containers" in parts and args.containers != "no":
            results["containers"] = run_containers(work, args, models)
            save()
            ctr = results["containers"]
            if "schedule" in parts and ctr.get("features_uri") and not ctr.get("trainer_image_missing"):
                say("== schedule as containers: each trainer in its own cgroup of equal weight, like pods")
                results["schedule_containers"] = run_schedule(
                    ctr["features_uri"], work / "ctr", models, args.grid, mlflow_uri, mode="container"
                )
                save()
        if "baseline" in parts:
            say("== baseline: the original example in one process")
            results["baseline"] = run_baseline(
                args.data, models, args.baseline_cap, "tiny" if args.quick else "original"
            )
            save()
        if "scaling" in parts:
            say(f"== scaling: extractor and preprocessor at x{', x'.join(map(str, args.scale_list))}")
            results["scaling"] = run_scaling(
                args.data,
                args.scale_list,
                work / "scaling",
                bigquery=args.bigquery,
                bigquery_max_scale=args.bigquery_max_scale,
            )
            save()
        if "images" in parts:
            results["images"] = image_sizes() if docker_ok() else []
    finally:
        if server is not None:
            server.stop()
        results["environment"]["machine"]["loadavg_end"] = os.getloadavg()
        results["bench_wall_s"] = round(time.monotonic() - started, 1)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            say(f"bench: work directory kept at {work}")
    out_tables = [tables.main_table(results)]
    gate = tables.gate_line(results)
    if gate:
        out_tables.append(gate)
    if results.get("exhaustive"):
        out_tables.append(tables.peer_table(results))
    if results.get("schedule") or results.get("schedule_containers"):
        out_tables.append(tables.schedule_table(results))
    if results.get("halving"):
        out_tables.append(tables.halving_table(results))
    if results.get("pipeline") or results.get("containers"):
        out_tables.append(tables.overhead_table(results))
    if results.get("scaling"):
        out_tables.append(tables.scaling_table(results))
    if results.get("images"):
        out_tables.append(tables.images_table(results))
    results["tables"] = out_tables
    print("\n\n".join(out_tables))
    _write_json(args.output, results, work)
    say(f"bench: done in {results['bench_wall_s']:.0f} s; results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
