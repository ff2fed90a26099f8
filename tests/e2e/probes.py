"""Real probes for what the kind end-to-end tier needs; the tier skips naming whatever is missing.

Nothing here reads a flag: each requirement is checked by doing a small piece of the real work
(the tool is on PATH, the Docker engine answers, the pinned node image can be had, the Airflow
chart repository serves the pinned chart).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("docker", "kind", "kubectl", "helm", "skaffold")


@dataclass
class Probe:
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def reason(self) -> str:
        return "kind e2e cannot run here: " + "; ".join(self.missing)


def _run(cmd: list[str], timeout: float) -> tuple[int, str]:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return 1, str(err)
    lines = (done.stderr or done.stdout).strip().splitlines()
    return done.returncode, lines[-1] if lines else ""


def node_image() -> str:
    config = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
    return config["nodes"][0]["image"]


def airflow_chart() -> tuple[str, str, str]:
    docs = [d for d in yaml.safe_load_all((ROOT / "skaffold.yaml").read_text()) if d]
    for doc in docs:
        for release in doc.get("deploy", {}).get("helm", {}).get("releases", []):
            if "remoteChart" in release:
                return release["remoteChart"], release["repo"], str(release["version"])
    raise LookupError("skaffold.yaml has no remote chart")


def probe(pull_timeout: float = 900) -> Probe:
    """Check, cheapest first, everything `make e2e` needs; returns what is missing."""
    result = Probe()
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        result.missing.append(f"{', '.join(absent)} not on PATH")
    if "docker" not in absent:
        rc, line = _run(["docker", "info", "--format", "{{.ServerVersion}}"], 30)
        if rc != 0:
            result.missing.append(f"no Docker engine answers `docker info` ({line})")
        else:
            image = node_image()
            rc, _ = _run(["docker", "image", "inspect", image], 30)
            if rc != 0:
                # kind create would pull it anyway: pulling now is the honest registry probe.
                rc, line = _run(["docker", "pull", image], pull_timeout)
                if rc != 0:
                    result.missing.append(f"no registry access: `docker pull {image}` failed ({line})")
    if "helm" not in absent:
        chart, repo, version = airflow_chart()
        rc, line = _run(["helm", "show", "chart", chart, "--repo", repo, "--version", version], 120)
        if rc != 0:
            result.missing.append(f"chart repository {repo} unreachable for {chart} {version} ({line})")
    return result
