"""The GitHub workflow runs as written: it fetches what it needs, pinned and checked, and runs make e2e."""

from __future__ import annotations

import re

import yaml

from tests.helpers.schemas import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
INSTALLER = ROOT / "scripts" / "install_kind_tools.sh"
KIND_CONFIG = ROOT / "k8s" / "kind-config.yaml"


def _jobs() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]


def _steps(job: str) -> list[str]:
    return [step.get("run", "") or step.get("uses", "") for step in _jobs()[job]["steps"]]


def _pins() -> dict[str, str]:
    return dict(re.findall(r"^([A-Z0-9_]+)=(\S+)", INSTALLER.read_text(), re.MULTILINE))


def test_the_e2e_job_installs_pinned_checked_tools_and_runs_make_e2e() -> None:
    steps = _steps("e2e-kind")
    assert any("scripts/install_kind_tools.sh" in s for s in steps)
    assert any(s.strip() == "make e2e" for s in steps)
    assert not any("kind-action" in s or "setup-helm" in s for s in steps), (
        "tools come from the pinned installer"
    )
    uploads = [s for s in _jobs()["e2e-kind"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert any(u.get("if") == "failure()" and ".artifacts/e2e" in u["with"]["path"] for u in uploads)


def test_the_installer_pins_versions_and_digests() -> None:
    text = INSTALLER.read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in text
    pins = _pins()
    for tool in ("KIND", "KUBECTL", "HELM"):
        assert re.fullmatch(r"v\d+\.\d+\.\d+", pins[f"{tool}_VERSION"]), tool
        assert re.fullmatch(r"[0-9a-f]{64}", pins[f"{tool}_SHA256"]), tool
    assert re.fullmatch(r"v\d+\.\d+\.\d+", pins["SKAFFOLD_VERSION"])
    assert "sha256sum --check" in text and "latest" not in text


def test_the_pinned_kind_and_kubectl_match_the_node_image() -> None:
    pins = _pins()
    config = KIND_CONFIG.read_text()
    node = re.search(r"kindest/node:(v\d+\.\d+\.\d+)@", config).group(1)
    assert f"kind {pins['KIND_VERSION']}" in config, (
        "k8s/kind-config.yaml names the kind release its node image is for"
    )
    assert pins["KUBECTL_VERSION"] == node, "kubectl matches the node's Kubernetes version"
    readme = (ROOT / "README.md").read_text()
    for tool in ("KIND", "KUBECTL", "HELM", "SKAFFOLD"):
        assert pins[f"{tool}_VERSION"] in readme, f"README does not name {tool} {pins[f'{tool}_VERSION']}"


def test_each_tier_job_gets_what_it_needs() -> None:
    tiers = _jobs()["tests"]["strategy"]["matrix"]["tier"]
    assert {"charts", "dags", "containers"} <= set(tiers)
    steps = _jobs()["tests"]["steps"]
    schemas = next(s for s in steps if s.get("run") == "make schemas")
    assert schemas["if"] == "matrix.tier == 'charts'"
    assert steps.index(schemas) < next(i for i, s in enumerate(steps) if "make test-" in s.get("run", ""))


def test_the_dag_tier_builds_the_images_and_runs_containers_unless_asked_otherwise() -> None:
    make = (ROOT / "mk" / "dags.mk").read_text()
    assert "DAG_PODS ?= containers" in make
    recipe = make.split("test-dags:", 1)[1]
    assert recipe.index("scripts/build_images.sh extractor preprocessor trainer") < recipe.index(
        "pytest tests/dags"
    )
    assert "scripts/docker_engine.sh" in recipe
