"""helm/mlflow values: the schema rejects bad values, cross-field checks name the fix, keys are documented."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.charts.render import MLFLOW_CHART, RenderError, render_chart

VALUES_FILE = MLFLOW_CHART / "values.yaml"
SCHEMA_FILE = MLFLOW_CHART / "values.schema.json"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"replicas": 2}, "additional properties 'replicas' not allowed"),
        (
            {"backendStore": {"type": "postgresql", "postgress": {}}},
            "additional properties 'postgress' not allowed",
        ),
        ({"backendStore": {"type": "postgresql"}}, "/backendStore/postgresql/existingSecret"),
        ({"backendStore": {"type": "external"}}, "/backendStore/external/existingSecret"),
        ({"backendStore": {"type": "mysql"}}, "/backendStore/type"),
        ({"auth": {"enabled": True}}, "/auth/existingSecret"),
        ({"image": {"tag": "latest"}}, "/image/tag"),
        ({"resources": {"limits": None}}, "missing property 'limits'"),
        ({"artifacts": {"gcs": {"emulatorHost": "fake-gcs:4443"}}}, "/artifacts/gcs/emulatorHost"),
        ({"server": {"port": 80}}, "/server/port"),
        ({"replicaCount": 0}, "/replicaCount"),
    ],
    ids=[
        "unknown-key",
        "misspelt-nested-key",
        "postgres-without-password-secret",
        "external-without-uri-secret",
        "unknown-backend",
        "auth-without-secret",
        "latest-tag",
        "resources-without-limits",
        "emulator-not-a-url",
        "privileged-port",
        "zero-replicas",
    ],
)
def test_schema_rejects_bad_values_naming_the_key(values: dict[str, Any], expected: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_chart(values)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"replicaCount": 2}, "fix: set replicaCount=1, or backendStore.type=postgresql"),
        ({"server": {"workers": 2}}, "fix: set server.workers=1, or backendStore.type=postgresql"),
        ({"podDisruptionBudget": {"enabled": True}}, "fix: set replicaCount>=2"),
        (
            {
                "replicaCount": 2,
                "backendStore": {"type": "external", "external": {"existingSecret": "db"}},
                "podDisruptionBudget": {"enabled": True, "maxUnavailable": 2},
            },
            "fix: lower podDisruptionBudget.maxUnavailable",
        ),
        (
            {
                "replicaCount": 2,
                "backendStore": {"type": "external", "external": {"existingSecret": "db"}},
                "artifacts": {"destination": "pvc"},
            },
            "fix: set artifacts.pvc.accessModes=[ReadWriteMany]",
        ),
        (
            {"artifacts": {"gcs": {"emulatorHost": "http://gcs:4443", "existingSecret": "key"}}},
            "fix: unset artifacts.gcs.existingSecret",
        ),
        (
            {"auth": {"enabled": True, "existingSecret": "a", "passwordKey": "k", "flaskSecretKeyKey": "k"}},
            "fix: store them under two keys",
        ),
    ],
    ids=[
        "sqlite-with-2-replicas",
        "sqlite-with-2-workers",
        "pdb-with-1-replica",
        "pdb-protects-nothing",
        "rwo-artifacts-shared",
        "emulator-and-key-file",
        "password-doubles-as-flask-key",
    ],
)
def test_cross_field_checks_fail_with_the_fix(values: dict[str, Any], expected: str) -> None:
    with pytest.raises(RenderError) as caught:
        render_chart(values)
    message = str(caught.value)
    assert expected in message
    assert message.count("| fix:") == 1, message


def test_shared_storage_makes_replicas_allowed() -> None:
    values = {
        "replicaCount": 3,
        "backendStore": {"type": "external", "external": {"existingSecret": "db"}},
        "artifacts": {"destination": "pvc", "pvc": {"accessModes": ["ReadWriteMany"]}},
        "podDisruptionBudget": {"enabled": True},
    }
    assert render_chart(values)


def _leaf_keys_without_comment(
    node: yaml.MappingNode, lines: list[str], path: str, free_form: set[str]
) -> list[str]:
    missing = []
    for key_node, value_node in node.value:
        key_path = f"{path}.{key_node.value}" if path else key_node.value
        line = key_node.start_mark.line
        commented = lines[line - 1].strip().startswith("#") or "#" in lines[line].split(":", 1)[1]
        if (
            isinstance(value_node, yaml.MappingNode)
            and not value_node.flow_style
            and key_path not in free_form
        ):
            missing += _leaf_keys_without_comment(value_node, lines, key_path, free_form)
        elif not commented:
            missing.append(key_path)
    return missing


def test_every_value_is_commented() -> None:
    text = VALUES_FILE.read_text(encoding="utf-8")
    # Kubernetes objects passed through verbatim: the comment sits on the key itself.
    free_form = {
        "podSecurityContext",
        "securityContext",
        "resources",
        "initResources",
        "tests.resources",
        "backendStore.postgresql.resources",
        "livenessProbe",
        "readinessProbe",
    }
    missing = _leaf_keys_without_comment(yaml.compose(text), text.splitlines(), "", free_form)
    assert not missing, f"values.yaml keys without a comment: {missing}"


def _schema_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Keys of the chart's own objects; shared types behind $ref (image, resources) are not expanded."""
    paths = set()
    if schema.get("additionalProperties") is False:
        for key, sub in schema.get("properties", {}).items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= _schema_paths(sub, path)
    return paths


def _value_paths(values: dict[str, Any], schema_paths: set[str], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        if isinstance(value, dict) and any(p.startswith(path + ".") for p in schema_paths):
            paths |= _value_paths(value, schema_paths, path)
    return paths


def test_schema_and_values_describe_the_same_keys() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["additionalProperties"] is False
    schema_paths = _schema_paths(schema)
    value_paths = _value_paths(yaml.safe_load(VALUES_FILE.read_text(encoding="utf-8")), schema_paths)
    assert schema_paths - value_paths == set(), "schema keys without a default in values.yaml"
    assert value_paths - schema_paths == set(), "values.yaml keys the schema does not describe"
