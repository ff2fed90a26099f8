#!/usr/bin/env bash
# Creates the Airflow test venv (default <repo>/.venv-airflow) pinned by constraints/airflow.txt.
# Idempotent: a venv whose stamp matches the constraints file's hash is left alone.
# Usage: scripts/bootstrap_airflow_venv.sh [VENV_DIR]    (env PYTHON picks the interpreter, 3.11)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-${AIRFLOW_VENV:-$root/.venv-airflow}}
python=${PYTHON:-python3.11}
constraints=$root/constraints/airflow.txt
# Top-level packages; every version (theirs and their dependencies') comes from the constraints file.
packages=(apache-airflow apache-airflow-providers-cncf-kubernetes pytest kubernetes-validate)

die() { echo "ERROR [bootstrap-airflow] $1 | fix: $2" >&2; exit 2; }

[[ -f $constraints ]] || die "missing $constraints" "restore it from git"
command -v "$python" >/dev/null || die "interpreter '$python' not found" "install CPython 3.11 or set PYTHON=/path/to/python3.11"
pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[[ $pyver == 3.11 ]] || die "constraints/airflow.txt is pinned for Python 3.11, '$python' is $pyver" "set PYTHON to a 3.11 interpreter"

want=$(sha256sum "$constraints" | cut -d' ' -f1)
stamp=$venv/.constraints.sha256
# The DAGs import the shared package (pipeline_common: the wiring, the dataset specs, the model
# catalogue), as the Airflow image installs it: editable here, without its dependencies.
install_common() { "$venv/bin/python" -m pip install --quiet --no-deps -e "$root/images/common"; }
if [[ -f $stamp && $(cat "$stamp") == "$want" ]] && "$venv/bin/python" -c 'import airflow.sdk, pytest, kubernetes_validate' 2>/dev/null; then
  "$venv/bin/python" -c 'import pipeline_common.wiring' 2>/dev/null || install_common
  echo "bootstrap-airflow: $venv is up to date with constraints/airflow.txt"
  exit 0
fi

echo "bootstrap-airflow: creating $venv (Python $pyver) from constraints/airflow.txt"
rm -f "$stamp"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --progress-bar off -c "$constraints" "${packages[@]}"
"$venv/bin/python" -m pip check  # before the shared package, whose own dependencies are left out
install_common
echo "$want" > "$stamp"
echo "bootstrap-airflow: done; $("$venv/bin/airflow" version 2>/dev/null | tail -n 1 | sed 's/^/airflow /')"
