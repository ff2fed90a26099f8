"""The whole pipeline against real services, with only gs:// URIs, each stage as a process.

extract (BigQuery emulator, Storage Read API) -> preprocess -> fit (lgbm, logreg; demo grids) ->
promote, every stage pointed at the servers only by the environment a pod would get. The results
are checked through the real clients: google-cloud-storage for the bucket objects and MlflowClient
for runs, artifacts, the registry and its alias.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pipeline_common import wiring

from tests.fixtures import servers
from tests.fixtures.servers import BigQueryEmulator, GcsEmulator, MlflowServer
from tests.helpers.stages import PROJECT_VERSION, StageRun, run_stage

MODELS = ("lgbm", "logreg")
EXPERIMENT = "census-income"
MODEL_NAME = wiring.registered_model_name("census", "never_married")
DAG_ID = "census_pipeline"
PLOTS = {"roc_curve.png", "precision_recall_curve.png", "confusion_matrix.png", "feature_importance.png"}
METRICS = ("roc_auc", "pr_auc", "log_loss")


@dataclass
class Pipeline:
    prefix: str  # gs://census-pipeline-data/runs/<dag>/<run>
    run_id: str  # the Airflow run id the stages were told (lineage)
    extract: dict[str, Any]
    preprocess: dict[str, Any]
    fits: dict[str, dict[str, Any]]
    promote: dict[str, Any]


def _pod_env(stage_env: dict[str, str], run_id: str, task_id: str, image: str) -> dict[str, str]:
    """What the DAG gives a stage pod: the service endpoints plus the lineage variables."""
    return {
        **stage_env,
        "STAGE_IMAGE": f"census-pipeline/{image}:{PROJECT_VERSION}",
        "AIRFLOW_CTX_DAG_ID": DAG_ID,
        "AIRFLOW_CTX_DAG_RUN_ID": run_id,
        "AIRFLOW_CTX_TASK_ID": task_id,
        "AIRFLOW_CTX_TRY_NUMBER": "1",
    }


def _ok(run: StageRun) -> dict[str, Any]:
    assert run.rc == 0, f"rc={run.rc}\n{run.stderr[-6000:]}"
    assert run.xcom is not None, run.stderr[-3000:]
    return run.xcom


def _run(
    module: str, args: list[str], env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return _ok(run_stage(module, args, xcom_dir=tmp_path_factory.mktemp("xcom"), env=env, timeout=900))


@pytest.fixture(scope="module")
def pipeline(
    stage_env: dict[str, str], bigquery_emulator: BigQueryEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Pipeline:
    run_id = f"integration__{uuid.uuid4().hex[:8]}"
    prefix = f"gs://{servers.DATA_BUCKET}/runs/{DAG_ID}/{run_id}"
    extract = _run(
        "extractor",
        wiring.extract_args(
            dataset="census",
            source=f"bigquery://{bigquery_emulator.census_table}",
            output=wiring.extract_output(prefix, "census"),
        ),
        _pod_env(stage_env, run_id, "extract", "extractor"),
        tmp_path_factory,
    )
    preprocess = _run(
        "preprocessor",
        wiring.preprocess_args(
            dataset="census", input_uri=extract["raw_uri"], output_prefix=wiring.preprocess_prefix(prefix)
        ),
        _pod_env(stage_env, run_id, "preprocess", "preprocessor"),
        tmp_path_factory,
    )
    fits = {}
    for model in MODELS:
        fits[model] = _run(
            "trainer",
            wiring.train_args(
                model=model, features_uri=preprocess["features_uri"], experiment=EXPERIMENT, grid="demo"
            ),
            _pod_env(stage_env, run_id, f"fit_{model}", "trainer"),
            tmp_path_factory,
        )
    promote = _run(
        "trainer",
        wiring.promote_args(
            experiment=EXPERIMENT, model_name=MODEL_NAME, candidates=json.dumps(list(fits.values()))
        ),
        _pod_env(stage_env, run_id, "promote", "trainer"),
        tmp_path_factory,
    )
    return Pipeline(prefix, run_id, extract, preprocess, fits, promote)


@pytest.fixture(scope="module")
def mlflow_client(mlflow_server: MlflowServer):  # -> MlflowClient
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)


def _bucket_path(uri: str) -> tuple[str, str]:
    assert uri.startswith("gs://"), uri
    bucket, _, name = uri[len("gs://") :].partition("/")
    return bucket, name


def _download(gcs: GcsEmulator, uri: str) -> bytes:
    bucket, name = _bucket_path(uri)
    return gcs.client().bucket(bucket).blob(name).download_as_bytes()


def test_extract_reads_bigquery_through_the_storage_api_into_the_bucket(
    pipeline: Pipeline, gcs_emulator: GcsEmulator
) -> None:
    extract = pipeline.extract
    assert extract["read_api"] == "bigquery-storage"
    assert extract["rows"] == 32_561
    assert extract["columns"] == [name for name, _ in servers.CENSUS_SCHEMA]
    bucket, name = _bucket_path(extract["raw_uri"])
    assert bucket == servers.DATA_BUCKET
    assert gcs_emulator.list_blobs(bucket, name) == {name: extract["bytes"]}
    table = pq.read_table(io.BytesIO(_download(gcs_emulator, extract["raw_uri"])))
    assert table.num_rows == 32_561
    assert table["workclass"][0].as_py().startswith(" ")  # raw BigQuery values, untrimmed


def test_stage_outputs_are_exactly_the_committed_objects(
    pipeline: Pipeline, gcs_emulator: GcsEmulator
) -> None:
    """Every object under the run prefix is a declared output, with the size the stage reported."""
    _, run_prefix = _bucket_path(pipeline.prefix)
    objects = gcs_emulator.list_blobs(servers.DATA_BUCKET, run_prefix + "/")
    pre = pipeline.preprocess
    expected = {
        _bucket_path(uri)[1] for uri in (pipeline.extract["raw_uri"], pre["train_uri"], pre["test_uri"])
    }
    manifest = json.loads(_download(gcs_emulator, pre["features_uri"]))
    expected |= {_bucket_path(pre["features_uri"])[1], _bucket_path(manifest["row_ids_uri"])[1]}
    assert set(objects) == expected, "temporary or partial objects left behind"
    assert all(size > 0 for size in objects.values()), objects

    assert manifest["train_uri"] == pre["train_uri"] and manifest["test_uri"] == pre["test_uri"]
    assert manifest["input_uri"] == pipeline.extract["raw_uri"]
    assert manifest["input_sha256"] == pipeline.extract["sha256"]
    for split in ("train", "test"):
        blob = _download(gcs_emulator, pre[f"{split}_uri"])
        assert len(blob) == objects[_bucket_path(pre[f"{split}_uri"])[1]]
        assert pq.read_metadata(io.BytesIO(blob)).num_rows == pre[f"rows_{split}"] == manifest["rows"][split]
    assert 0 < pre["rows_train"] + pre["rows_test"] <= 32_561


def test_one_mlflow_run_per_model_with_metrics_params_and_lineage(
    pipeline: Pipeline, mlflow_client: Any, mlflow_server: MlflowServer
) -> None:
    experiment = mlflow_client.get_experiment_by_name(EXPERIMENT)
    runs = mlflow_client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`airflow.run_id` = '{pipeline.run_id}'"
    )
    by_model = {r.data.tags["pipeline.model"]: r for r in runs}
    assert sorted(by_model) == sorted(MODELS) and len(runs) == len(MODELS), [r.info.run_id for r in runs]
    for model, fit in pipeline.fits.items():
        run = by_model[model]
        assert run.info.run_id == fit["run_id"]
        assert run.info.status == "FINISHED"
        for key in METRICS:
            assert run.data.metrics[key] == pytest.approx(fit["metrics"][key], abs=1e-6)
        assert run.data.params["model"] == model
        assert run.data.params["grid"] == "demo"
        assert {f"best.{k}" for k in fit["best_params"]} <= set(run.data.params)
        tags = run.data.tags
        assert tags["stage_image"] == f"census-pipeline/trainer:{PROJECT_VERSION}"
        assert tags["airflow.dag_id"] == DAG_ID
        assert tags["airflow.task_id"] == f"fit_{model}"
        assert tags["pipeline.features_uri"] == pipeline.preprocess["features_uri"]
        assert tags["pipeline.train_sha256"] == pipeline.preprocess["train_sha256"]
        assert tags["pipeline.test_sha256"] == pipeline.preprocess["test_sha256"]
        # Artifacts go through the server's proxy: the run's artifact root is not a bucket URL.
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
        assert {
            a.path.split("/")[-1] for a in mlflow_client.list_artifacts(run.info.run_id, "plots")
        } == PLOTS


def test_plots_and_models_are_stored_in_the_mlflow_bucket(
    pipeline: Pipeline, gcs_emulator: GcsEmulator, mlflow_client: Any
) -> None:
    objects = gcs_emulator.list_blobs(servers.MLFLOW_BUCKET)
    for model, fit in pipeline.fits.items():
        run_id = fit["run_id"]
        plots = {n.rsplit("/", 1)[-1]: s for n, s in objects.items() if f"/{run_id}/artifacts/plots/" in n}
        assert set(plots) == PLOTS, f"{model}: {sorted(n for n in objects if run_id in n)}"
        assert all(size > 1000 for size in plots.values()), plots  # real PNGs, not empty objects
        logged = mlflow_client.get_logged_model(fit["model_uri"].removeprefix("models:/"))
        model_files = [n for n in objects if f"/{logged.model_id}/artifacts/" in n]
        assert any(n.endswith("/MLmodel") for n in model_files), model_files
        assert any(n.endswith(".skops") for n in model_files), model_files


def test_best_model_is_registered_with_the_champion_alias(pipeline: Pipeline, mlflow_client: Any) -> None:
    promote = pipeline.promote
    best = max(pipeline.fits.values(), key=lambda f: f["metrics"]["roc_auc"])
    assert promote["promoted"] is True
    assert promote["best_model"] == best["model"] and promote["run_id"] == best["run_id"]
    champion = mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert int(champion.version) == promote["registered_version"]
    assert champion.run_id == best["run_id"]
    assert champion.tags["promote.promoted"] == "true"
    assert champion.tags["pipeline.model"] == best["model"]


def test_a_worse_candidate_keeps_the_champion(
    pipeline: Pipeline,
    stage_env: dict[str, str],
    mlflow_client: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The model that lost the first promote, promoted alone: scored with the champion on the same
    holdout, not promoted, and not registered (it stays a run carrying the decision)."""
    worse = min(pipeline.fits.values(), key=lambda f: f["metrics"]["roc_auc"])
    assert worse["run_id"] != pipeline.promote["run_id"]
    second = _run(
        "trainer",
        wiring.promote_args(experiment=EXPERIMENT, model_name=MODEL_NAME, candidates=json.dumps([worse])),
        _pod_env(stage_env, pipeline.run_id, "promote_again", "trainer"),
        tmp_path_factory,
    )
    assert second["promoted"] is False, second["reason"]
    assert second["champion_version"] == pipeline.promote["registered_version"]
    assert second["registered_version"] is None and second["rule"] == "gain_below_min_delta"
    assert second["champion_roc_auc"] > second["roc_auc"]
    assert second["trigger"]["task_id"] == "promote_again"
    champion = mlflow_client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert int(champion.version) == pipeline.promote["registered_version"]
    versions = mlflow_client.search_model_versions(f"name = '{MODEL_NAME}'")
    assert [int(v.version) for v in versions] == [pipeline.promote["registered_version"]]
    assert mlflow_client.get_run(worse["run_id"]).data.tags["promote.promoted"] == "false"


def test_rest_fallback_extracts_the_same_rows(
    pipeline: Pipeline,
    stage_env: dict[str, str],
    bigquery_emulator: BigQueryEmulator,
    gcs_emulator: GcsEmulator,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Storage Read API unreachable: the extractor pages over REST, warns, and writes the same rows."""
    env = {
        **_pod_env(stage_env, pipeline.run_id, "extract_rest", "extractor"),
        "BIGQUERY_STORAGE_EMULATOR_HOST": f"127.0.0.1:{servers.free_port()}",  # nothing listens there
    }
    run = run_stage(
        "extractor",
        wiring.extract_args(
            dataset="census",
            source=f"bigquery://{bigquery_emulator.census_table}",
            output=wiring.extract_output(f"{pipeline.prefix}_rest", "census"),
        ),
        xcom_dir=tmp_path_factory.mktemp("xcom"),
        env=env,
        timeout=600,
    )
    rest = _ok(run)
    assert rest["read_api"] == "bigquery-rest"
    assert "over the REST API" in run.stderr and "did not connect" in run.stderr
    assert rest["rows"] == pipeline.extract["rows"]
    bucket, name = _bucket_path(rest["raw_uri"])
    assert gcs_emulator.list_blobs(bucket, name) == {name: rest["bytes"]}

    def rows(uri: str) -> pa.Table:
        table = pq.read_table(io.BytesIO(_download(gcs_emulator, uri)))
        return table.sort_by([(n, "ascending") for n in table.column_names])

    assert rows(rest["raw_uri"]).equals(rows(pipeline.extract["raw_uri"]))
