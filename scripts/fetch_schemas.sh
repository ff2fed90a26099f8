#!/usr/bin/env bash
# Downloads the pinned public schemas of schemas/schemas.lock into .cache/schemas/ (or $1) and
# verifies each file's sha256; a file already there with the right sha256 is kept. Used by
# `make schemas`, by CI before the charts tier, and by anyone on a fresh clone.
# Env: SCHEMAS_DIR overrides the target directory (tests read it too); SCHEMAS_LOCK another lock file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lock=${SCHEMAS_LOCK:-${root}/schemas/schemas.lock}
dest=${1:-${SCHEMAS_DIR:-${root}/.cache/schemas}}
mkdir -p "${dest}"
command -v curl >/dev/null || { echo "ERROR [schemas] curl is not on PATH | fix: install curl" >&2; exit 2; }

have_sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

rc=0
while read -r name url sha; do
  case ${name} in '' | '#'*) continue ;; esac
  target=${dest}/${name}
  if [ -f "${target}" ] && [ "$(have_sha "${target}")" = "${sha}" ]; then
    echo "schemas: ${name} present (sha256 ok)"
    continue
  fi
  tmp=$(mktemp "${dest}/.${name}.XXXXXX")
  if ! curl -fsSL --retry 3 --max-time 120 -o "${tmp}" "${url}"; then
    rm -f "${tmp}"
    echo "ERROR [schemas] download of ${url} failed | fix: check network access to raw.githubusercontent.com, or copy the file there by hand" >&2
    rc=1; continue
  fi
  got=$(have_sha "${tmp}")
  if [ "${got}" != "${sha}" ]; then
    rm -f "${tmp}"
    echo "ERROR [schemas] ${name} has sha256 ${got}, schemas/schemas.lock pins ${sha} | fix: the pinned commit's file changed? re-check the URL and pin" >&2
    rc=1; continue
  fi
  mv "${tmp}" "${target}"
  echo "schemas: ${name} fetched (sha256 ok)"
done < "${lock}"
exit "${rc}"
