#!/usr/bin/env python3
"""The whole pipeline on this machine: extract -> preprocess -> fit each model -> promote.

Every stage runs as its own process with its own XCOM_DIR, exactly as a KubernetesPodOperator pod
runs it, and the next stage gets its inputs from the previous return.json; the command lines come
from pipeline_common.wiring, as the DAGs' do. Then it prints the run summary promote returned
(the table of trainer/summary.py: models, scores, the decision and links) and writes
<workdir>/summary.json.

    python scripts/demo.py                       # census: sqlite MLflow store + files under .demo/
    python scripts/demo.py --dataset penguins    # another dataset spec of datasets/
    python scripts/demo.py --store services      # the servers of `make services` (.services/env.sh)

Every choice is checked before the first stage runs; an error names the `make demo` variable
(DATASET, TARGET, DEMO_MODELS, ...) that set it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVICES_ENV = ROOT / ".services" / "env.sh"
DATA_BUCKET = "census-pipeline-data"
# The `make demo` variable behind each option, named in errors (mk/demo.mk passes them).
MAKE_VARIABLES = {
    "dataset": "DATASET",
    "target": "TARGET",
    "source": "DEMO_SOURCE",
    "models": "DEMO_MODELS",
    "grid": "DEMO_GRID",
    "search": "DEMO_SEARCH",
    "store": "STORE",
}


class DemoError(Exception):
    """A bad choice (exit 2) or a stage that failed (exit 1), said in one line."""

    def __init__(self, problem: str, fix: str, exit_code: int = 2) -> None:
        super().__init__(problem)
        self.problem, self.fix, self.exit_code = problem, fix, exit_code

    def one_line(self) -> str:
        return f"ERROR [demo] {self.problem} | fix: {self.fix}"


def _bad(option: str, problem: str, fix: str) -> DemoError:
    variable = MAKE_VARIABLES.get(option)
    where = f"{variable} (--{option})" if variable else f"--{option}"
    return DemoError(f"{where}: {problem}", fix)


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
        default="local",
        help="local: sqlite + files; services: `make services` (default: local)",
    )
    p.add_argument(
        "--services-env",
        type=Path,
        default=SERVICES_ENV,
        help="with --store services: the env file `make services` wrote (default: .services/env.sh)",
    )
    p.add_argument("--dataset", default="census", help="dataset spec of datasets/ (default: census)")
    p.add_argument("--target", default="", help="the spec's target (default: its default_target)")
    p.add_argument(
        "--source",
        default="",
        help="extractor --source (default: the dataset's shipped copy, its spec's local_source; with "
        "--store services the BigQuery emulator's table for census)",
    )
    p.add_argument(
        "--models", default="lgbm,logreg", help="comma-separated models to fit (default: lgbm,logreg)"
    )
    p.add_argument(
        "--grid", default="demo", help="trainer grid: demo (default, minutes on 2 CPUs), full, or a YAML path"
    )
    p.add_argument("--search", default="grid", help="trainer search: grid or halving (default: grid)")
    p.add_argument(
        "--experiment", default="", help="MLflow experiment (default: <dataset>-demo, e.g. census-demo)"
    )
    p.add_argument("--model-name", default="", help="registered model (default: <dataset>-<target>)")
    return p.parse_args(argv)


@dataclass(frozen=True)
class Plan:
    """Every choice of the run, checked before any stage starts."""

    dataset: str
    target: str
    source: str
    models: list[str]
    grid: str
    search: str
    experiment: str
    model_name: str


def plan(args: argparse.Namespace, env: dict[str, str]) -> Plan:
    """Resolve and check the options against the dataset specs and the model catalogue."""
    from pipeline_common import dataset_spec, model_catalogue, wiring
    from pipeline_common.errors import StageError

    try:
        spec = dataset_spec.load(args.dataset)
    except StageError as exc:
        raise _bad("dataset", exc.problem, exc.fix) from None
    try:
        target = spec.target(args.target or None)
    except StageError as exc:
        raise _bad("target", exc.problem, exc.fix) from None
    catalogue = model_catalogue.load_all()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in catalogue]
    if not models or unknown:
        raise _bad(
            "models", f"unknown model(s) {unknown or '(none given)'}", f"use some of {sorted(catalogue)}"
        )
    if args.search not in ("grid", "halving"):
        raise _bad("search", f"unknown search {args.search!r}", "use grid or halving")
    from trainer import grids

    for model in models:
        try:
            grids.load(args.grid, model)
        except StageError as exc:
            # The trainer's message names its own option; here the knob is DEMO_GRID.
            problem = exc.problem.replace(f"--grid {args.grid!r}", f"{args.grid!r}")
            raise _bad("grid", problem, exc.fix.replace("pass ", "set DEMO_GRID to ", 1)) from None
    source = args.source or _default_source(spec, args.store, env)
    if not source:
        raise _bad("source", f"dataset {spec.name!r} has no shipped copy", "give DEMO_SOURCE=URI")
    if "://" not in source:
        # A path is the caller's: the stages run in the work directory.
        if not Path(source).exists():
            raise _bad(
                "source", f"{source} does not exist", "give an existing file or a gs:// or bigquery:// URI"
            )
        source = str(Path(source).resolve())
    return Plan(
        dataset=spec.name,
        target=target.name,
        source=source,
        models=models,
        grid=args.grid,
        search=args.search,
        experiment=args.experiment or f"{spec.name}-demo",
        model_name=args.model_name or wiring.registered_model_name(spec.name, target.name),
    )


def _default_source(spec: Any, store: str, env: dict[str, str]) -> str:
    """The shipped copy; with the services, census is read from the BigQuery emulator's table."""
    if store == "services" and spec.name == "census" and env.get("CENSUS_BIGQUERY_TABLE"):
        return f"bigquery://{env['CENSUS_BIGQUERY_TABLE']}"
    return str(ROOT / spec.local_source) if spec.local_source else ""


def services_env(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise _bad("store", f"services: {path} not found", "start `make services` in another terminal first")
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            key, _, value = line[len("export ") :].partition("=")
            env[key.strip()] = shlex.split(value)[0] if value.strip() else ""
    if not env.get("MLFLOW_TRACKING_URI"):
        raise _bad("store", f"services: {path} sets no MLFLOW_TRACKING_URI", "restart `make services`")
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
        raise DemoError(
            f"stage {name} failed with exit code {proc.returncode}", "see its ERROR line above", exit_code=1
        )
    result = json.loads((xcom / "return.json").read_text())
    print(f"--- {name}: ok in {time.monotonic() - started:.1f} s", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    from pipeline_common import wiring

    args = parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    started = time.monotonic()
    try:
        if args.store not in ("local", "services"):
            raise _bad("store", f"unknown store {args.store!r}", "use local or services")
        env = services_env(args.services_env) if args.store == "services" else {}
        run = plan(args, env)
        if args.store == "services":
            prefix = f"gs://{DATA_BUCKET}/runs/demo/{run.dataset}/{stamp}"
        else:
            env = local_store(workdir, run.experiment)
            prefix = (workdir / "data" / run.dataset / stamp).as_uri()
        print(
            f"demo: dataset {run.dataset}, target {run.target}, source {run.source}, store {args.store}, "
            f"MLFLOW_TRACKING_URI={env['MLFLOW_TRACKING_URI']}, outputs under {prefix}",
            flush=True,
        )
        extract = run_stage(
            "extract",
            "extractor",
            wiring.extract_args(
                dataset=run.dataset, source=run.source, output=wiring.extract_output(prefix, run.dataset)
            ),
            env,
            workdir,
        )
        features = run_stage(
            "preprocess",
            "preprocessor",
            wiring.preprocess_args(
                dataset=run.dataset,
                input_uri=extract["raw_uri"],
                output_prefix=wiring.preprocess_prefix(prefix),
                target=run.target,
            ),
            env,
            workdir,
        )
        fits = [
            run_stage(
                f"fit-{model}",
                "trainer",
                wiring.train_args(
                    model=model,
                    features_uri=features["features_uri"],
                    experiment=run.experiment,
                    grid=run.grid,
                    search=run.search,
                ),
                env,
                workdir,
            )
            for model in run.models
        ]
        candidates = workdir / "xcom" / "candidates.json"
        candidates.write_text(json.dumps(fits))
        promote = run_stage(
            "promote",
            "trainer",
            wiring.promote_args(
                experiment=run.experiment, model_name=run.model_name, candidates=f"@{candidates}"
            ),
            # The run summary is printed below, from promote's return.json; not in its log too.
            {**env, "TRAINER_SUMMARY_LOG": "0"},
            workdir,
        )
    except DemoError as exc:
        print(exc.one_line(), file=sys.stderr)
        return exc.exit_code
    seconds = round(time.monotonic() - started, 1)
    summary = {
        "store": args.store,
        "dataset": run.dataset,
        "target": run.target,
        "source": run.source,
        "tracking_uri": env["MLFLOW_TRACKING_URI"],
        "experiment": run.experiment,
        "grid": run.grid,
        "search": run.search,
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
    print("\n" + promote["summary"])
    print(f"\ndemo done in {seconds:.0f} s; summary in {workdir / 'summary.json'}")
    if args.store == "local":
        # The run summary's order (trainer/summary.py): best first.
        best_first = sorted(fits, key=lambda f: (-f["metrics"]["roc_auc"], f["model"], f["run_id"]))
        pages = [("decision report", promote.get("report_uri"))]
        pages += [(f"model card {fit['model']}", fit.get("card_uri")) for fit in best_first]
        pages = [(name, uri) for name, uri in pages if uri]
        files = local_files(env["MLFLOW_TRACKING_URI"], [uri for _, uri in pages])
        print("open in a browser:")
        for (name, _), path in zip(pages, files, strict=True):
            print(f"  {name}: {path}")
        print(
            f"browse the runs: {sys.executable} -m mlflow ui --backend-store-uri {env['MLFLOW_TRACKING_URI']}"
            " (Training runs: tick runs, then Compare; README: See the runs side by side)"
        )
    return 0


def local_files(tracking_uri: str, uris: list[str]) -> list[str]:
    """file:// URIs of `runs:/<run_id>/<path>` artifacts in the local store (pages to open as files)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    out = []
    for uri in uris:
        run_id, _, path = uri.removeprefix("runs:/").partition("/")
        out.append(f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{path}")
    return out


if __name__ == "__main__":
    sys.exit(main())
