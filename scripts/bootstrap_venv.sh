#!/usr/bin/env bash
# Usage: scripts/bootstrap_venv.sh [VENV_DIR]   (default: .venv)
# Creates the development venv: every stage package editable plus the dev tools, with versions
# pinned by constraints/dev.txt (regenerate it with `pip freeze --exclude-editable` from a
# working venv when a dependency changes).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$root/.venv}
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
  echo "[bootstrap] creating $venv with $($python --version)"
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
