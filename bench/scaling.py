"""Scaled copies of the census table: k x the rows, resampled with a fixed seed.

Rows are drawn with replacement; functional_weight (a column the preprocessor drops) is replaced by
the row number so resampled rows stay distinct: otherwise drop_duplicates would fold 100x back to
~1x and the preprocessor's cost past de-duplication would not grow at all. Every other value is a
census value, byte for byte (leading spaces and ' ?' kept, as BigQuery serves them).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from pipeline_common import wiring

from bench.report import say
from bench.stages import StageRun, run_stage


def read_raw(path: str | Path):
    """The census CSV as strings, exactly as written (no NA parsing, no stripping)."""
    import pandas as pd

    return pd.read_csv(path, dtype=str, keep_default_na=False)


def scaled_files(raw, k: int, outdir: Path, seed: int = 55) -> dict:
    """Write census_x{k}.csv and census_x{k}.parquet (INT64/STRING, as the BigQuery table)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pipeline_common.dataset_spec import load

    int_columns = load("census").kind_columns("int")
    outdir.mkdir(parents=True, exist_ok=True)
    csv_path, pq_path = outdir / f"census_x{k}.csv", outdir / f"census_x{k}.parquet"
    n = len(raw) * k
    if not (csv_path.is_file() and pq_path.is_file()):
        rng = np.random.default_rng(seed)
        df = raw.iloc[rng.integers(0, len(raw), size=n)].reset_index(drop=True)
        df["functional_weight"] = [f" {i + 1}" for i in range(n)]
        df.to_csv(csv_path.with_suffix(".csv.tmp"), index=False)
        csv_path.with_suffix(".csv.tmp").rename(csv_path)
        columns = {}
        for col in df.columns:
            if col in int_columns:
                columns[col] = pa.array(df[col].str.strip().astype("int64").to_numpy(), type=pa.int64())
            else:
                columns[col] = pa.array(df[col].to_numpy(dtype=object), type=pa.string())
        pq.write_table(pa.table(columns), pq_path.with_suffix(".parquet.tmp"))
        pq_path.with_suffix(".parquet.tmp").rename(pq_path)
    return {"k": k, "rows": n, "csv": csv_path, "parquet": pq_path}


def frame_bytes(parquet_path: str | Path) -> int:
    """In-memory size of the table as a pandas frame (deep: string payloads included)."""
    import pandas as pd

    df = pd.read_parquet(parquet_path)
    size = int(df.memory_usage(deep=True).sum())
    del df
    return size


def start_bigquery_emulator(log_dir: Path):
    """The project's BigQuery emulator fixture (bqemulator), or (None, why not)."""
    try:
        from tests.fixtures import servers
    except ImportError as exc:
        return None, f"tests.fixtures.servers not importable ({exc})"
    try:
        return servers.start_bigquery(log_dir), ""
    except Exception as exc:  # any start failure is a reason to skip this source, not to stop
        return None, f"bqemulator did not start: {str(exc).splitlines()[0][:200]}"


def _stage(stage: str, args: list[str], workdir: Path, key: str, env: dict[str, str] | None) -> StageRun:
    return run_stage(
        stage,
        args,
        mode="process",
        workdir=workdir,
        xcom=workdir / "xcom" / key,
        env=env,
        cap_s=STAGE_CAP_S,
        quiet=True,
    )


STAGE_CAP_S = 900.0


def run_scaling(
    data: Path, scales: list[int], workdir: Path, bigquery: bool, bigquery_max_scale: int = 100
) -> dict[str, Any]:
    say("  scaling: reading the census CSV ...")
    raw = read_raw(data)
    rows: list[dict[str, Any]] = []
    sources = ["csv", "parquet"]
    bq, bq_note = (None, "not requested")
    if bigquery:
        say("  scaling: starting the BigQuery emulator ...")
        bq, bq_note = start_bigquery_emulator(workdir / "bqemulator-logs")
        if bq is not None:
            sources.append("bigquery-emulator")
        else:
            say(f"  scaling: BigQuery emulator skipped: {bq_note}")
    try:
        for k in scales:
            say(f"  scaling x{k}: writing {len(raw) * k:,} resampled rows as CSV and Parquet ...")
            files = scaled_files(raw, k, workdir / "data")
            for source in sources:
                if source == "bigquery-emulator" and k > bigquery_max_scale:
                    continue
                env, src = None, str(files["csv" if source == "csv" else "parquet"])
                if source == "bigquery-emulator":
                    t0 = time.monotonic()
                    bq.load_census(files["csv"])
                    say(f"    loaded x{k} into the emulator in {time.monotonic() - t0:.1f} s")
                    src = f"bigquery://{bq.census_table}"
                    env = {
                        "BIGQUERY_EMULATOR_HOST": bq.rest_url,
                        "BIGQUERY_STORAGE_EMULATOR_HOST": bq.grpc_host,
                        "GOOGLE_CLOUD_PROJECT": bq.project,
                    }
                out_raw = workdir / f"x{k}-{source}" / "raw.parquet"
                ext = _stage(
                    "extractor",
                    wiring.extract_args(dataset="census", source=src, output=str(out_raw), force=True),
                    workdir,
                    f"x{k}-{source}-extract",
                    env,
                )
                frame = frame_bytes(out_raw) if ext.ok else None
                rows.append(_scale_row("extractor", source, k, files["rows"], ext, frame))
                if ext.ok:
                    prefix = str(workdir / f"x{k}-{source}" / "features")
                    pre = _stage(
                        "preprocessor",
                        wiring.preprocess_args(
                            dataset="census", input_uri=str(out_raw), output_prefix=prefix, force=True
                        ),
                        workdir,
                        f"x{k}-{source}-pre",
                        None,
                    )
                    rows.append(_scale_row("preprocessor", source, k, files["rows"], pre, frame))
                for r in rows[-2 if ext.ok else -1 :]:
                    say(
                        f"    {r['stage']:<12} x{k:<3} {source:<17} {r['wall_s']:7.1f} s"
                        f"  peak {r['peak_rss_mb']:6.0f} MB"
                        f"  frame {r['frame_mb'] or 0:5.0f} MB  peak/frame {r['peak_over_frame'] or 0:.1f}"
                        + ("" if r["ok"] else f"  FAILED {r['error']}")
                    )
                shutil.rmtree(workdir / f"x{k}-{source}", ignore_errors=True)
    finally:
        if bq is not None:
            bq.stop()
    _marginal(rows)
    return {
        "rows": rows,
        "sources": sources,
        "bigquery_emulator": bq_note or "measured",
        "note": _SCALING_NOTE,
    }


_SCALING_NOTE = (
    "frame = pandas in-memory size (memory_usage(deep=True)) of the raw 15-column table; peak = the stage "
    "process's peak RSS (tree). marginal = (peak(k) - peak(1)) / (frame(k) - frame(1)): the memory a byte of "
    "frame costs, without the interpreter's fixed imports."
)


def _scale_row(
    stage: str, source: str, k: int, rows: int, run: StageRun, frame: int | None
) -> dict[str, Any]:
    return {
        "stage": stage,
        "source": source,
        "k": k,
        "rows": rows,
        "ok": run.ok,
        "wall_s": round(run.wall_s, 3),
        "cpu_s": round(run.cpu_s, 3),
        "peak_rss_mb": round(run.peak_rss_bytes / 1e6, 1),
        "frame_mb": round(frame / 1e6, 1) if frame else None,
        "peak_over_frame": round(run.peak_rss_bytes / frame, 2) if frame else None,
        "s_per_million_rows": round(run.wall_s / rows * 1e6, 2),
        "stage_seconds": run.result.get("seconds"),
        "error": run.error[-200:],
    }


def _marginal(rows: list[dict[str, Any]]) -> None:
    for r in rows:
        base = next(
            (b for b in rows if b["stage"] == r["stage"] and b["source"] == r["source"] and b["k"] == 1), None
        )
        r["marginal_peak_over_frame"] = None
        if base and r["k"] != 1 and r["frame_mb"] and base["frame_mb"] and r["frame_mb"] > base["frame_mb"]:
            r["marginal_peak_over_frame"] = round(
                (r["peak_rss_mb"] - base["peak_rss_mb"]) / (r["frame_mb"] - base["frame_mb"]), 2
            )
