"""Nothing in the repository depends on this machine: no absolute paths, schemas fetched by pin."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers.schemas import LOCK, ROOT, pinned

FETCH = ROOT / "scripts" / "fetch_schemas.sh"
# Absolute paths of a particular machine (a user's home, this workplace's /work tree).
MACHINE_PATH = re.compile(r"(?<![\w.$-])/(?:work|home|Users)/[\w.-]+")


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(
        b"\0"
    )
    files = []
    for name in filter(None, names):
        path = ROOT / name.decode()
        if path.is_file() and path.suffix not in {".gz", ".png", ".parquet"}:
            files.append(path)
    return files


def test_no_machine_path_in_any_tracked_file() -> None:
    hits = []
    for path in _tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in MACHINE_PATH.finditer(text)]
    assert not hits, "absolute machine paths in the repository:\n" + "\n".join(hits)


def test_only_the_schema_finder_looks_outside_the_repository() -> None:
    beside = "ROOT" + ".parent"  # spelt apart so that this file does not match itself
    outside = [
        str(p.relative_to(ROOT))
        for p in _tracked_text_files()
        if p.suffix == ".py" and beside in p.read_text(encoding="utf-8")
    ]
    assert outside == ["tests/helpers/schemas.py"], outside


def test_every_pinned_schema_names_a_commit_and_a_sha256() -> None:
    entries = pinned()
    assert set(entries) == {
        "skaffold-v4beta14.json",
        "airflow-chart-values.schema.json",
        "airflow-chart-values.yaml",
    }
    for name, (url, sha) in entries.items():
        assert re.fullmatch(r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/[0-9a-f]{40}/\S+", url), url
        assert re.fullmatch(r"[0-9a-f]{64}", sha), name


def _fetch(lock: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "SCHEMAS_LOCK": str(lock)}
    return subprocess.run(
        [str(FETCH), str(dest)], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_fetch_script_verifies_the_sha256(tmp_path: Path) -> None:
    source = tmp_path / "upstream.json"
    source.write_text('{"ok": true}\n')
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    lock = tmp_path / "schemas.lock"
    dest = tmp_path / "cache"
    lock.write_text(f"# test\nfile.json file://{source} {good}\n")
    first = _fetch(lock, dest)
    assert first.returncode == 0, first.stderr
    assert (dest / "file.json").read_bytes() == source.read_bytes()
    assert "fetched (sha256 ok)" in first.stdout
    again = _fetch(lock, dest)
    assert again.returncode == 0 and "present (sha256 ok)" in again.stdout
    lock.write_text(f"other.json file://{source} {'0' * 64}\n")
    bad = _fetch(lock, dest)
    assert bad.returncode == 1 and not (dest / "other.json").exists()
    (line,) = bad.stderr.strip().splitlines()
    assert line.startswith("ERROR [schemas] other.json has sha256 ") and " | fix: " in line


def test_the_workflow_fetches_the_schemas_before_the_charts_tier() -> None:
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert "make schemas" in workflow
    assert LOCK.is_file()


@pytest.mark.parametrize("name", sorted(pinned()))
def test_the_schema_in_use_is_the_pinned_one(name: str) -> None:
    from tests.helpers.schemas import schema_path

    path = schema_path(name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == pinned()[name][1]
