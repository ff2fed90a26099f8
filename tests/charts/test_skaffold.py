"""skaffold.yaml and k8s/kind-config.yaml: schema-valid, and wired to the images, charts and ports.

No skaffold binary runs here, so tests/helpers/skaffold_config.py resolves profiles the way
Skaffold does, and the `helm --set` pairs Skaffold would pass are parsed by Helm's own strvals
(helm_python) and checked against the real charts: the local MLflow chart is rendered with Helm's
engine; the remote Airflow chart's values are validated against its published values schema.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.helpers.schemas import schema_path
from tests.helpers.skaffold_config import (
    GKE_DIGEST,
    GKE_ENV,
    ROOT,
    built_refs,
    effective,
    load_configs,
    release_values,
)

# census-pipeline builds the images and applies k8s/; census-releases installs the Helm releases.
BASE, MAIN = "census-pipeline", "census-releases"
PROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
STAGES = ("extractor", "preprocessor", "trainer")
IMAGES = {f"census-pipeline/{n}" for n in (*STAGES, "mlflow", "airflow")}  # docs/contract.md
KIND_CONFIG = ROOT / "k8s" / "kind-config.yaml"
# What Skaffold builds for kind (unique image-id tag, no digest) and for gke (tag@digest).


def _schema(name: str) -> dict[str, Any]:
    return json.loads(schema_path(name).read_text())


@pytest.fixture(scope="module")
def configs() -> dict[str, dict[str, Any]]:
    return load_configs()


@pytest.fixture(scope="module")
def skaffold_schema() -> dict[str, Any]:
    return _schema("skaffold-v4beta14.json")


def _release(config: dict[str, Any], name: str) -> dict[str, Any]:
    releases = {r["name"]: r for r in config["deploy"]["helm"]["releases"]}
    assert name in releases, f"no helm release {name!r}; releases: {sorted(releases)}"
    return releases[name]


def _artifacts(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["image"]: a for a in config["build"]["artifacts"]}


def _built_refs(profile: str) -> dict[str, str]:
    return built_refs(profile)


def _helm_values(config: dict[str, Any], release: str, profile: str, env: dict[str, str] | None = None):
    """User values of a release as Helm sees them: -f files merged, then every --set applied."""
    return release_values(config, release, profile, env)


def _merge_maps(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_maps(out[key], value)
        else:
            out[key] = value
    return out


def _dockerfile(artifact: dict[str, Any]) -> Path:
    return ROOT / artifact.get("context", ".") / artifact.get("docker", {}).get("dockerfile", "Dockerfile")


# -- schema ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("profiles", [[], ["kind"], ["gke"]], ids=["base", "kind", "gke"])
def test_every_config_validates_against_the_skaffold_schema(configs, skaffold_schema, profiles):
    validator = jsonschema.Draft7Validator(skaffold_schema)
    for name, config in configs.items():
        assert config["apiVersion"] == "skaffold/v4beta14"
        resolved = effective(config, profiles) if profiles else config
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(resolved)]
        assert not errors, f"{name} {profiles}: {errors}"


def test_the_schema_rejects_an_unknown_field(configs, skaffold_schema):
    broken = json.loads(json.dumps(configs[MAIN]))
    broken["deploy"]["helm"]["releases"][0]["valuesFile"] = ["typo.yaml"]
    assert list(jsonschema.Draft7Validator(skaffold_schema).iter_errors(broken))


# -- build ----------------------------------------------------------------------------------------
def test_one_artifact_per_contract_image_each_with_its_own_context(configs):
    artifacts = _artifacts(configs[BASE])
    assert set(artifacts) == IMAGES
    assert not configs[MAIN].get("build"), "images are built once, in census-pipeline"
    for image, artifact in artifacts.items():
        assert "context" in artifact, f"{image} has no explicit context"
        assert "docker" in artifact, f"{image} is not a Docker build"
    for (
        stage
    ) in STAGES:  # docs/contract.md: context the repository root, Dockerfile images/<stage>/Dockerfile
        artifact = artifacts[f"census-pipeline/{stage}"]
        assert (artifact["context"], artifact["docker"]["dockerfile"]) == (".", f"images/{stage}/Dockerfile")
        # The stage images carry the dataset specs and the model catalogue.
        assert {"datasets", "models", "images"} <= {p.name for p in (ROOT / artifact["context"]).iterdir()}
    mlflow = artifacts["census-pipeline/mlflow"]  # images/ too: it runs common/docker/slim-venv.sh
    assert (mlflow["context"], mlflow["docker"]["dockerfile"]) == ("images", "mlflow/Dockerfile")
    # The Airflow image bakes in dags/, so its context must contain dags/.
    airflow = artifacts["census-pipeline/airflow"]
    assert (ROOT / airflow["context"] / "dags").resolve() == (ROOT / "dags").resolve()
    assert _dockerfile(airflow) == ROOT / "images" / "airflow" / "Dockerfile"


def test_every_dockerfile_under_images_is_an_artifact(configs):
    built = {_dockerfile(a).resolve() for a in _artifacts(configs[BASE]).values()}
    on_disk = {p.resolve() for p in (ROOT / "images").glob("*/Dockerfile")}
    assert on_disk <= built, f"Dockerfiles no artifact builds: {sorted(map(str, on_disk - built))}"


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_each_artifacts_dockerfile_exists_and_declares_its_build_args(configs, image):
    artifact = _artifacts(configs[BASE])[image]
    dockerfile = _dockerfile(artifact)
    assert dockerfile.is_file(), f"{image}: {dockerfile.relative_to(ROOT)} does not exist"
    declared = dict(re.findall(r"(?m)^\s*ARG\s+(\w+)(?:=(\S*))?", dockerfile.read_text()))
    for arg, template in artifact["docker"].get("buildArgs", {}).items():
        assert arg in declared, f"{image}: buildArg {arg} is not an ARG of {dockerfile.relative_to(ROOT)}"
        default = re.fullmatch(r'\{\{default "([^"]+)" \.(\w+)\}\}', template)
        assert default and default.group(2) == arg, f"{image}: {arg} must be '{{{{default \"...\" .{arg}}}}}'"
        # Unset in the environment, Skaffold passes the same default the Dockerfile has.
        assert default.group(1) == declared[arg], (
            f"{image}: skaffold default {default.group(1)!r} != Dockerfile ARG {arg}={declared[arg]!r}"
        )


def test_airflow_context_is_kept_small_by_its_dockerignore():
    # Context "." holds .venv*, data/ and .git: the Dockerfile-specific ignore file must drop them.
    ignore = ROOT / "images" / "airflow" / "Dockerfile.dockerignore"
    assert ignore.is_file(), "images/airflow/Dockerfile.dockerignore missing (context is the repo root)"
    lines = [ln.strip() for ln in ignore.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    allowlist = lines[:1] in (["*"], ["**"])
    assert allowlist or {".venv", ".git"} <= {ln.strip("/*") for ln in lines}, lines


# -- tags -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("profiles", [[], ["kind"], ["gke"]], ids=["base", "kind", "gke"])
def test_no_tag_policy_resolves_to_latest(configs, profiles):
    build = effective(configs[BASE], profiles)["build"]
    policy = build["tagPolicy"]
    assert "sha256" not in policy, "the sha256 tagger tags `latest`"
    if "envTemplate" in policy:
        assert policy["envTemplate"]["template"] == PROJECT_VERSION
    if "customTemplate" in policy:
        template = policy["customTemplate"]
        assert template["template"].startswith(f"{PROJECT_VERSION}-")
        assert all("sha256" not in c for c in template.get("components", []))
    assert "latest" not in json.dumps(policy)


# -- deploy order and manifests -------------------------------------------------------------------
def test_k8s_manifests_are_applied_before_the_helm_releases(configs):
    base, main = configs[BASE], configs[MAIN]
    # Within one config Skaffold runs helm before kubectl, so k8s/ lives in a required config.
    assert {"configs": [BASE]} in main.get("requires", []), f"{MAIN} must require {BASE}"
    assert "kubectl" in base["deploy"] and "helm" not in base["deploy"]
    assert "manifests" not in main and "kubectl" not in main["deploy"]
    names = list(configs)
    assert names.index(BASE) < names.index(MAIN)


@pytest.mark.parametrize("profiles", [[], ["kind"]], ids=["base", "kind"])
def test_raw_manifests_are_every_k8s_yaml_but_the_kind_config(configs, profiles):
    listed = effective(configs[BASE], profiles)["manifests"]["rawYaml"]
    for pattern in listed:
        assert "*" not in pattern, f"{pattern}: a glob would also apply k8s/kind-config.yaml"
    on_disk = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "k8s").glob("*.yaml"))
    assert "k8s/kind-config.yaml" not in listed
    assert sorted(listed) == [p for p in on_disk if p != "k8s/kind-config.yaml"]


def test_gke_applies_no_gcs_emulator(configs):
    listed = effective(configs[BASE], ["gke"])["manifests"]["rawYaml"]
    for path in listed:
        kinds = [
            d.get("metadata", {}).get("name", "") for d in yaml.safe_load_all((ROOT / path).read_text()) if d
        ]
        assert not any("fake-gcs" in k for k in kinds), f"gke applies the GCS emulator from {path}"
    hook = effective(configs[BASE], ["gke"])["deploy"]["kubectl"]["hooks"]["after"][0]["host"]["command"]
    assert "iam.gke.io/gcp-service-account=${PIPELINE_GSA}" in hook[-1]


def test_seed_job_inputs_come_from_this_config(configs):
    config = effective(configs[BASE], ["kind"])
    hook = " ".join(config["deploy"]["kubectl"]["hooks"]["before"][0]["host"]["command"])
    assert hook.startswith("bash -c set -euo pipefail;")
    objects = [d for d in yaml.safe_load_all((ROOT / "k8s" / "gcs-seed-job.yaml").read_text()) if d]
    job = next(o for o in objects if o["kind"] == "Job")
    spec = job["spec"]["template"]["spec"]
    data_map = next(v["configMap"]["name"] for v in spec["volumes"] if v["name"] == "data")
    assert f"create configmap {data_map} " in hook, "the hook must create the ConfigMap the seed Job mounts"
    from tests.helpers import seed_job

    for key in seed_job.seeds():
        match = re.search(rf"--from-file={re.escape(key)}=(\S+)", hook)
        assert match and (ROOT / match.group(1)).is_file(), (
            f"no --from-file={key}=<existing file> in the hook"
        )
    # The Job runs in the extractor image, which this same config builds (so it is loaded first).
    image = spec["containers"][0]["image"].rsplit(":", 1)[0]
    assert image in _artifacts(configs[BASE])
    gke = effective(configs[BASE], ["gke"])["deploy"]["kubectl"]["hooks"]
    assert "before" not in gke, "gke has no emulator to seed"


# -- helm releases --------------------------------------------------------------------------------
def test_releases_wait_in_their_contract_namespaces(configs):
    helm = configs[MAIN]["deploy"]["helm"]
    for name in ("mlflow", "airflow"):
        release = _release(configs[MAIN], name)
        assert release["namespace"] == name and release["createNamespace"] is True
        assert release["wait"] is True
    for phase in ("install", "upgrade"):
        assert "--timeout" in helm["flags"][phase]
    assert configs[MAIN]["deploy"]["statusCheckDeadlineSeconds"] >= 900


def test_remote_airflow_chart_is_pinned(configs):
    airflow = _release(configs[MAIN], "airflow")
    assert airflow["remoteChart"] == "airflow" and airflow["repo"] == "https://airflow.apache.org"
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(airflow["version"])), "pin an exact chart version"
    assert "chartPath" not in airflow
    mlflow = _release(configs[MAIN], "mlflow")
    assert (ROOT / mlflow["chartPath"] / "Chart.yaml").is_file()
    # The values files and the manual install docs are written for one chart version: the same.
    pinned = airflow["version"]
    for doc in (
        "helm/airflow/values.yaml",
        "helm/airflow/values-kind.yaml",
        "docs/deployment.md",
        "README.md",
    ):
        text = (ROOT / doc).read_text()
        named = set(re.findall(r"apache-airflow/airflow\W+(?:--version )?\**(\d+\.\d+\.\d+)", text))
        named |= set(re.findall(r"chart version (\d+\.\d+\.\d+)", text))
        assert named <= {pinned}, f"{doc} names Airflow chart {sorted(named)}, skaffold.yaml pins {pinned}"


def test_every_template_field_names_a_built_image_and_every_image_is_deployed(configs):
    sanitized = {re.sub(r"[/\-.]", "_", image): image for image in IMAGES}
    used = set()
    for release in configs[MAIN]["deploy"]["helm"]["releases"]:
        for template in release.get("setValueTemplates", {}).values():
            for prefix, name in re.findall(r"\.IMAGE_(FULLY_QUALIFIED|REPO|TAG|DIGEST)_(\w+)", str(template)):
                assert name in sanitized, (
                    f"{prefix}_{name} matches no artifact (sanitized: {sorted(sanitized)})"
                )
                used.add(sanitized[name])
    assert used == IMAGES, f"artifacts never injected into a release: {sorted(IMAGES - used)}"


@pytest.mark.parametrize("profile", ["kind", "gke"])
def test_airflow_env_carries_each_stage_image_as_an_airflow_variable(configs, profile):
    config = effective(configs[MAIN], [profile])
    refs = _built_refs(profile)
    values = _helm_values(config, "airflow", profile)
    env = {e["name"]: e["value"] for e in values["env"]}
    for stage in STAGES:
        assert env[f"AIRFLOW_VAR_{stage.upper()}_IMAGE"] == refs[f"census-pipeline/{stage}"]
    names = [e["name"] for e in values["env"]]
    assert len(names) == len(set(names)), f"an env name appears twice: {names}"


@pytest.mark.parametrize("profile", ["kind", "gke"])
def test_airflow_values_declare_the_variables_at_the_positions_skaffold_sets(profile):
    # `env` is a list: skaffold sets env[i] by position (the stage images; on gke also the BigQuery
    # project), so every Airflow values file that defines the list must hold the same names there,
    # or the --set would overwrite another variable.
    release = _release(effective(load_configs()[MAIN], [profile]), "airflow")
    skaffold_env = {
        int(m.group(1)): v
        for k, v in release["setValueTemplates"].items()
        if (m := re.fullmatch(r"env\[(\d+)\]\.name", k))
    }
    assert len(skaffold_env) == (4 if profile == "gke" else 3)
    for path in sorted((ROOT / "helm" / "airflow").glob("values*.yaml")):
        values = yaml.safe_load(path.read_text()) or {}
        if "env" not in values and path.name != "values.yaml":
            continue  # this overlay keeps the base list
        declared = [e["name"] for e in values.get("env", [])]
        for index, name in sorted(skaffold_env.items()):
            found = declared[index] if index < len(declared) else "absent"
            where = f"{path.relative_to(ROOT)} env[{index}]"
            assert found == name, f"{where} is {found}, skaffold.yaml sets {name} there"


def test_gke_bills_bigquery_to_the_project_it_is_given(configs):
    env = {
        e["name"]: e["value"]
        for e in _helm_values(effective(configs[MAIN], ["gke"]), "airflow", "gke")["env"]
    }
    assert env["AIRFLOW_VAR_BIGQUERY_PROJECT"] == GKE_ENV["BIGQUERY_PROJECT"]
    kind = {
        e["name"]: e["value"]
        for e in _helm_values(effective(configs[MAIN], ["kind"]), "airflow", "kind")["env"]
    }
    assert kind["AIRFLOW_VAR_BIGQUERY_PROJECT"] == ""
    hook = effective(configs[BASE], ["gke"])["deploy"]["kubectl"]["hooks"]["after"][0]["host"]["command"][-1]
    assert '"${BIGQUERY_PROJECT:?' in hook, "the gke deploy must stop when BIGQUERY_PROJECT is unset"


@pytest.mark.parametrize("profile", ["kind", "gke"])
def test_airflow_values_with_skaffold_overrides_match_the_chart_schema(configs, profile):
    config = effective(configs[MAIN], [profile])
    user = _helm_values(config, "airflow", profile)
    defaults = yaml.safe_load(schema_path("airflow-chart-values.yaml").read_text())
    merged = _merge_maps(defaults, user)
    errors = [
        f"{list(e.path)}: {e.message[:200]}"
        for e in jsonschema.Draft7Validator(_schema("airflow-chart-values.schema.json")).iter_errors(merged)
    ]
    assert not errors, errors
    refs = _built_refs(profile)
    repo, _, tag = refs["census-pipeline/airflow"].partition("@")[0].rpartition(":")
    assert merged["images"]["airflow"]["repository"] == repo
    expected_tag = tag if profile == "kind" else f"{tag}@{GKE_DIGEST}"
    assert merged["images"]["airflow"]["tag"] == expected_tag
    # With helm --wait the migration/user jobs must not be post-install hooks (they would deadlock).
    assert merged["migrateDatabaseJob"]["useHelmHooks"] is False
    assert merged["createUserJob"]["useHelmHooks"] is False


def test_kind_exposes_the_airflow_api_server_on_the_mapped_node_port(configs):
    values = _helm_values(effective(configs[MAIN], ["kind"]), "airflow", "kind")
    service = values["apiServer"]["service"]
    assert service["type"] == "NodePort"
    assert service["ports"][0]["nodePort"] in _host_mappings()
    assert _host_mappings()[service["ports"][0]["nodePort"]] == 8080


@pytest.mark.parametrize("profile", ["kind", "gke"])
def test_mlflow_chart_renders_the_built_image_and_kind_node_port(configs, profile):
    helm_python = pytest.importorskip("helm_python", reason="helm-python-sdk is a dev dependency")
    config = effective(configs[MAIN], [profile])
    env = GKE_ENV
    user = _helm_values(config, "mlflow", profile, env)
    chart = helm_python.Chart.load(str(ROOT / "helm" / "mlflow"))
    merged = chart.merge_values(user)
    chart.validate_schema(merged)
    rendered = chart.render(user, name="mlflow", namespace="mlflow", is_install=True)
    manifests = [text for path, text in rendered.items() if path.endswith((".yaml", ".yml"))]
    objects = [d for text in manifests for d in yaml.safe_load_all(text) if d]
    by_kind = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    deployment = by_kind[("Deployment", "mlflow")]
    images = {c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]}
    repo_tag = _built_refs(profile)["census-pipeline/mlflow"]
    assert repo_tag in images, f"{repo_tag} not in {images}"
    service = by_kind[("Service", "mlflow")]  # the contract's mlflow.mlflow.svc.cluster.local
    if profile == "kind":
        assert service["spec"]["type"] == "NodePort"
        node_ports = {p.get("nodePort") for p in service["spec"]["ports"]}
        assert any(_host_mappings().get(p) == 5000 for p in node_ports), node_ports
    else:
        account = next(o for o in objects if o["kind"] == "ServiceAccount")
        assert account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == env["MLFLOW_GSA"]


# -- profiles and kind ----------------------------------------------------------------------------
def test_profiles_kind_and_gke_exist_and_only_gke_pushes(configs):
    for config in configs.values():
        assert {"kind", "gke"} <= {p["name"] for p in config["profiles"]}
    assert effective(configs[BASE], ["kind"])["build"]["local"]["push"] is False
    assert effective(configs[BASE], ["gke"])["build"]["local"]["push"] is True
    cluster = yaml.safe_load(KIND_CONFIG.read_text())["name"]
    for config in configs.values():
        kind = next(p for p in config["profiles"] if p["name"] == "kind")
        assert {"kubeContext": f"kind-{cluster}"} in kind["activation"]


def test_every_values_file_a_profile_names_exists(configs):
    for profile in ("kind", "gke"):
        for release in effective(configs[MAIN], [profile])["deploy"]["helm"]["releases"]:
            for path in release.get("valuesFiles", []):
                assert (ROOT / path).is_file(), f"{profile}: {path} does not exist"


def _host_mappings() -> dict[int, int]:
    node = yaml.safe_load(KIND_CONFIG.read_text())["nodes"][0]
    return {m["containerPort"]: m["hostPort"] for m in node["extraPortMappings"]}


def test_kind_config_pins_the_node_image_by_digest_and_maps_the_ui_ports():
    config = yaml.safe_load(KIND_CONFIG.read_text())
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["kind"] == "Cluster"
    for node in config["nodes"]:
        assert re.fullmatch(r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", node["image"]), node["image"]
    mappings = _host_mappings()
    assert set(mappings.values()) == {8080, 5000}
    assert all(30000 <= port <= 32767 for port in mappings), "NodePorts live in 30000-32767"
    for mapping in config["nodes"][0]["extraPortMappings"]:
        assert mapping["listenAddress"] == "127.0.0.1", "dev UIs stay on the loopback interface"


def test_docs_and_make_name_the_same_ports_and_cluster():
    docs = (ROOT / "README.md").read_text()
    make = (ROOT / "mk" / "kind.mk").read_text()
    cluster = yaml.safe_load(KIND_CONFIG.read_text())["name"]
    for port in _host_mappings().values():
        assert f"localhost:{port}" in docs and f"localhost:{port}" in make
    assert f"KIND_CLUSTER ?= {cluster}" in make
    version = _release(load_configs()[MAIN], "airflow")["version"]
    assert version in docs, f"README.md (Run it on kind) does not name the pinned Airflow chart {version}"
