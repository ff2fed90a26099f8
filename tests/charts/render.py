"""Render Helm charts with Helm's own engine and look objects up by kind and name.

Uses the `helm` CLI when it is on PATH (what CI and users run), else helm-python-sdk, which binds
Helm's Go SDK in-process — the same template engine, schema validation and value coalescing.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_CHART = ROOT / "helm" / "mlflow"
K8S_DIR = ROOT / "k8s"
# Kubernetes version the manifests are validated against: the kind node of k8s/kind-config.yaml.
K8S_VERSION = "1.36.0"


class RenderError(Exception):
    """Helm refused the values (schema) or a template called `fail`."""


def helm_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge values the way Helm coalesces a values file over chart defaults.

    Maps merge recursively; lists and scalars replace; an explicit null deletes the key.
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_values(*files: Path | str) -> dict[str, Any]:
    """Values files merged left to right, like `helm -f a.yaml -f b.yaml`."""
    merged: dict[str, Any] = {}
    for file in files:
        merged = helm_merge(merged, yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {})
    return merged


def render_manifests(
    values: dict[str, Any] | None = None,
    *,
    chart: Path = MLFLOW_CHART,
    release: str = "mlflow",
    namespace: str = "mlflow",
) -> dict[str, str]:
    """Template path -> rendered text (NOTES.txt included), like `helm template`."""
    values = values or {}
    if shutil.which("helm"):
        return _render_cli(values, chart, release, namespace)
    return _render_sdk(values, chart, release, namespace)


def _render_sdk(values: dict[str, Any], chart: Path, release: str, namespace: str) -> dict[str, str]:
    import helm_python

    try:
        with helm_python.Chart.load(chart) as loaded:
            return loaded.render(values, name=release, namespace=namespace, is_install=True)
    except (helm_python.HelmValuesError, helm_python.HelmRenderError) as exc:
        raise RenderError(str(exc)) from exc


def _render_cli(values: dict[str, Any], chart: Path, release: str, namespace: str) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        values_file = Path(tmp) / "values.yaml"
        values_file.write_text(yaml.safe_dump(values), encoding="utf-8")
        out_dir = Path(tmp) / "out"
        proc = subprocess.run(
            [
                "helm",
                "template",
                release,
                str(chart),
                "-n",
                namespace,
                "-f",
                str(values_file),
                "--output-dir",
                str(out_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RenderError(proc.stderr.strip())
        return {str(p.relative_to(out_dir)): p.read_text(encoding="utf-8") for p in out_dir.rglob("*.yaml")}


def render_chart(
    values: dict[str, Any] | None = None,
    *,
    chart: Path = MLFLOW_CHART,
    release: str = "mlflow",
    namespace: str = "mlflow",
) -> list[dict[str, Any]]:
    """Every Kubernetes object the chart renders for `values` (helm test hooks included)."""
    objects: list[dict[str, Any]] = []
    for path, text in sorted(
        render_manifests(values, chart=chart, release=release, namespace=namespace).items()
    ):
        if not path.endswith((".yaml", ".yml")):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def notes(
    values: dict[str, Any] | None = None,
    *,
    chart: Path = MLFLOW_CHART,
    release: str = "mlflow",
    namespace: str = "mlflow",
) -> str:
    """The rendered NOTES.txt (through the SDK: `helm template` does not print NOTES)."""
    rendered = _render_sdk(values or {}, chart, release, namespace)
    return next(text for path, text in rendered.items() if path.endswith("NOTES.txt"))


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of `kind` named `name`; fails clearly when it is missing or duplicated."""
    hits = [o for o in objects if o.get("kind") == kind and o.get("metadata", {}).get("name") == name]
    assert len(hits) == 1, f"expected one {kind}/{name}, found {len(hits)}; have {names(objects)}"
    return hits[0]


def find_all(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def names(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(f"{o.get('kind')}/{o.get('metadata', {}).get('name')}" for o in objects)


def container(pod_spec: dict[str, Any], name: str, *, init: bool = False) -> dict[str, Any]:
    """A container (or init container) of a pod spec, by name."""
    field = "initContainers" if init else "containers"
    hits = [c for c in pod_spec.get(field) or [] if c.get("name") == name]
    assert len(hits) == 1, (
        f"expected one {field}[{name}], have {[c.get('name') for c in pod_spec.get(field) or []]}"
    )
    return hits[0]


def env_map(ctr: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Container env by variable name (each entry is the EnvVar object)."""
    result: dict[str, dict[str, Any]] = {}
    for item in ctr.get("env") or []:
        assert item["name"] not in result, f"duplicate env {item['name']} in container {ctr.get('name')}"
        result[item["name"]] = item
    return result


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S_DIR.glob("*.y*ml"))


def load_k8s_objects(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def validate_k8s(obj: dict[str, Any]) -> None:
    """Validate against the Kubernetes OpenAPI schema in strict mode (unknown fields fail)."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        meta = obj.get("metadata", {})
        path = "/".join(str(p) for p in exc.path)
        raise AssertionError(f"{obj.get('kind')}/{meta.get('name')}: {exc.message} at {path}") from exc
