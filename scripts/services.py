"""`make services`: run fake-gcs-server, the BigQuery emulator and an MLflow server for a developer.

Starts the three servers on loopback (free ports unless given), creates the pipeline's buckets,
loads the census table into the BigQuery emulator, prints the `export` lines that point the stages
at them (also written to .services/env.sh), then waits; Ctrl-C or SIGTERM stops all three.

    make services              # terminal 1
    source .services/env.sh    # terminal 2: then run stages; the MLflow UI is at $MLFLOW_TRACKING_URI
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make the repo's `tests` package importable
    sys.path.insert(0, str(ROOT))

from tests.fixtures import servers  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/services.py", description=__doc__.split("\n\n")[0])
    port = {"type": int, "default": 0, "metavar": "PORT"}
    parser.add_argument("--gcs-port", **port, help="fake-gcs-server port (default: a free port)")
    parser.add_argument("--bq-rest-port", **port, help="BigQuery emulator REST port (default: a free port)")
    parser.add_argument("--bq-grpc-port", **port, help="Storage Read API (gRPC) port (default: a free port)")
    parser.add_argument("--mlflow-port", **port, help="MLflow server port (default: a free port)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=ROOT / ".services",
        help="where the MLflow SQLite file and env.sh go (default: .services/); logs: .artifacts/services/",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="census CSV to load into BigQuery (default: data/census_adult_income.csv.gz)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log_dir = servers.DEFAULT_LOG_DIR
    started: list[servers.GcsEmulator | servers.BigQueryEmulator | servers.MlflowServer] = []

    def stop_all(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_all)
    try:
        print(f"[services] logs in {log_dir}", flush=True)
        print("[services] starting fake-gcs-server ...", flush=True)
        gcs = servers.start_gcs(log_dir, port=args.gcs_port)
        started.append(gcs)
        for bucket in (servers.DATA_BUCKET, servers.MLFLOW_BUCKET):
            gcs.create_bucket(bucket)
        print(f"[services] GCS {gcs.url}: buckets {servers.DATA_BUCKET}, {servers.MLFLOW_BUCKET}", flush=True)

        print("[services] starting the BigQuery emulator ...", flush=True)
        bq = servers.start_bigquery(log_dir, rest_port=args.bq_rest_port, grpc_port=args.bq_grpc_port)
        started.append(bq)
        rows = bq.load_census(args.data)
        print(f"[services] BigQuery {bq.rest_url}, Storage Read API {bq.grpc_host}", flush=True)
        print(f"[services] loaded {bq.census_table}: {rows} rows", flush=True)

        print("[services] starting the MLflow server (first start migrates its SQLite store) ...", flush=True)
        mlflow = servers.start_mlflow(gcs, args.state_dir / "mlflow", log_dir, port=args.mlflow_port)
        started.append(mlflow)
        print(f"[services] MLflow {mlflow.url}: artifacts in {mlflow.artifacts_destination}", flush=True)

        # The stages' environment, plus the census table's name: `make demo STORE=services` reads
        # census from it (the README's "BigQuery -> gs:// -> MLflow").
        exports = servers.export_lines(
            {**servers.stage_env(gcs, bq, mlflow), "CENSUS_BIGQUERY_TABLE": bq.census_table}
        )
        env_file = args.state_dir / "env.sh"
        env_file.write_text(exports + "\n")
        print(f"\n# Point the stages at these servers (also in {env_file.relative_to(ROOT)}):\n{exports}\n")
        print(f"# BigQuery source: --source bigquery://{bq.census_table}")
        print(f"# Stage outputs:   gs://{servers.DATA_BUCKET}/runs/<run_id>/...")
        print("\n[services] running; Ctrl-C stops them.", flush=True)
        while all(s.process.running() for s in started):
            time.sleep(1)
        dead = [s.process for s in started if not s.process.running()]
        for proc in dead:
            print(f"[services] {proc.name} stopped unexpectedly\n{proc.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[services] stopping ...", flush=True)
        return 0
    except servers.ServiceError as exc:
        print(f"[services] {exc}", file=sys.stderr)
        return 1
    finally:
        for server in reversed(started):
            server.stop()
        if started:
            (args.state_dir / "env.sh").unlink(missing_ok=True)
            print("[services] stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
