"""scripts/bootstrap_venv.sh refuses an existing venv it cannot use, in one line with the fix,
instead of reusing it and failing the same way on every `make venv`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers.stages import ROOT

SCRIPT = ROOT / "scripts" / "bootstrap_venv.sh"
# A stand-in interpreter: answers the version query, and fails like pip on a too-old Python.
FAKE_PYTHON = """#!/bin/sh
case "$*" in
  *version_info*) echo "{version}" ;;
  *) echo "ERROR: Package 'census-pipeline-common' requires a different Python: {version}.2" >&2
     exit 1 ;;
esac
"""


def fake_interpreter(path: Path, version: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE_PYTHON.format(version=version))
    path.chmod(0o755)
    return path


def bootstrap(venv: Path, python: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHON"}
    if python:
        env["PYTHON"] = python
    return subprocess.run(
        ["bash", str(SCRIPT), str(venv)], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("ERROR [bootstrap] ") and " | fix: " in line, line
    assert "installing" not in proc.stdout, "it went on to pip"
    return line


def test_a_venv_made_with_an_old_python_is_refused_with_the_fix(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    fake_interpreter(venv / "bin" / "python", "3.9")
    line = one_error_line(bootstrap(venv))
    assert f"{venv} was made with Python 3.9; this project needs 3.11+" in line
    assert line.endswith(f"| fix: rm -rf {venv} && make venv PYTHON=python3.11")
    assert (venv / "bin" / "python").exists(), "the user's venv is left for them to remove"


def test_a_venv_whose_interpreter_is_gone_is_refused(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(tmp_path / "removed-python3.11")
    line = one_error_line(bootstrap(venv))
    assert "does not run" in line and line.endswith(f"| fix: rm -rf {venv} && make venv")


def test_a_new_venv_is_not_made_with_an_old_python(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    old = fake_interpreter(tmp_path / "bin" / "python3.10", "3.10")
    line = one_error_line(bootstrap(venv, str(old)))
    assert "is Python 3.10; this project needs 3.11+" in line and "PYTHON=python3.11" in line
    assert not venv.exists()
    missing = one_error_line(bootstrap(venv, "python2.7-nowhere"))
    assert "interpreter 'python2.7-nowhere' not found" in missing
