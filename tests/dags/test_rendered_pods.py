"""The pods the DAGs would create, rendered by real DAG runs (dag.test) without a cluster.

Each run renders every task's templates with the run's context and the XComs its upstream tasks
pushed, then builds the V1Pod as KubernetesPodOperator.execute would (`dry_run=True`). Two
deployments are exercised: real GCS with default Variables, and an offline cluster whose images,
bucket, namespace, MLflow URI, GCS emulator and xcom sidecar image are all overridden.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient
from pipeline_common import dataset_spec, model_catalogue

from tests.dags.dagtools import (
    ROOT,
    LoadedDags,
    PodCapture,
    arg_after,
    base_container,
    container,
    run_dag,
    stage_result,
    task_states,
)
from tests.helpers.pss import assert_restricted

K8S_VERSION = "1.37.0"
SIDECAR = "airflow-xcom-sidecar"
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")

# A connection that tries to set the sidecar's resources: the DAGs' own definition still applies.
CONNECTION_SIDECAR_RESOURCES = {
    "requests": {"cpu": "1m", "memory": "8Mi"},
    "limits": {"cpu": "20m", "memory": "24Mi"},
}
OFFLINE_VARS = {
    "AIRFLOW_VAR_EXTRACTOR_IMAGE": "registry.local:5000/census-pipeline/extractor:0.1.0",
    "AIRFLOW_VAR_PREPROCESSOR_IMAGE": "registry.local:5000/census-pipeline/preprocessor:0.1.0",
    "AIRFLOW_VAR_TRAINER_IMAGE": "registry.local:5000/census-pipeline/trainer:0.1.0",
    "AIRFLOW_VAR_DATA_BUCKET": "test-data-bucket",
    "AIRFLOW_VAR_PIPELINE_NAMESPACE": "ml-test",
    "AIRFLOW_VAR_MLFLOW_TRACKING_URI": "http://mlflow.test.svc:5000",
    "AIRFLOW_VAR_GCS_EMULATOR_HOST": "http://fake-gcs-server.ml-pipeline.svc.cluster.local:4443",
    # Offline clusters mirror the sidecar image; the provider reads it from the connection extra.
    "AIRFLOW_CONN_KUBERNETES_DEFAULT": json.dumps(
        {
            "conn_type": "kubernetes",
            "extra": {
                "xcom_sidecar_container_image": "registry.local:5000/alpine:3.24.2",
                "xcom_sidecar_container_resources": json.dumps(CONNECTION_SIDECAR_RESOURCES),
            },
        }
    ),
}
MODELS = model_catalogue.names()
TRAINERS = [f"train.{m}" for m in MODELS]
OFFLINE_CONF = {
    "source": "gs://test-data-bucket/inputs/census.csv",
    "grid": "demo",
    "search": "halving",
    "experiment": "census-ci",
    "test_size": 0.25,
    "seed": 7,
    "force_refresh": True,
}


def _capture(dag: Any, env: dict[str, str], **test_kwargs: Any) -> tuple[PodCapture, dict[str, str]]:
    capture = PodCapture(stage_result)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        dag_run = run_dag(dag, capture.execute, **test_kwargs)
    return capture, task_states(dag_run)


@pytest.fixture(scope="module")
def single_default(dags: LoadedDags) -> tuple[PodCapture, dict[str, str]]:
    """mlflow-dag with default params and Variables (real GCS), default logical date."""
    return _capture(dags.dag("mlflow-dag"), {})


@pytest.fixture(scope="module")
def multi_offline(dags: LoadedDags) -> tuple[PodCapture, dict[str, str]]:
    """mlflow-multimodel-dag, every model, all Variables overridden, no logical date (as over REST)."""
    return _capture(dags.dag("mlflow-multimodel-dag"), OFFLINE_VARS, run_conf=OFFLINE_CONF, logical_date=None)


@pytest.fixture(scope="module")
def multi_one_model(dags: LoadedDags) -> tuple[PodCapture, dict[str, str]]:
    """mlflow-multimodel-dag with only logreg selected."""
    return _capture(dags.dag("mlflow-multimodel-dag"), {}, run_conf={"models": ["logreg"]}, logical_date=None)


@pytest.fixture(scope="module")
def multi_pair(dags: LoadedDags) -> tuple[PodCapture, dict[str, str]]:
    """mlflow-multimodel-dag with the original example's two models."""
    return _capture(
        dags.dag("mlflow-multimodel-dag"), {}, run_conf={"models": ["lgbm", "logreg"]}, logical_date=None
    )


def _all_pods(*runs: tuple[PodCapture, dict[str, str]]) -> Iterator[tuple[str, Any]]:
    for capture, _ in runs:
        yield from capture.pods.items()


def _env(pod: Any) -> dict[str, str]:
    return {e.name: e.value for e in base_container(pod).env}


def test_runs_succeed_and_render_a_pod_per_task(single_default, multi_offline) -> None:
    assert set(single_default[1].values()) == {"success"}
    assert sorted(single_default[0].pods) == ["extract", "preprocess", "promote", "train"]
    assert set(multi_offline[1].values()) == {"success"}
    assert sorted(multi_offline[0].pods) == sorted(["extract", "preprocess", "promote", *TRAINERS])


def test_every_pod_is_valid_kubernetes_and_restricted(single_default, multi_offline) -> None:
    api = ApiClient()
    for task_id, pod in _all_pods(single_default, multi_offline):
        manifest = api.sanitize_for_serialization(pod)
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        assert_restricted(manifest)
        assert DNS_SUBDOMAIN.match(pod.metadata.name) and len(pod.metadata.name) <= 63, pod.metadata.name
        for key, value in pod.metadata.labels.items():
            assert LABEL_KEY.match(key) and LABEL_VALUE.match(value) and len(value) <= 63, (
                task_id,
                key,
                value,
            )


def test_default_images_namespace_and_real_gcs_env(single_default) -> None:
    pods = single_default[0].pods
    expected = {
        "extract": "extractor",
        "preprocess": "preprocessor",
        "train": "trainer",
        "promote": "trainer",
    }
    for task_id, image in expected.items():
        pod = pods[task_id]
        base = base_container(pod)
        assert base.image == f"census-pipeline/{image}:0.1.0"
        assert pod.metadata.namespace == "ml-pipeline"
        env = _env(pod)
        assert env["STAGE_IMAGE"] == base.image
        # Real GCS: the emulator variables are absent, not empty.
        assert "STORAGE_EMULATOR_HOST" not in env and "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT" not in env
        assert container(pod, SIDECAR).image.startswith("alpine:")
    assert _env(pods["train"])["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    assert "MLFLOW_TRACKING_URI" not in _env(pods["extract"])


def test_default_args_with_xcom_values_filled_in(single_default) -> None:
    pods = single_default[0].pods
    args = {task_id: base_container(pod).args for task_id, pod in pods.items()}
    run_dir = arg_after(args["extract"], "--output").removesuffix("/extract/census.parquet")
    prefix, run_segment = run_dir.rsplit("/", 1)
    assert prefix == "gs://census-pipeline-data/runs/mlflow-dag"
    assert SAFE_SEGMENT.match(run_segment) and run_segment.startswith("manual__")
    assert args["extract"] == [
        "--dataset", "census",
        "--source", "bigquery://bigquery-public-data.ml_datasets.census_adult_income",
        "--output", f"{run_dir}/extract/census.parquet",
    ]  # fmt: skip  # no --force: the empty optional flag is dropped
    assert args["preprocess"] == [
        "--dataset", "census",
        "--input", f"{run_dir}/extract/census.parquet",  # extract's XCom raw_uri
        "--output-prefix", f"{run_dir}/preprocess", "--target", "never_married",
        "--test-size", "0.2", "--seed", "55",
    ]  # fmt: skip
    assert args["train"] == [
        "train", "--model", "lgbm", "--features-uri", f"{run_dir}/preprocess/features.json",
        "--experiment", "census", "--grid", "full", "--search", "grid",
    ]  # fmt: skip
    assert args["promote"][:5] == [
        "promote",
        "--experiment",
        "census",
        "--model-name",
        "census-never-married",
    ]
    assert arg_after(args["promote"], "--alias") == "champion"
    # The promotion gate's params, at their defaults (docs/promotion.md).
    gate = {flag: arg_after(args["promote"], flag) for flag in ("--min-delta", "--alpha", "--max-slice-drop")}
    assert gate == {"--min-delta": "0.001", "--alpha": "0.05", "--max-slice-drop": "0.02"}
    candidates = json.loads(arg_after(args["promote"], "--candidates"))
    assert [c["model"] for c in candidates] == ["lgbm"]


def test_offline_overrides_reach_every_pod(multi_offline) -> None:
    pods = multi_offline[0].pods
    for task_id, pod in pods.items():
        base = base_container(pod)
        stage = {"extract": "extractor", "preprocess": "preprocessor"}.get(task_id, "trainer")
        assert base.image == f"registry.local:5000/census-pipeline/{stage}:0.1.0"
        assert pod.metadata.namespace == "ml-test"
        env = _env(pod)
        assert env["STORAGE_EMULATOR_HOST"] == OFFLINE_VARS["AIRFLOW_VAR_GCS_EMULATOR_HOST"]
        assert env["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"
        assert env["AIRFLOW_CTX_DAG_ID"] == "mlflow-multimodel-dag"
        assert env["AIRFLOW_CTX_TASK_ID"] == task_id
        assert env["AIRFLOW_CTX_TRY_NUMBER"] == "1"
        assert env["AIRFLOW_CTX_DAG_RUN_ID"].startswith("manual__")
        assert container(pod, SIDECAR).image == "registry.local:5000/alpine:3.24.2"
        for flag in ("--output", "--output-prefix"):
            if flag in base.args:
                assert arg_after(base.args, flag).startswith(
                    "gs://test-data-bucket/runs/mlflow-multimodel-dag/"
                )
    assert _env(pods["train.lgbm"])["MLFLOW_TRACKING_URI"] == "http://mlflow.test.svc:5000"


def test_params_reach_the_arguments(multi_offline) -> None:
    pods = multi_offline[0].pods
    args = {task_id: base_container(pod).args for task_id, pod in pods.items()}
    assert arg_after(args["extract"], "--source") == OFFLINE_CONF["source"]
    assert args["extract"][-1] == "--force" and args["preprocess"][-1] == "--force"
    assert arg_after(args["preprocess"], "--test-size") == "0.25"
    assert arg_after(args["preprocess"], "--seed") == "7"
    for model in MODELS:
        fit = args[f"train.{model}"]
        assert arg_after(fit, "--model") == model
        assert (arg_after(fit, "--grid"), arg_after(fit, "--search")) == ("demo", "halving")
        assert arg_after(fit, "--experiment") == "census-ci"
    candidates = json.loads(arg_after(args["promote"], "--candidates"))
    assert sorted(c["model"] for c in candidates) == MODELS


def test_unselected_trainer_is_skipped_without_a_pod(multi_one_model) -> None:
    capture, states = multi_one_model
    assert states == {
        "extract": "success",
        "preprocess": "success",
        **{t: "skipped" for t in TRAINERS if t != "train.logreg"},
        "train.logreg": "success",
        "promote": "success",
    }
    assert "train.lgbm" not in capture.pods and "train.hgb" not in capture.pods
    candidates = json.loads(arg_after(base_container(capture.pods["promote"]).args, "--candidates"))
    assert [c["model"] for c in candidates] == ["logreg"], "no null placeholder for the skipped trainer"


def test_resources_and_an_honest_cpu_budget(single_default, multi_offline) -> None:
    expected_cpus = {"extract": 1, "preprocess": 1, "train": 2, "promote": 1}
    for task_id, pod in _all_pods(single_default, multi_offline):
        stage = task_id.split(".")[0]
        res = base_container(pod).resources
        assert set(res.requests) == {"cpu", "memory"} and set(res.limits) == {"cpu", "memory"}
        assert res.limits["cpu"] == str(expected_cpus[stage])
        # No PIPELINE_CPUS: the stage takes min(CPU limit, its share of the node's CPUs), never more
        # than the node has.
        assert "PIPELINE_CPUS" not in _env(pod)
        sidecar = ApiClient().sanitize_for_serialization(container(pod, SIDECAR).resources)
        assert set(sidecar["requests"]) == set(sidecar["limits"]) == {"cpu", "memory"}


def test_trainers_side_by_side_share_the_node(
    single_default, multi_offline, multi_one_model, multi_pair
) -> None:
    """The multi-model DAG's trainers split the node's CPUs when every selected model runs side by
    side (at most TRAINERS_AT_ONCE of them; one model: the whole node); with more models than
    slots each may end up alone, so each budgets the whole node. The single-model DAG's trainer and
    the other stages have the node to themselves."""
    from census_pipeline.params import TRAINERS_AT_ONCE

    side_by_side = len(MODELS) <= TRAINERS_AT_ONCE
    for task_id, pod in _all_pods(multi_offline):
        want = (str(len(MODELS)) if side_by_side else "1") if task_id.startswith("train.") else None
        assert _env(pod).get("PIPELINE_CPU_SHARERS") == want, task_id
    assert _env(multi_one_model[0].pods["train.logreg"])["PIPELINE_CPU_SHARERS"] == "1"
    pair = multi_pair[0].pods
    assert {t: _env(pair[t])["PIPELINE_CPU_SHARERS"] for t in ("train.lgbm", "train.logreg")} == {
        "train.lgbm": "2",
        "train.logreg": "2",
    }
    assert all("PIPELINE_CPU_SHARERS" not in _env(pod) for _, pod in _all_pods(single_default))


def _documented_sidecar() -> dict[str, dict[str, str]]:
    """The xcom sidecar row of docs/dags.md's pod settings: `requests → limits`."""
    row = next(
        line
        for line in (ROOT / "docs" / "dags.md").read_text().splitlines()
        if line.startswith("| resources (")
    )
    match = re.search(r"xcom sidecar: (\S+)/(\S+) → (\S+)/(\S+?)(?:;| \|)", row)
    assert match, row
    cpu_req, mem_req, cpu_lim, mem_lim = match.groups()
    return {"requests": {"cpu": cpu_req, "memory": mem_req}, "limits": {"cpu": cpu_lim, "memory": mem_lim}}


def test_the_sidecar_has_one_definition_and_the_docs_name_it(single_default, multi_offline) -> None:
    documented = _documented_sidecar()
    for task_id, pod in _all_pods(single_default, multi_offline):
        sidecar = container(pod, SIDECAR)
        # The DAGs' resources and security context, even where the connection tries to set others.
        assert ApiClient().sanitize_for_serialization(sidecar.resources) == documented, task_id
        sc = ApiClient().sanitize_for_serialization(sidecar.security_context)
        assert sc == ApiClient().sanitize_for_serialization(base_container(pod).security_context), task_id


def test_security_contexts_volumes_and_pod_settings(single_default, multi_offline) -> None:
    for task_id, pod in _all_pods(single_default, multi_offline):
        spec = pod.spec
        psc = spec.security_context
        assert (psc.run_as_non_root, psc.run_as_user, psc.run_as_group, psc.fs_group) == (
            True,
            10001,
            10001,
            10001,
        )
        assert psc.seccomp_profile.type == "RuntimeDefault"
        assert spec.service_account_name == "pipeline-stage"
        assert spec.automount_service_account_token is False
        assert spec.restart_policy == "Never"
        assert spec.active_deadline_seconds > 0
        for name in ("base", SIDECAR):
            sc = container(pod, name).security_context
            sc = sc if isinstance(sc, dict) else ApiClient().sanitize_for_serialization(sc)
            assert sc["readOnlyRootFilesystem"] is True, (task_id, name)
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["runAsNonRoot"] is True
        base = base_container(pod)
        assert base.image_pull_policy == "IfNotPresent"
        volumes = {v.name: v for v in spec.volumes}
        assert set(volumes) == {"xcom", "tmp"}
        assert volumes["xcom"].empty_dir is not None and volumes["tmp"].empty_dir is not None
        mounts = {m.mount_path: m.name for m in base.volume_mounts}
        assert mounts == {"/airflow/xcom": "xcom", "/tmp": "tmp"}
        assert {m.mount_path for m in container(pod, SIDECAR).volume_mounts} == {"/airflow/xcom"}
        labels = pod.metadata.labels
        assert labels["app.kubernetes.io/name"] == "census-pipeline"
        assert labels["dag_id"] in ("mlflow-dag", "mlflow-multimodel-dag")
        assert labels["task_id"] == task_id and labels["run_id"]


# -- the pods as each deployment renders them (env parsed from the values / skaffold) --------------
def _skaffold_env(profile: str) -> dict[str, str]:
    """The Airflow env `skaffold run -p PROFILE` deploys, from the project venv (helm strvals)."""
    import subprocess
    import sys

    python = ROOT / ".venv" / "bin" / "python"
    assert python.exists(), f"{python} missing | fix: make venv"
    done = subprocess.run(
        [str(python), "-m", "tests.helpers.airflow_env", profile, "--skaffold"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr or sys.executable
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def gke_default(dags: LoadedDags) -> tuple[dict[str, str], PodCapture]:
    env = _skaffold_env("gke")
    capture, states = _capture(dags.dag("mlflow-dag"), env, logical_date=None)
    assert set(states.values()) == {"success"}
    return env, capture


@pytest.fixture(scope="module")
def kind_default(dags: LoadedDags) -> tuple[dict[str, str], PodCapture]:
    from tests.helpers.airflow_env import values_env

    env = values_env("kind")
    capture, states = _capture(dags.dag("mlflow-multimodel-dag"), env, logical_date=None)
    assert set(states.values()) == {"success"}
    return env, capture


def test_on_gke_extract_reads_bigquery_billed_to_the_given_project(gke_default) -> None:
    from tests.helpers.skaffold_config import GKE_ENV, GKE_REPO

    env, capture = gke_default
    pod = capture.pods["extract"]
    base = base_container(pod)
    # No Variable on GKE: the census spec's default_source, the public table.
    assert not [k for k in env if k.startswith("AIRFLOW_VAR_DEFAULT_SOURCE")]
    assert arg_after(base.args, "--source") == dataset_spec.load("census").default_source
    assert arg_after(base.args, "--source").startswith("bigquery://bigquery-public-data.")
    assert _env(pod)["GOOGLE_CLOUD_PROJECT"] == GKE_ENV["BIGQUERY_PROJECT"]
    assert base.image.startswith(f"{GKE_REPO}/census-pipeline/extractor:") and "@sha256:" in base.image
    assert "STORAGE_EMULATOR_HOST" not in _env(pod), "real GCS on GKE"
    for task_id in ("preprocess", "train", "promote"):
        assert "GOOGLE_CLOUD_PROJECT" not in _env(capture.pods[task_id]), task_id


def test_on_kind_extract_reads_the_seeded_csv_from_the_emulator(kind_default) -> None:
    env, capture = kind_default
    pod = capture.pods["extract"]
    assert arg_after(base_container(pod).args, "--source") == env["AIRFLOW_VAR_DEFAULT_SOURCE_CENSUS"]
    assert env["AIRFLOW_VAR_DEFAULT_SOURCE_CENSUS"].startswith("gs://census-pipeline-data/seed/")
    assert "GOOGLE_CLOUD_PROJECT" not in _env(pod), "bigquery_project is empty on kind: absent, not empty"
    assert _env(pod)["STORAGE_EMULATOR_HOST"] == env["AIRFLOW_VAR_GCS_EMULATOR_HOST"]


def test_an_explicit_source_wins_over_the_deployment_default(multi_offline) -> None:
    pods = multi_offline[0].pods
    assert arg_after(base_container(pods["extract"]).args, "--source") == OFFLINE_CONF["source"]


# -- what the sidecar image must provide: docs/dags.md against the provider's own commands --------
SHELL_KEYWORDS = {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}"}
ALWAYS_BUILTIN = {"true", "echo"}  # in every POSIX sh, not worth listing


def _shell_commands(snippet: str) -> set[str]:
    import shlex

    commands = set()
    for segment in re.split(r";|&&|\|\||\$\(|\)|\n|`", snippet):
        try:
            words = shlex.split(segment)
        except ValueError:
            words = segment.split()
        while words and words[0] in SHELL_KEYWORDS:
            words = words[1:]
        # The tail of a command a `$(...)` split (`-f 'sh'`), loops, assignments, redirections.
        if not words or words[0] == "for" or "=" in words[0] or words[0].startswith(("<", "-")):
            continue
        commands.add(words[0])
    return commands


def _provider_sidecar_commands() -> set[str]:
    """Every command the installed provider runs in the xcom sidecar (its literal shell snippets)."""
    import ast
    import inspect
    import textwrap

    from airflow.providers.cncf.kubernetes.utils import pod_manager, xcom_sidecar

    snippets = [xcom_sidecar.PodDefaults.XCOM_CMD]
    for method in (pod_manager.PodManager.extract_xcom_json, pod_manager.PodManager.extract_xcom_kill):
        tree = ast.parse(textwrap.dedent(inspect.getsource(method)))
        for node in ast.walk(tree):
            # The shell the exec runs (`command=["/bin/sh", ...]`) and each `..._command = "..."`.
            if isinstance(node, ast.keyword) and node.arg == "command" and isinstance(node.value, ast.List):
                snippets.append(str(node.value.elts[0].value))
            if isinstance(node, ast.Assign) and any("command" in getattr(t, "id", "") for t in node.targets):
                values = node.value.values if isinstance(node.value, ast.JoinedStr) else [node.value]
                snippets.append("".join(v.value if isinstance(v, ast.Constant) else "X" for v in values))
    commands = set().union(*(_shell_commands(s) for s in snippets))
    return {"sh" if c == "/bin/sh" else "test" if c == "[" else c for c in commands} - ALWAYS_BUILTIN


def _documented_sidecar_commands() -> set[str]:
    text = (ROOT / "docs" / "dags.md").read_text()
    section = text.split("## XCom sidecar", 1)[1].split("\n## ", 1)[0]
    paragraph = section[section.index("The image\nmust run") :]
    words = set(re.findall(r"`([^`]+)`", paragraph))
    return {"sh" if w == "/bin/sh" else w for w in words if re.fullmatch(r"[a-z]+|/bin/sh", w)}


def test_the_docs_name_every_command_the_provider_runs_in_the_sidecar() -> None:
    provider, documented = _provider_sidecar_commands(), _documented_sidecar_commands()
    assert {"sleep", "cat", "kill", "pgrep", "id", "sh"} <= provider, provider
    assert provider <= documented, f"docs/dags.md misses {sorted(provider - documented)}"
    assert documented <= provider | {"test"}, (
        f"docs/dags.md names {sorted(documented - provider)} the provider never runs"
    )


@pytest.mark.parametrize(
    "dataset, target", [(d, t) for d in dataset_spec.available() for t in ["", *dataset_spec.load(d).targets]]
)
def test_the_templates_name_the_model_and_target_as_wiring_does(
    dags: LoadedDags, dataset: str, target: str
) -> None:
    """deployment.MODEL_NAME (Jinja) and pipeline_common.wiring.registered_model_name (Python) agree."""
    from pipeline_common import wiring

    spec = dataset_spec.load(dataset)
    source = "gs://census-pipeline-data/x.csv"
    capture, states = _capture(
        dags.dag("mlflow-dag"),
        {},
        run_conf={"dataset": dataset, "target": target, "source": source, "grid": "demo"},
    )
    assert set(states.values()) == {"success"}, states
    chosen = target or spec.default_target
    assert arg_after(base_container(capture.pods["preprocess"]).args, "--target") == chosen
    promote = base_container(capture.pods["promote"]).args
    assert arg_after(promote, "--model-name") == wiring.registered_model_name(dataset, chosen)
    assert arg_after(promote, "--experiment") == dataset
