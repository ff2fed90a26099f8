"""skaffold.yaml as Skaffold resolves it, for tests that cannot run the skaffold binary.

    configs = load_configs()                         # {metadata.name: config dict}
    kind = effective(configs["census-pipeline"], ["kind"])
    helm_set_into(values, "env[0].name=X")           # `helm --set` applied the way Helm applies it

Profiles follow Skaffold's rules (schema/profiles.go): a profile's fields are laid over the base
field by field; lists and the one-of groups (build.local/cluster/googleCloudBuild, the tag
policies) replace the base value; then the profile's JSON patches (RFC 6902) apply in order.
`helm --set` parsing itself is Helm's own (helm_python wraps Helm's strvals); merging into the
values from -f files follows strvals.ParseInto: list indexes update the existing element.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SKAFFOLD_YAML = ROOT / "skaffold.yaml"
BASE, MAIN = "census-pipeline", "census-releases"  # builds + k8s/; the Helm releases
# What Skaffold builds for kind (unique image-id tag, no digest) and for gke (tag@digest).
KIND_TAG = "0123456789abcdef" * 4
GKE_DIGEST = "sha256:" + "ab" * 32
GKE_REPO = "europe-docker.pkg.dev/proj/census"
# The environment the gke profile's templates and hooks require (README.md, GKE section).
GKE_ENV = {
    "MLFLOW_GSA": "census-mlflow@proj.iam.gserviceaccount.com",
    "PIPELINE_GSA": "census-stage@proj.iam.gserviceaccount.com",
    "BIGQUERY_PROJECT": "census-billing-project",
}

# Groups where setting one member in a profile replaces the whole group (yaml "oneOf" in Go).
_ONE_OF_GROUPS = (
    frozenset({"local", "googleCloudBuild", "cluster"}),
    frozenset({"gitCommit", "sha256", "envTemplate", "dateTime", "customTemplate", "inputDigest"}),
)
_PROFILE_FIELDS = (
    "build",
    "test",
    "render",
    "manifests",
    "deploy",
    "portForward",
    "resourceSelector",
    "verify",
)


def load_configs(path: Path = SKAFFOLD_YAML) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return {d["metadata"]["name"]: d for d in docs}


def effective(config: dict[str, Any], profiles: list[str]) -> dict[str, Any]:
    """The config with the named profiles applied, in order (KeyError for an unknown profile)."""
    result = copy.deepcopy(config)
    by_name = {p["name"]: p for p in config.get("profiles", [])}
    for name in profiles:
        profile = by_name[name]
        for fieldname in _PROFILE_FIELDS:
            if fieldname in profile:
                result[fieldname] = _overlay(result.get(fieldname), profile[fieldname])
        for patch in profile.get("patches", []):
            _apply_patch(result, patch)
    result.pop("profiles", None)
    return result


def _overlay(base: Any, over: Any) -> Any:
    if isinstance(over, dict) and isinstance(base, dict):
        merged = dict(base)
        for group in _ONE_OF_GROUPS:
            if group & over.keys():
                for key in group:
                    merged.pop(key, None)
        for key, value in over.items():
            merged[key] = _overlay(merged.get(key), value)
        return merged
    if over in (None, [], {}, ""):
        return base
    return copy.deepcopy(over)


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer must start with '/': {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _apply_patch(doc: dict[str, Any], patch: dict[str, Any]) -> None:
    *parents, last = _pointer(patch["path"])
    target: Any = doc
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    op = patch["op"]
    if isinstance(target, list):
        index = len(target) if last == "-" else int(last)
        if op == "add":
            target.insert(index, copy.deepcopy(patch["value"]))
        elif op == "replace":
            target[index] = copy.deepcopy(patch["value"])
        elif op == "remove":
            del target[index]
        else:
            raise ValueError(f"unsupported patch op {op!r}")
        return
    if op in ("replace", "remove") and last not in target:
        raise KeyError(f"patch {op} of a missing key: {patch['path']}")
    if op in ("add", "replace"):
        target[last] = copy.deepcopy(patch["value"])
    elif op == "remove":
        del target[last]
    else:
        raise ValueError(f"unsupported patch op {op!r}")


def helm_set_into(values: dict[str, Any], expression: str) -> None:
    """Apply one `helm --set key=value` to values already loaded from -f files (in place)."""
    import helm_python  # Helm's own --set parser (Go strvals), no helm binary needed

    _merge_set(values, helm_python.parse_set_string(expression))


def _merge_set(base: Any, parsed: Any) -> Any:
    if isinstance(parsed, dict):
        target = base if isinstance(base, dict) else {}
        for key, value in parsed.items():
            target[key] = _merge_set(target.get(key), value)
        return target
    if isinstance(parsed, list):
        target = list(base) if isinstance(base, list) else []
        for i, item in enumerate(parsed):
            if item is None:  # an index the expression did not touch
                if i >= len(target):
                    target.append(None)
                continue
            if i < len(target):
                target[i] = _merge_set(target[i], item)
            else:
                target.append(_merge_set(None, item))
        return target
    return parsed


def render_value_template(template: str, images: dict[str, str], env: dict[str, str] | None = None) -> str:
    """Expand Skaffold's IMAGE_* fields for built images {artifact name: full ref}, plus `env`.

    Mirrors pkg/skaffold/helm/args.go: names are sanitized (/ - . -> _), and a trailing "@" left
    by an empty digest is dropped. Only the fields skaffold.yaml uses are supported.
    """
    import re

    fields: dict[str, str] = dict(env or {})
    for name, ref in images.items():
        key = re.sub(r"[/\-.]", "_", name)
        repo_tag, _, digest = ref.partition("@")
        repo, _, tag = repo_tag.rpartition(":")
        fields[f"IMAGE_REPO_{key}"] = repo
        fields[f"IMAGE_TAG_{key}"] = tag
        fields[f"IMAGE_DIGEST_{key}"] = digest
        fields[f"IMAGE_FULLY_QUALIFIED_{key}"] = ref

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in fields:
            raise KeyError(f"template field {name} matches no built image")
        return fields[name]

    return re.sub(r"\{\{\s*\.(\w+)\s*\}\}", field, template).removesuffix("@")


def built_refs(profile: str) -> dict[str, str]:
    """The references Skaffold hands every deployer for each artifact in `profile`."""
    import tomllib

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = [a["image"] for a in load_configs()[BASE]["build"]["artifacts"]]
    if profile == "kind":
        return {image: f"{image}:{KIND_TAG}" for image in images}
    return {image: f"{GKE_REPO}/{image}:{version}-x@{GKE_DIGEST}" for image in images}


def release_values(
    config: dict[str, Any], release: str, profile: str, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """User values of a Helm release as Skaffold hands them to Helm: -f files merged left to right
    (Helm's coalescing), then every --set / --set from a template applied (Helm's strvals)."""
    from tests.charts.render import helm_merge

    rel = next(r for r in config["deploy"]["helm"]["releases"] if r["name"] == release)
    values: dict[str, Any] = {}
    for path in rel.get("valuesFiles", []):
        file = ROOT / path
        assert file.is_file(), f"{path} (valuesFiles of release {release!r}) does not exist"
        values = helm_merge(values, yaml.safe_load(file.read_text()) or {})
    refs = built_refs(profile)
    env = GKE_ENV if env is None and profile == "gke" else env
    for key, value in rel.get("setValues", {}).items():
        helm_set_into(values, f"{key}={value}")
    for key, template in rel.get("setValueTemplates", {}).items():
        helm_set_into(values, f"{key}={render_value_template(str(template), refs, env)}")
    return values
