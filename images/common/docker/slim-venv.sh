#!/usr/bin/env bash
# Slims a builder stage's venv before the final stage copies it; every Python image runs it last
# in its builder (docs/images.md has the numbers). Needs strip (binutils) in the builder only.
# Usage: slim-venv.sh [VENV]   (default /opt/venv)
# What goes, and why that is safe:
# - pip and setuptools: nothing imports them (or pkg_resources) at run time.
# - the test suites of the big scientific packages: never imported at run time.
# - pyarrow's C++ headers and sources: only for building extensions.
# - pyarrow's Flight RPC and S3 libraries (~50 MB): only `import pyarrow.flight` and pyarrow.fs's
#   guarded S3 import load them; the images use neither (MLflow's own S3 support is boto3).
# - the symbol tables of the wheels' shared objects: dynamic symbols stay, and auditwheel's
#   vendored *.libs/ are left untouched.
# Then everything is byte-compiled once: the root filesystem is read-only at run time (no .pyc
# could be written) and compiled imports start faster.
set -euo pipefail
venv=${1:-/opt/venv}
site=$("${venv}/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

"${venv}/bin/pip" uninstall -y -q pip setuptools
for pkg in numpy pandas pyarrow scipy sklearn matplotlib; do
  [ ! -d "${site}/${pkg}" ] || find "${site}/${pkg}" -depth -type d -name tests -exec rm -rf {} +
done
rm -rf "${site}/pyarrow/include" "${site}/pyarrow/src"
rm -f "${site}"/pyarrow/libarrow_flight.so* "${site}"/pyarrow/libarrow_python_flight.so* \
  "${site}"/pyarrow/_flight.cpython-*.so "${site}"/pyarrow/libarrow_s3.so* "${site}"/pyarrow/_s3fs.cpython-*.so
find "${site}" -type f -name '*.so*' -not -path '*.libs/*' -exec strip --strip-unneeded {} +
"${venv}/bin/python" -m compileall -q -j 0 "${venv}/lib"
