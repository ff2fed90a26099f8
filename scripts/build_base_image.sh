#!/usr/bin/env bash
# Builds a local Python base image with debootstrap (Debian bookworm minbase + python3,
# python3-venv, ca-certificates and this machine's CA bundle) for machines where
# python:3.11-slim-bookworm cannot be pulled. Skips the work when the image already exists.
# Usage: build_base_image.sh [IMAGE]   (default census-pipeline/base:bookworm-py311)
# Env: DEBIAN_MIRROR (default: the Debian mirror apt uses here), HOST_CA_BUNDLE, FORCE=1 to rebuild.
set -euo pipefail

image=${1:-census-pipeline/base:bookworm-py311}
suite=bookworm
host_ca=${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

if [ "${FORCE:-0}" != 1 ] && docker image inspect "${image}" >/dev/null 2>&1; then
  echo "base-image: ${image} exists (FORCE=1 rebuilds)"
  exit 0
fi

# The mirror apt already uses on this machine (one-line and deb822 formats).
mirror_from_apt() {
  { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true; } |
    grep -Eo 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ' || true
}
mirror=${DEBIAN_MIRROR:-$(mirror_from_apt)}
mirror=${mirror:-http://deb.debian.org/debian}

command -v debootstrap >/dev/null || { echo "base-image: ERROR debootstrap missing | fix: apt-get install -y debootstrap" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "base-image: ERROR debootstrap needs root | fix: run as root" >&2; exit 1; }
[ -s "${host_ca}" ] || { echo "base-image: ERROR no CA bundle at ${host_ca} | fix: set HOST_CA_BUNDLE" >&2; exit 1; }

work=$(mktemp -d /tmp/base-image.XXXXXX)
trap 'rm -rf "${work}"' EXIT
root=${work}/root
start=$(date +%s)
echo "base-image: debootstrap ${suite} minbase from ${mirror} (a few minutes) ..."
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
  "${suite}" "${root}" "${mirror}" 2>&1 | while IFS= read -r line; do echo "  ${line}"; done

# pip inside builds must trust this machine's CA bundle (it may include a TLS-inspecting proxy CA).
# Kept in a separate file, so update-ca-certificates in a derived image cannot drop it.
install -m 0644 "${host_ca}" "${root}/etc/ssl/certs/host-ca-bundle.crt"
printf '[global]\ncert = /etc/ssl/certs/host-ca-bundle.crt\n' > "${root}/etc/pip.conf"
# Same apt hygiene as the official slim images: no package cache kept in layers.
printf 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\nAPT::Keep-Downloaded-Packages "false";\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' \
  > "${root}/etc/apt/apt.conf.d/docker-clean"
# Like the official slim images: no docs, man pages or translations (~50 MB), now or from any
# package a derived image installs; licence files (copyright) stay.
cat > "${root}/etc/dpkg/dpkg.cfg.d/01-slim" <<'CFG'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
CFG
find "${root}/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "${root}/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "${root}"/usr/share/man/* "${root}"/usr/share/info/* "${root}"/usr/share/locale/* "${root}"/usr/share/lintian/*
chroot "${root}" apt-get clean
rm -rf "${root}"/var/lib/apt/lists/* "${root}"/var/cache/apt/*.bin "${root}"/var/log/*.log "${root}"/tmp/*
# Point python3 at the same name python:3.11-slim offers ("python" on PATH).
ln -sf python3 "${root}/usr/bin/python"

echo "base-image: importing as ${image} ..."
tar -C "${root}" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt' \
  --change 'LABEL org.opencontainers.image.title="census-pipeline local base" org.opencontainers.image.description="Debian bookworm minbase + python3 (debootstrap), stand-in for python:3.11-slim-bookworm"' \
  --change 'CMD ["python3"]' \
  - "${image}" >/dev/null
echo "base-image: ${image} built in $(( $(date +%s) - start )) s, $(docker image inspect -f '{{.Size}}' "${image}" | awk '{printf "%.0f MB", $1/1e6}')"
