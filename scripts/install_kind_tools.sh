#!/usr/bin/env bash
# Installs the pinned kind, kubectl, helm and skaffold (linux/amd64) into DIR (default
# ~/.local/bin) after checking each download's sha256. Used by .github/workflows/ci.yml (e2e-kind)
# and by anyone setting up a Linux machine for `make e2e`; README.md (section Run it on kind).
# kind, kubectl and helm are checked against the literal sha256 below; skaffold against the .sha256
# file Google publishes next to the binary (its digest is not pinned here yet: see docs/deployment.md).
set -euo pipefail
dest=${1:-${HOME}/.local/bin}
KIND_VERSION=v0.33.0       # k8s/kind-config.yaml pins a node image built for this release
KUBECTL_VERSION=v1.36.4    # the node's Kubernetes version (k8s/kind-config.yaml)
HELM_VERSION=v3.22.0
SKAFFOLD_VERSION=v2.24.0   # reads and writes apiVersion skaffold/v4beta14
KIND_SHA256=aee6151561422756b764a4ae28e7f44cda5af5a9eead3cc9985112b1de8d8e0d
KUBECTL_SHA256=8b8f088da2dab964f853b38464033b1be15ede2839eca751482357c45abdd05a
HELM_SHA256=1e4ab49e429626cf6c6958d914248b78c9730803c2751b87627e171dc800e7bb

[ "$(uname -sm)" = "Linux x86_64" ] || {
  echo "ERROR [tools] this installer is for linux/amd64, not $(uname -sm) | fix: install the versions above from each project's release page" >&2
  exit 2
}
mkdir -p "${dest}"
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT

fetch() {  # fetch URL FILE SHA256: download, then refuse anything but the expected digest
  curl -fsSL --retry 3 --max-time 300 -o "${work}/$2" "$1"
  if ! echo "$3  ${work}/$2" | sha256sum --check --quiet --strict; then
    echo "ERROR [tools] $1 does not have sha256 $3 | fix: the download was altered or the pin is wrong; do not install it" >&2
    exit 1
  fi
}

fetch "https://github.com/kubernetes-sigs/kind/releases/download/${KIND_VERSION}/kind-linux-amd64" kind "${KIND_SHA256}"
fetch "https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/amd64/kubectl" kubectl "${KUBECTL_SHA256}"
fetch "https://get.helm.sh/helm-${HELM_VERSION}-linux-amd64.tar.gz" helm.tar.gz "${HELM_SHA256}"
tar -xzf "${work}/helm.tar.gz" -C "${work}" linux-amd64/helm
skaffold_url="https://storage.googleapis.com/skaffold/releases/${SKAFFOLD_VERSION}/skaffold-linux-amd64"
skaffold_sha=$(curl -fsSL --retry 3 --max-time 60 "${skaffold_url}.sha256" | cut -d' ' -f1)
[[ ${skaffold_sha} =~ ^[0-9a-f]{64}$ ]] || { echo "ERROR [tools] no sha256 published at ${skaffold_url}.sha256 | fix: retry later" >&2; exit 1; }
fetch "${skaffold_url}" skaffold "${skaffold_sha}"
echo "tools: skaffold ${SKAFFOLD_VERSION} sha256 ${skaffold_sha} (from its published .sha256)"

install -m 0755 "${work}/kind" "${dest}/kind"
install -m 0755 "${work}/kubectl" "${dest}/kubectl"
install -m 0755 "${work}/linux-amd64/helm" "${dest}/helm"
install -m 0755 "${work}/skaffold" "${dest}/skaffold"
"${dest}/kind" version
"${dest}/kubectl" version --client
"${dest}/helm" version --short
"${dest}/skaffold" version
