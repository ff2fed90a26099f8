"""CPU and memory requests of every pod `skaffold run -p kind` deploys, for the node-budget check.

    python -m tests.helpers.kind_requests      # JSON list: {what, when, cpu_m, memory_mi}

`when` is `always` (runs for the life of the deployment) or `install` (a Job that runs while the
release is installed or upgraded). Sources: the k8s/ manifests the kind profile applies, the
MLflow chart rendered by Helm's engine with the values Skaffold passes, and the Airflow release's
pods modelled from the values Skaffold passes (tests/helpers/airflow_release.py). A pod's request
is what the scheduler counts: max(sum of its containers, its largest init container).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml

from tests.helpers.pss import pod_template

MEMORY_UNITS = {
    "Ki": 1 / 1024,
    "Mi": 1,
    "Gi": 1024,
    "K": 1000 / 1024**2,
    "M": 1000**2 / 1024**2,
    "G": 1000**3 / 1024**2,
}


def cpu_m(quantity: Any) -> float:
    text = str(quantity)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def memory_mi(quantity: Any) -> float:
    text = str(quantity)
    for suffix, factor in sorted(MEMORY_UNITS.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text) / 1024**2


def _requests(container: dict[str, Any]) -> tuple[float, float]:
    requests = (container.get("resources") or {}).get("requests") or {}
    return cpu_m(requests.get("cpu", 0)), memory_mi(requests.get("memory", 0))


def pod_requests(spec: dict[str, Any]) -> tuple[float, float]:
    """(CPU millicores, memory MiB) the scheduler reserves for a pod spec."""
    main = [_requests(c) for c in spec.get("containers") or []]
    init = [_requests(c) for c in spec.get("initContainers") or []]
    cpu = max(sum(c for c, _ in main), max((c for c, _ in init), default=0))
    memory = max(sum(m for _, m in main), max((m for _, m in init), default=0))
    return cpu, memory


def deployed_pods() -> list[dict[str, Any]]:
    from tests.charts.render import ROOT, render_chart
    from tests.helpers.airflow_release import JOBS, over_chart_defaults, release_pods
    from tests.helpers.schemas import find_schema
    from tests.helpers.skaffold_config import BASE, MAIN, effective, load_configs, release_values

    configs = load_configs()
    base, main = effective(configs[BASE], ["kind"]), effective(configs[MAIN], ["kind"])
    out = []

    def add(what: str, when: str, spec: dict[str, Any], replicas: int = 1) -> None:
        cpu, memory = pod_requests(spec)
        for _ in range(replicas):
            out.append({"what": what, "when": when, "cpu_m": cpu, "memory_mi": memory})

    for path in base["manifests"]["rawYaml"]:
        for doc in yaml.safe_load_all((ROOT / path).read_text()):
            if doc and (template := pod_template(doc)) is not None:
                when = "install" if doc["kind"] == "Job" else "always"
                add(f"{path}: {doc['kind']}/{doc['metadata']['name']}", when, template["spec"],
                    doc.get("spec", {}).get("replicas", 1))  # fmt: skip
    for obj in render_chart(release_values(main, "mlflow", "kind"), namespace="mlflow"):
        if "helm.sh/hook" in (obj["metadata"].get("annotations") or {}):
            continue
        if (template := pod_template(obj)) is not None:
            add(f"mlflow: {obj['kind']}/{obj['metadata']['name']}", "always", template["spec"],
                obj.get("spec", {}).get("replicas", 1))  # fmt: skip
    defaults = find_schema("airflow-chart-values.yaml")
    if defaults is None:
        raise SystemExit("ERROR [kind-requests] pinned chart defaults not found | fix: make schemas")
    values = over_chart_defaults(release_values(main, "airflow", "kind"), defaults)
    for name, pod in release_pods(values).items():
        add(f"airflow: {name}", "install" if name in JOBS else "always", pod["spec"])
    return out


def main() -> int:
    print(json.dumps(deployed_pods()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
