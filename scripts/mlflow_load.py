#!/usr/bin/env python3
"""Load an MLflow tracking server like the pipeline does: trainers writing, clients reading.

    python scripts/mlflow_load.py --url http://127.0.0.1:5000 --writers 8 --readers 50 --seconds 20

Each writer loops over trainer-like runs: create a run, log params and metrics in batches, upload
a small artifact (proxied artifact API, as the trainer's plots), end the run. Each reader loops
over search_runs and get_run. Every HTTP request is timed; a failure is a non-2xx answer or a
transport error (no retries: a retried request would hide a failure). Prints a table per request
kind (requests, failures, requests/s, p50/p99 latency) and, with --json, writes the same figures.
Exit code 0 when no request failed, 1 otherwise.

Uses the REST API directly (the same endpoints MlflowClient calls) so each request is measured
once and no client-side retry masks an error.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

API = "/api/2.0/mlflow"
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@dataclass
class Stats:
    """Latencies (seconds) and failures per request kind, shared by all threads."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error:
                self.failures[kind].append(error)


class Client:
    """One HTTP session per thread; every call is timed and recorded."""

    def __init__(self, url: str, stats: Stats, auth: tuple[str, str] | None, timeout: float) -> None:
        self.url, self.stats, self.timeout = url.rstrip("/"), stats, timeout
        self.session = requests.Session()
        self.session.auth = auth

    def call(self, kind: str, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
        started = time.perf_counter()
        error, body = None, None
        try:
            resp = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
            if resp.status_code // 100 != 2:
                error = f"HTTP {resp.status_code}: {resp.text[:200]}"
            else:
                body = resp.json() if resp.content and "json" in resp.headers.get("content-type", "") else {}
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {str(exc)[:200]}"
        self.stats.record(kind, time.perf_counter() - started, error)
        return body


def ensure_experiment(client: Client, name: str) -> str:
    found = client.call(
        "get_experiment", "GET", f"{API}/experiments/get-by-name", params={"experiment_name": name}
    )
    if found and "experiment" in found:
        return found["experiment"]["experiment_id"]
    created = client.call("create_experiment", "POST", f"{API}/experiments/create", json={"name": name})
    if not created:
        raise SystemExit(
            f"ERROR [mlflow-load] cannot create experiment {name!r} | fix: check --url and the server log"
        )
    return created["experiment_id"]


def writer(client: Client, experiment_id: str, stop: threading.Event, run_ids: list[str], index: int) -> None:
    """A trainer: one run after another, like `trainer train` logs its search."""
    step = 0
    while not stop.is_set():
        tags = [{"key": "pipeline.model", "value": "lgbm"}, {"key": "load.writer", "value": str(index)}]
        body = {"experiment_id": experiment_id, "run_name": f"load-w{index}-{step}", "tags": tags}
        created = client.call(
            "create_run", "POST", f"{API}/runs/create", json={**body, "start_time": int(time.time() * 1000)}
        )
        if not created:
            time.sleep(0.1)
            continue
        run_id = created["run"]["info"]["run_id"]
        params = [{"key": f"best.param_{i}", "value": str(i * 0.1)} for i in range(20)]
        client.call("log_batch", "POST", f"{API}/runs/log-batch", json={"run_id": run_id, "params": params})
        for batch in range(3):  # metrics in batches, as a search logs per candidate
            now = int(time.time() * 1000)
            metrics = [
                {"key": f"cv_fold_{k}", "value": 0.8 + k / 100, "timestamp": now, "step": batch}
                for k in range(25)
            ]
            client.call(
                "log_batch", "POST", f"{API}/runs/log-batch", json={"run_id": run_id, "metrics": metrics}
            )
        client.call(
            "log_artifact", "PUT", f"{ARTIFACTS}/{experiment_id}/{run_id}/artifacts/cv/summary.json",
            data=json.dumps({"writer": index, "step": step, "pad": "x" * 2048}).encode(),
        )  # fmt: skip
        client.call(
            "end_run",
            "POST",
            f"{API}/runs/update",
            json={"run_id": run_id, "status": "FINISHED", "end_time": int(time.time() * 1000)},
        )
        run_ids.append(run_id)
        step += 1


def reader(client: Client, experiment_id: str, stop: threading.Event, run_ids: list[str], index: int) -> None:
    """A client browsing runs: search the experiment, open one run."""
    while not stop.is_set():
        query = {
            "experiment_ids": [experiment_id],
            "max_results": 50,
            "order_by": ["attributes.start_time DESC"],
        }
        found = client.call("search_runs", "POST", f"{API}/runs/search", json=query)
        runs = (found or {}).get("runs") or []
        run_id = runs[index % len(runs)]["info"]["run_id"] if runs else (run_ids[-1] if run_ids else None)
        if run_id:
            client.call("get_run", "GET", f"{API}/runs/get", params={"run_id": run_id})
        else:
            time.sleep(0.05)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarise(stats: Stats, seconds: float) -> dict[str, Any]:
    kinds = {}
    for kind in sorted(stats.latencies):
        lat = stats.latencies[kind]
        kinds[kind] = {
            "requests": len(lat),
            "failures": len(stats.failures.get(kind, [])),
            "rps": round(len(lat) / seconds, 1),
            "p50_ms": round(percentile(lat, 50) * 1000, 1),
            "p99_ms": round(percentile(lat, 99) * 1000, 1),
        }
    every = [x for lat in stats.latencies.values() for x in lat]
    total = {
        "requests": len(every),
        "failures": sum(len(v) for v in stats.failures.values()),
        "rps": round(len(every) / seconds, 1),
        "p50_ms": round(percentile(every, 50) * 1000, 1),
        "p99_ms": round(percentile(every, 99) * 1000, 1),
    }
    examples = [e for errs in stats.failures.values() for e in errs[:3]][:10]
    return {"seconds": round(seconds, 1), "kinds": kinds, "total": total, "failure_examples": examples}


def table(summary: dict[str, Any], title: str = "") -> str:
    head = f"{'request':<18}{'requests':>10}{'failures':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    rows = [*summary["kinds"].items(), ("TOTAL", summary["total"])]
    for kind, s in rows:
        lines.append(
            f"{kind:<18}{s['requests']:>10}{s['failures']:>10}{s['rps']:>9}{s['p50_ms']:>9}{s['p99_ms']:>9}"
        )
    return "\n".join(lines)


def run_load(
    url: str,
    *,
    writers: int = 8,
    readers: int = 50,
    seconds: float = 20.0,
    experiment: str | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Run the load for `seconds` and return the summary (see summarise)."""
    # The set-up requests (a 404 of get-by-name included) are not part of the measured load.
    experiment_id = ensure_experiment(
        Client(url, Stats(), auth, timeout), experiment or f"load-{uuid.uuid4().hex[:8]}"
    )
    stats = Stats()
    stop, run_ids = threading.Event(), []
    threads = [
        threading.Thread(
            target=writer,
            args=(Client(url, stats, auth, timeout), experiment_id, stop, run_ids, i),
            daemon=True,
        )
        for i in range(writers)
    ] + [
        threading.Thread(
            target=reader,
            args=(Client(url, stats, auth, timeout), experiment_id, stop, run_ids, i),
            daemon=True,
        )
        for i in range(readers)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout + 5)
    summary = summarise(stats, time.perf_counter() - started)
    summary.update({"url": url, "writers": writers, "readers": readers, "runs_finished": len(run_ids)})
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="MLflow tracking server, e.g. http://127.0.0.1:5000")
    parser.add_argument("--writers", type=int, default=8, help="trainer-like writer threads (default: 8)")
    parser.add_argument("--readers", type=int, default=50, help="reader threads (default: 50)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load runs (default: 20)")
    parser.add_argument("--experiment", help="experiment to write into (default: a new load-XXXX)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="per-request timeout in seconds (default: 30)"
    )
    parser.add_argument("--json", type=Path, help="also write the summary to this JSON file")
    args = parser.parse_args(argv)
    print(
        f"loading {args.url}: {args.writers} writers + {args.readers} readers for {args.seconds:.0f} s",
        flush=True,
    )
    summary = run_load(
        args.url, writers=args.writers, readers=args.readers, seconds=args.seconds,
        experiment=args.experiment, timeout=args.timeout,
    )  # fmt: skip
    print(table(summary))
    for example in summary["failure_examples"]:
        print(f"  failed: {example}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["total"]["failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
