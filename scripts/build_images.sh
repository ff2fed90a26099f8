#!/usr/bin/env bash
# Builds the project's images with live progress and prints a table of image, size, budget and
# build time; exits 1 when an image exceeds its size budget (uncompressed, `docker image inspect`).
# Usage: build_images.sh [IMAGE...]  IMAGE in: extractor preprocessor trainer mlflow airflow
#   (default: all; airflow only where apache/airflow can be pulled, else it is skipped with why).
# Env: BASE_IMAGE (default python:3.11-slim-bookworm if pullable, else the local debootstrap base),
#      FORCE=1 rebuilds even when the image was built from the same inputs, TAG (default: the VERSION file).
# An image is skipped when its label io.census-pipeline.inputs-sha256 equals the hash of its
# Dockerfile, ignore file, context files and base image id, so re-runs take seconds.
# Each image built or found up to date is recorded in bench/results/build_times.json (read by
# bench/run.py): {REF: {ref, seconds, size_mb, cached, date, inputs, build_seconds}}, merged over
# the entries of images not built this time. seconds is this run's (0 when cached); build_seconds
# is the last real build of the same inputs, so a cached re-run keeps it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "${root}"
tag=${TAG:-$(cat "${root}/VERSION")}
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(extractor preprocessor trainer mlflow airflow)
airflow_base=apache/airflow:3.3.2-python3.11

# Size budgets in MB (10^6 bytes, uncompressed); docs/images.md explains them.
declare -A budget=([extractor]=450 [preprocessor]=400 [trainer]=900 [mlflow]=-)

# BuildKit is needed for the per-Dockerfile ignore files (<Dockerfile>.dockerignore). Docker CLIs
# >= 23 build with BuildKit only through the buildx plugin; older CLIs have it built in
# (DOCKER_BUILDKIT=1). Pick whichever this machine has.
build_cmd=()
if docker buildx version >/dev/null 2>&1; then
  build_cmd=(docker buildx build --load)
else
  for cli in docker /usr/bin/docker /usr/local/bin/docker; do
    v=$("${cli}" version --format '{{.Client.Version}}' 2>/dev/null || true)
    if [ -n "${v}" ] && [ "${v%%.*}" -lt 23 ]; then build_cmd=(env DOCKER_BUILDKIT=1 "${cli}" build); break; fi
  done
fi
if [ ${#build_cmd[@]} -eq 0 ]; then
  echo "build-images: ERROR no BuildKit-capable docker client | fix: install the docker buildx plugin (or docker.io < 23 CLI)" >&2
  exit 1
fi

pullable() { docker image inspect "$1" >/dev/null 2>&1 || timeout 120 docker pull -q "$1" >/dev/null 2>&1; }

if [ -z "${BASE_IMAGE:-}" ]; then
  if pullable python:3.11-slim-bookworm; then
    BASE_IMAGE=python:3.11-slim-bookworm
  else
    echo "build-images: python:3.11-slim-bookworm cannot be pulled; using the local debootstrap base"
    BASE_IMAGE=census-pipeline/base:bookworm-py311
    # FORCE=1 rebuilds the images, not the base: it is built only when missing (rebuild it with
    # FORCE=1 scripts/build_base_image.sh).
    FORCE=0 "${root}/scripts/build_base_image.sh" "${BASE_IMAGE}"
  fi
fi
base_id=$(docker image inspect -f '{{.Id}}' "${BASE_IMAGE}")

# Hash of everything that decides an image's content (over-inclusive is fine: it only rebuilds).
inputs_hash() {
  local dockerfile=$1 extra_id=$2; shift 2
  {
    echo "${extra_id} ${tag}"
    find "$@" "${dockerfile}" "${dockerfile}.dockerignore" -type f \
      -not -path '*/__pycache__/*' -not -name '*.pyc' -not -path '*.egg-info/*' \
      -not -path '*/.pytest_cache/*' -not -path '*/build/*' -print0 2>/dev/null |
      sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-16
}

declare -A secs sizes status
records=""  # one line per image for build_times.json: ref, seconds, bytes, status, inputs, date
for image in "${images[@]}"; do
  ref=census-pipeline/${image}:${tag}
  case ${image} in
    extractor | preprocessor | trainer)
      context=.; dockerfile=images/${image}/Dockerfile
      hash=$(inputs_hash "${dockerfile}" "${base_id}" images/common "images/${image}" datasets models)
      args=(--build-arg "BASE_IMAGE=${BASE_IMAGE}") ;;
    mlflow)
      context=images; dockerfile=images/mlflow/Dockerfile
      hash=$(inputs_hash "${dockerfile}" "${base_id}" images/mlflow images/common/docker)
      args=(--build-arg "BASE_IMAGE=${BASE_IMAGE}") ;;
    airflow)
      if ! pullable "${airflow_base}"; then
        echo "build-images: SKIP airflow: its base ${airflow_base} cannot be pulled here (no registry access)"
        status[${image}]="skipped (base not pullable)"; continue
      fi
      context=.; dockerfile=images/airflow/Dockerfile
      hash=$(inputs_hash "${dockerfile}" "$(docker image inspect -f '{{.Id}}' "${airflow_base}")" dags images/common datasets models)
      args=() ;;
    *) echo "build-images: ERROR unknown image '${image}' | fix: use extractor, preprocessor, trainer, mlflow or airflow" >&2; exit 2 ;;
  esac
  [ -f "${dockerfile}" ] || { echo "build-images: ERROR ${dockerfile} missing" >&2; exit 1; }
  have=$(docker image inspect -f '{{index .Config.Labels "io.census-pipeline.inputs-sha256"}}' "${ref}" 2>/dev/null || true)
  if [ "${FORCE:-0}" != 1 ] && [ "${have}" = "${hash}" ]; then
    echo "build-images: ${ref} is up to date (inputs ${hash})"
    secs[${image}]=0; status[${image}]=cached
  else
    echo "build-images: building ${ref} (base ${BASE_IMAGE}, inputs ${hash}) ..."
    start=$(date +%s)
    "${build_cmd[@]}" --progress=plain -f "${dockerfile}" -t "${ref}" \
      --label "io.census-pipeline.inputs-sha256=${hash}" "${args[@]}" "${context}" 2>&1 |
      sed -u "s/^/  [${image}] /"
    secs[${image}]=$(( $(date +%s) - start )); status[${image}]=built
  fi
  bytes=$(docker image inspect -f '{{.Size}}' "${ref}")
  sizes[${image}]=$(awk -v b="${bytes}" 'BEGIN {printf "%.0f", b/1e6}')
  records+="${ref} ${secs[${image}]} ${bytes} ${status[${image}]} ${hash} $(date -u +%Y-%m-%dT%H:%M:%SZ)"$'\n'
done

# Written atomically (temp file in the same directory, then rename): a reader never sees half a file.
times_json=${root}/bench/results/build_times.json
mkdir -p "$(dirname "${times_json}")"
printf '%s' "${records}" | python3 -c '
import json, os, sys, tempfile
path = sys.argv[1]
try:
    with open(path) as f:
        data = json.load(f)
except FileNotFoundError:
    data = {}
for line in sys.stdin:
    ref, secs, size, status, inputs, date = line.split()
    old = data.get(ref) or {}
    cached = status == "cached"
    kept = old.get("build_seconds") if old.get("inputs") == inputs else None
    data[ref] = {
        "ref": ref, "seconds": int(secs), "size_mb": round(int(size) / 1e6, 1), "cached": cached,
        "date": date, "inputs": inputs, "build_seconds": kept if cached else int(secs),
    }
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".build_times.", suffix=".tmp")
with os.fdopen(fd, "w") as f:
    json.dump(dict(sorted(data.items())), f, indent=2)
    f.write("\n")
os.chmod(tmp, 0o644)
os.replace(tmp, path)
' "${times_json}"
echo "build-images: recorded in ${times_json#"${root}"/}"

rc=0
printf '\n%-34s %8s %8s %8s  %s\n' IMAGE SIZE_MB BUDGET BUILD_S STATUS
for image in "${images[@]}"; do
  ref=census-pipeline/${image}:${tag}
  size=${sizes[${image}]:--}; limit=${budget[${image}]:--}; verdict=${status[${image}]}
  if [ "${size}" != - ] && [ "${limit}" != - ] && [ "${size}" -gt "${limit}" ]; then
    verdict="${verdict}, OVER BUDGET"; rc=1
  fi
  printf '%-34s %8s %8s %8s  %s\n' "${ref}" "${size}" "${limit}" "${secs[${image}]:--}" "${verdict}"
done
[ "${rc}" = 0 ] || echo "build-images: ERROR an image exceeds its size budget | fix: see docs/images.md (layer listing) and slim it" >&2
exit "${rc}"
