"""A stand-in `kubectl` that keeps objects as JSON files in a directory, for the deploy-path tests.

It implements only the calls the deploy path makes (skaffold.yaml hooks, scripts/*.sh) and fails
loudly on anything else, so a new kind of call cannot pass unnoticed:

    get secret NAME [--ignore-not-found] [-o name|json|jsonpath={.data.KEY}]
    create -f -                                   (stdin: YAML/JSON objects; AlreadyExists -> exit 1)
    create configmap NAME --from-file=KEY=PATH --dry-run=client -o yaml
    create secret generic NAME --from-literal=KEY=VALUE...   (AlreadyExists -> exit 1)
    apply [--server-side] [--field-manager=M] -f FILE|-
    delete job NAME... [--ignore-not-found] [--wait=...] [--timeout=...]
    annotate --overwrite serviceaccount NAME KEY=VALUE

Global flags --context C and -n/--namespace NS may appear anywhere. State: $FAKE_KUBECTL_STATE
(objects/<namespace>/<Kind>/<name>.json, and calls.jsonl with every argv). `install(bin_dir)`
writes an executable `kubectl` wrapper running this file with the current Python.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

NAMESPACED_DEFAULT = "default"
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PersistentVolume"}


def install(bin_dir: Path) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "kubectl"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


class State:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, kind: str, namespace: str | None, name: str) -> Path:
        return self.root / "objects" / (namespace or "_cluster") / kind / f"{name}.json"

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        path = self.path(kind, namespace, name)
        return json.loads(path.read_text()) if path.exists() else None

    def put(self, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        path = self.path(obj["kind"], meta.get("namespace"), meta["name"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(obj, indent=1, sort_keys=True))

    def delete(self, kind: str, namespace: str | None, name: str) -> bool:
        path = self.path(kind, namespace, name)
        if path.exists():
            path.unlink()
            return True
        return False

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in sorted((self.root / "objects").rglob("*.json"))]


def die(message: str, code: int = 1) -> None:
    print(f"Error from server: {message}", file=sys.stderr)
    sys.exit(code)


def normalise(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """What the API server stores: namespaced kinds get the namespace; Secret stringData -> data."""
    obj = json.loads(json.dumps(obj))
    meta = obj.setdefault("metadata", {})
    if obj["kind"] not in CLUSTER_KINDS:
        meta.setdefault("namespace", namespace)
    if obj["kind"] == "Secret" and "stringData" in obj:
        data = obj.setdefault("data", {})
        for key, value in obj.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
    return obj


def parse(argv: list[str]) -> tuple[list[str], dict[str, str], set[str]]:
    """Positional words, --key=value / -k value options, bare flags."""
    words, options, flags = [], {}, set()
    with_value = {
        "--context",
        "-n",
        "--namespace",
        "-o",
        "--output",
        "-f",
        "--filename",
        "--field-manager",
        "--timeout",
    }
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg:
            key, value = arg.split("=", 1)
            if key in ("--from-file", "--from-literal"):
                options.setdefault(key, "")
                options[key] += ("\0" if options[key] else "") + value
            else:
                options[key] = value
        elif arg in with_value:
            options[arg] = argv[i + 1]
            i += 1
        elif arg.startswith("-"):
            flags.add(arg)
        else:
            words.append(arg)
        i += 1
    return words, options, flags


def load_docs(source: str) -> list[dict[str, Any]]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def main(argv: list[str]) -> int:
    state = State(Path(os.environ["FAKE_KUBECTL_STATE"]))
    state.root.mkdir(parents=True, exist_ok=True)
    with (state.root / "calls.jsonl").open("a") as log:
        log.write(json.dumps(argv) + "\n")
    words, options, flags = parse(argv)
    namespace = options.get("-n") or options.get("--namespace") or NAMESPACED_DEFAULT
    if not words:
        die(f"unsupported call: kubectl {' '.join(argv)}", 2)
    verb, rest = words[0], words[1:]

    if verb == "get" and rest[:1] == ["secret"] and len(rest) == 2:
        obj = state.get("Secret", namespace, rest[1])
        if obj is None:
            if "--ignore-not-found" in flags or options.get("--ignore-not-found") == "true":
                return 0
            die(f'secrets "{rest[1]}" not found')
        output = options.get("-o") or options.get("--output") or ""
        if output == "name":
            print(f"secret/{rest[1]}")
        elif output == "json":
            print(json.dumps(obj))
        elif output.startswith("jsonpath={.data.") and output.endswith("}"):
            key = output[len("jsonpath={.data.") : -1]
            print(obj.get("data", {}).get(key, ""), end="")
        elif output == "":
            print(f"NAME   TYPE   DATA\n{rest[1]}   Opaque   {len(obj.get('data', {}))}")
        else:
            die(f"unsupported output {output!r}", 2)
        return 0

    if verb == "create" and rest[:1] == ["configmap"] and "--dry-run" in options:
        name = rest[1]
        data, binary = {}, {}
        for spec in options.get("--from-file", "").split("\0"):
            key, _, path = spec.partition("=")
            raw = Path(path).read_bytes()
            try:
                data[key] = raw.decode()
            except UnicodeDecodeError:
                binary[key] = base64.b64encode(raw).decode()
        cm: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
        }
        if data:
            cm["data"] = data
        if binary:
            cm["binaryData"] = binary
        print(yaml.safe_dump(cm))
        return 0

    if (
        verb == "create"
        and rest[:2] == ["secret", "generic"]
        and len(rest) == 3
        and "--dry-run" not in options
    ):
        if state.get("Secret", namespace, rest[2]) is not None:
            die(f'secrets "{rest[2]}" already exists (AlreadyExists)')
        literals = dict(item.split("=", 1) for item in options.get("--from-literal", "").split("\0") if item)
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": rest[2]}, "stringData": literals}
        state.put(normalise(secret, namespace))
        print(f"secret/{rest[2]} created")
        return 0

    if verb == "create" and not rest and ("-f" in options or "--filename" in options):
        for doc in load_docs(options.get("-f") or options["--filename"]):
            obj = normalise(doc, namespace)
            meta = obj["metadata"]
            if state.get(obj["kind"], meta.get("namespace"), meta["name"]) is not None:
                die(f'{obj["kind"].lower()}s "{meta["name"]}" already exists (AlreadyExists)')
            state.put(obj)
            print(f"{obj['kind'].lower()}/{meta['name']} created")
        return 0

    if verb == "apply" and not rest:
        for doc in load_docs(options.get("-f") or options["--filename"]):
            obj = normalise(doc, namespace)
            existed = state.get(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
            state.put(obj)
            print(f"{obj['kind'].lower()}/{obj['metadata']['name']} {'configured' if existed else 'created'}")
        return 0

    if verb == "delete" and rest[:1] == ["job"] and len(rest) > 1:
        for name in rest[1:]:
            if state.delete("Job", namespace, name):
                print(f'job.batch "{name}" deleted')
            elif "--ignore-not-found" not in flags and options.get("--ignore-not-found") != "true":
                die(f'jobs.batch "{name}" not found')
        return 0

    if verb == "annotate" and rest[:1] == ["serviceaccount"] and len(rest) == 3 and "--overwrite" in flags:
        obj = state.get("ServiceAccount", namespace, rest[1])
        if obj is None:
            die(f'serviceaccounts "{rest[1]}" not found')
        key, _, value = rest[2].partition("=")
        obj["metadata"].setdefault("annotations", {})[key] = value
        state.put(obj)
        print(f"serviceaccount/{rest[1]} annotated")
        return 0

    die(f"unsupported call: kubectl {' '.join(argv)}", 2)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
