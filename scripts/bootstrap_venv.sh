#!/usr/bin/env bash
# Usage: scripts/bootstrap_venv.sh [VENV_DIR]   (default: .venv; env PYTHON picks the interpreter)
# Creates the development venv: every stage package editable plus the dev tools, with versions
# pinned by constraints/dev.txt (regenerate it with `pip freeze --exclude-editable` from a
# working venv when a dependency changes).
# An existing venv is reused only if its interpreter runs and is a Python this project supports:
# otherwise `make venv` would fail the same way on every call (the venv is never rebuilt).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$root/.venv}
python=${PYTHON:-python3}
# requires-python of every pyproject.toml (>=3.11); constraints/dev.txt is pinned from 3.11.
need_major=3 need_minor=11

die() { echo "ERROR [bootstrap] $1 | fix: $2" >&2; exit 2; }
# "3.11" for a working interpreter, nothing for one that does not run.
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }
supported() { local major=${1%%.*} minor=${1#*.}; (( major == need_major && minor >= need_minor )); }

if [ -e "$venv/bin/python" ] || [ -L "$venv/bin/python" ]; then
  have=$(version_of "$venv/bin/python")
  [ -n "$have" ] || die "$venv/bin/python does not run (its interpreter was removed or moved)" \
    "rm -rf $venv && make venv"
  supported "$have" || die "$venv was made with Python $have; this project needs $need_major.$need_minor+" \
    "rm -rf $venv && make venv PYTHON=python$need_major.$need_minor"
else
  command -v "$python" >/dev/null || die "interpreter '$python' not found" \
    "install CPython $need_major.$need_minor or set PYTHON=/path/to/python$need_major.$need_minor"
  have=$(version_of "$python")
  supported "$have" || die "'$python' is Python ${have:-unknown}; this project needs $need_major.$need_minor+" \
    "make venv PYTHON=python$need_major.$need_minor"
  echo "[bootstrap] creating $venv with Python $have ($python)"
  "$python" -m venv "$venv"
fi
echo "[bootstrap] installing the stage packages (editable) and dev tools into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
cd "$root"
"$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
  -c constraints/dev.txt \
  -e images/common -e images/extractor -e images/preprocessor -e images/trainer \
  -e '.[dev]'
echo "[bootstrap] $venv ready"
