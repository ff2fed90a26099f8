#!/usr/bin/env bash
# Ensures a Docker engine answers `docker info`: installs docker.io and starts dockerd in the
# background when needed. Exit 0 = engine ready; exit 1 = cannot start one (reason on stderr).
# Env: DOCKER_WAIT_SECONDS (default 60), DOCKERD_LOG (default /tmp/dockerd.log).
set -euo pipefail

wait_s=${DOCKER_WAIT_SECONDS:-60}
log=${DOCKERD_LOG:-/tmp/dockerd.log}

fail() { echo "docker-engine: CANNOT start a Docker engine: $* " >&2; exit 1; }

if docker info >/dev/null 2>&1; then
  echo "docker-engine: engine already running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || fail "dockerd is not installed and installing docker.io needs root"
  command -v apt-get >/dev/null 2>&1 || fail "dockerd is not installed and apt-get is unavailable"
  echo "docker-engine: installing docker.io with apt-get ..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || fail "apt-get update failed (no Debian mirror reachable?)"
  apt-get install -y -q --no-install-recommends docker.io || fail "apt-get install docker.io failed"
fi

[ "$(id -u)" = 0 ] || fail "dockerd needs root to start (run as root or start the engine yourself)"

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "docker-engine: starting dockerd in the background (log: ${log}) ..."
  nohup dockerd >"${log}" 2>&1 &
fi

for ((i = 0; i < wait_s; i++)); do
  if docker info >/dev/null 2>&1; then
    echo "docker-engine: engine ready after ${i} s ($(docker version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 1
done
fail "dockerd did not answer 'docker info' within ${wait_s} s; last lines of ${log}:
$(tail -n 5 "${log}" 2>/dev/null || true)"
