"""helm/airflow/chart-reads.yaml: which `.Values` paths the Airflow chart (and its PostgreSQL
subchart) templates read, and the checker that every key we set is one of them.

    reads = ChartReads.load()
    reads.uncovered(["securityContexts.container.runAsNonRoot"])   # -> that path: no template reads it
    reads.secret_key("fernetKeySecretName")                       # -> "fernet-key"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
READS_FILE = ROOT / "helm" / "airflow" / "chart-reads.yaml"


def leaf_paths(values: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every leaf (scalars and lists are leaves; empty maps too)."""
    if isinstance(values, dict) and values:
        paths: list[str] = []
        for key, value in values.items():
            paths += leaf_paths(value, f"{prefix}.{key}" if prefix else str(key))
        return paths
    return [prefix]


def set_key_path(expression_key: str) -> str:
    """`helm --set` key -> dotted values path; list indexes end the path (lists are leaves)."""
    head = re.split(r"\[\d+\]", expression_key, maxsplit=1)[0]
    return head.replace("\\.", "\0").replace("\0", ".")


@dataclass(frozen=True)
class ChartReads:
    data: dict[str, Any]

    @classmethod
    def load(cls, path: Path = READS_FILE) -> ChartReads:
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")))

    @property
    def reads(self) -> dict[str, tuple[str, str]]:
        """Every read path (subchart reads prefixed with the subchart's name) -> (template, expr)."""
        out = {path: tuple(entry) for path, entry in self.data["reads"].items()}
        for name, sub in self.data.get("subchart_reads", {}).items():
            out |= {f"{name}.{path}": tuple(entry) for path, entry in sub["reads"].items()}
        return out  # type: ignore[return-value]

    def covering(self, path: str) -> str | None:
        """The read path at or above `path` (the longest), or None when no template reads it."""
        hits = [r for r in self.reads if path == r or path.startswith(r + ".")]
        return max(hits, key=len) if hits else None

    def uncovered(self, paths: list[str]) -> list[str]:
        return [p for p in paths if self.covering(p) is None]

    def secret_key(self, values_key: str) -> str:
        return self.data["secret_keys"][values_key][0]

    def job_name(self, job: str, release: str) -> str:
        return self.data["object_names"]["jobs"][job][0].format(release=release)

    def service_accounts(self, release: str) -> dict[str, str]:
        return {
            component: name.format(release=release)
            for component, name in self.data["object_names"]["service_accounts"].items()
        }

    def postgresql_host(self, release: str, namespace: str) -> str:
        return self.data["object_names"]["postgresql_service"].format(release=release, namespace=namespace)


def key_comments(text: str) -> dict[str, str]:
    """Dotted key path -> the comment attached to that key (the comment lines right above it and
    any comment on its own line), for every mapping key of a YAML document."""
    lines = text.splitlines()
    out: dict[str, str] = {}

    def comment_at(line: int) -> str:
        parts = []
        own = lines[line]
        if "#" in own.split(":", 1)[-1]:
            parts.append(own.split("#", 1)[1])
        above = line - 1
        block = []
        while above >= 0 and lines[above].strip().startswith("#"):
            block.insert(0, lines[above].strip().lstrip("#"))
            above -= 1
        return " ".join(block + parts)

    def walk(node: yaml.Node, prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            return
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else key_node.value
            out[path] = comment_at(key_node.start_mark.line)
            walk(value_node, path)

    walk(yaml.compose(text), "")
    return out


def comment_naming_template(comments: dict[str, str], path: str) -> str:
    """The comment of `path` or of its nearest commented ancestor."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        comment = comments.get(".".join(parts[:end]), "")
        if comment.strip():
            return comment
    return ""
