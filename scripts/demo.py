#!/usr/bin/env python3
"""The whole pipeline on this machine: extract -> preprocess -> fit each model -> promote.

Every stage runs as its own process with its own XCOM_DIR, exactly as a KubernetesPodOperator pod
runs it, and the next stage gets its inputs from the previous return.json. Then it prints a table
of the models and the champion and writes <workdir>/summary.json.

    python scripts/demo.py                   # local: sqlite MLflow store + files under .demo/
    python scripts/demo.py --store services  # the servers of `make services` (.services/env.sh)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT / "data" / "census_adult_income.csv.gz"
SERVICES_ENV = ROOT / ".services" / "env.sh"
DATA_BUCKET = "census-pipeline-data"
MODEL_NAME = "census-never-married"


class DemoError(Exception):
    pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--workdir",
        type=Path,
        default=ROOT / ".demo",
        help="state of the local run: mlflow.db, artifacts, data, logs (default: .demo)",
    )
    p.add_argument(
        "--store",
        choices=("local", "services"),
        default="local",
        help="local: sqlite + files; services: `make services` (default: local)",
    )
    p.add_argument(
        "--source", default=str(DEFAULT_SOURCE), help="extractor --source (default: the shipped census CSV)"
    )
    p.add_argument(
        "--models", default="lgbm,logreg", help="comma-separated models to fit (default: lgbm,logreg)"
    )
    p.add_argument(
        "--grid", default="demo", help="trainer grid: demo (default, minutes on 2 CPUs), full, or a YAML path"
    )
    p.add_argument(
        "--search", default="grid", choices=("grid", "halving"), help="trainer search (default: grid)"
    )
    p.add_argument(
        "--experiment", default="census-income-demo", help="MLflow experiment (default: census-income-demo)"
    )
    p.add_argument("--model-name", default=MODEL_NAME, help=f"registered model (default: {MODEL_NAME})")
    return p.parse_args(argv)


def services_env() -> dict[str, str]:
    if not SERVICES_ENV.is_file():
        raise DemoError(
            f"{SERVICES_ENV.relative_to(ROOT)} not found: start `make services` in another terminal first"
        )
    env = {}
    for line in SERVICES_ENV.read_text().splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key.strip()] = shlex.split(value)[0] if value.strip() else ""
    if not env.get("MLFLOW_TRACKING_URI"):
        raise DemoError(f"{SERVICES_ENV} sets no MLFLOW_TRACKING_URI; restart `make services`")
    return env


def local_store(workdir: Path, experiment: str) -> dict[str, str]:
    """A sqlite tracking store with the experiment's artifacts under <workdir>/artifacts."""
    db = workdir / "mlflow.db"
    uri = f"sqlite:///{db}"
    # The stages create a missing experiment with the store's default artifact root (./mlruns of
    # their working directory); creating it here pins its artifacts under the workdir instead.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    if client.get_experiment_by_name(experiment) is None:
        client.create_experiment(experiment, artifact_location=(workdir / "artifacts").as_uri())
    return {"MLFLOW_TRACKING_URI": uri}


def run_stage(name: str, module: str, args: list[str], env: dict[str, str], workdir: Path) -> dict[str, Any]:
    """Run one stage process, stream its log lines, return its return.json."""
    xcom = workdir / "xcom" / name
    xcom.mkdir(parents=True, exist_ok=True)
    (xcom / "return.json").unlink(missing_ok=True)
    print(f"\n--- {name}: python -m {module} {' '.join(args)}", flush=True)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, **env, "XCOM_DIR": str(xcom), "PYTHONUNBUFFERED": "1"},
        cwd=workdir,
        check=False,
    )
    if proc.returncode != 0:
        raise DemoError(f"stage {name} failed with exit code {proc.returncode} (its ERROR line is above)")
    result = json.loads((xcom / "return.json").read_text())
    print(f"--- {name}: ok in {time.monotonic() - started:.1f} s", flush=True)
    return result


def table(fits: list[dict[str, Any]], promote: dict[str, Any]) -> str:
    header = (
        f"{'model':<8} {'cv roc_auc':>10} {'roc_auc':>8} {'pr_auc':>8} {'log_loss':>8} {'accuracy':>8} "
        f"{'f1':>6} {'fits':>5} {'seconds':>8}  best params"
    )
    lines = [header, "-" * len(header)]
    for fit in sorted(fits, key=lambda f: -f["metrics"]["roc_auc"]):
        m = fit["metrics"]
        mark = " *" if fit["run_id"] == promote["run_id"] else ""
        params = ", ".join(f"{k}={v}" for k, v in sorted(fit["best_params"].items()))
        lines.append(
            f"{fit['model'] + mark:<8} {fit['cv_roc_auc']:>10.4f} {m['roc_auc']:>8.4f} {m['pr_auc']:>8.4f} "
            f"{m['log_loss']:>8.4f} "
            f"{m['accuracy']:>8.4f} {m['f1']:>6.3f} {fit['n_fits']:>5} {fit['seconds']:>8.1f}  {params}"
        )
    target = f"{promote['model_name']}@{promote['alias']}"
    if promote["promoted"]:
        verdict = f"now holds {target} as v{promote['registered_version']}"
    elif promote.get("champion_version") is not None:
        verdict = f"not promoted: v{promote['champion_version']} keeps {target}"
    else:
        verdict = f"not promoted: {target} stays empty"
    lines.append("")
    lines.append(f"* best candidate: {promote['best_model']} (run {promote['run_id'][:8]}) {verdict}")
    # The gate's rule and its numbers: why the champion was replaced or kept (docs/promotion.md).
    lines.append(f"  why ({promote['rule']}): {promote['reason']}")
    if promote.get("report_uri"):
        lines.append(f"  decision report: {promote['report_uri']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    started = time.monotonic()
    try:
        if args.store == "services":
            env = services_env()
            prefix = f"gs://{DATA_BUCKET}/runs/demo/{stamp}"
        else:
            env = local_store(workdir, args.experiment)
            prefix = (workdir / "data" / stamp).as_uri()
        print(
            f"demo: store {args.store}, MLFLOW_TRACKING_URI={env['MLFLOW_TRACKING_URI']}, "
            f"outputs under {prefix}",
            flush=True,
        )
        extract = run_stage(
            "extract",
            "extractor",
            ["--source", args.source, "--output", f"{prefix}/raw/census.parquet"],
            env,
            workdir,
        )
        features = run_stage(
            "preprocess",
            "preprocessor",
            ["--input", extract["raw_uri"], "--output-prefix", f"{prefix}/features"],
            env,
            workdir,
        )
        fits = []
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            fits.append(
                run_stage(
                    f"fit-{model}",
                    "trainer",
                    [
                        "fit",
                        "--model",
                        model,
                        "--features-uri",
                        features["features_uri"],
                        "--experiment",
                        args.experiment,
                        "--grid",
                        args.grid,
                        "--search",
                        args.search,
                    ],
                    env,
                    workdir,
                )
            )
        candidates = workdir / "xcom" / "candidates.json"
        candidates.write_text(json.dumps(fits))
        promote = run_stage(
            "promote",
            "trainer",
            [
                "promote",
                "--experiment",
                args.experiment,
                "--model-name",
                args.model_name,
                "--candidates",
                f"@{candidates}",
            ],
            env,
            workdir,
        )
    except DemoError as exc:
        print(f"\ndemo FAILED: {exc}", file=sys.stderr)
        return 1
    seconds = round(time.monotonic() - started, 1)
    summary = {
        "store": args.store,
        "tracking_uri": env["MLFLOW_TRACKING_URI"],
        "experiment": args.experiment,
        "grid": args.grid,
        "search": args.search,
        "seconds": seconds,
        "extract": extract,
        "preprocess": features,
        "fits": fits,
        "promote": promote,
        "champion": {
            "model_name": promote["model_name"],
            "alias": promote["alias"],
            "version": promote["registered_version"] if promote["promoted"] else promote["champion_version"],
        },
    }
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print("\n" + table(fits, promote))
    print(f"\ndemo done in {seconds:.0f} s; summary in {workdir / 'summary.json'}")
    if args.store == "local":
        print(
            f"browse the runs: {sys.executable} -m mlflow ui --backend-store-uri {env['MLFLOW_TRACKING_URI']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
