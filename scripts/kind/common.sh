#!/usr/bin/env bash
# Shared by the kind scripts: names, pinned versions, and a refusal that says what is missing.
# These scripts need a Docker engine, kind, kubectl and helm on the machine running them; the
# machines that build this repository have no Docker engine, kind or helm, so nothing here is
# exercised by `make test` (shellcheck is). The smoke test they end with is the one `make smoke` runs.
set -euo pipefail

CLUSTER_NAME="${KIND_CLUSTER_NAME:-shopfloor}"
KUBE_CONTEXT="kind-${CLUSTER_NAME}"
# Argo CD 3.4.4 (chart 10.1.1): the release whose CRDs tests/gitops validates argocd/ against
# (tests/crdkit.py PINNED_RELEASES). Bump both together.
ARGOCD_CHART_VERSION="10.1.1"
ARGOCD_CHART_REPO="https://argoproj.github.io/argo-helm"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CLUSTER_NAME KUBE_CONTEXT ARGOCD_CHART_VERSION ARGOCD_CHART_REPO REPO_ROOT

require() {
  local missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    echo "missing: ${missing[*]} (the kind targets need docker, kind, kubectl and helm; see docs/gitops.md)" >&2
    exit 2
  fi
  if [[ " $* " == *" docker "* ]] && ! docker info >/dev/null 2>&1; then
    echo "docker is installed but no Docker engine answers (is the daemon running?)" >&2
    exit 2
  fi
}

kubectl_kind() {
  kubectl --context "$KUBE_CONTEXT" "$@"
}

random_secret() {
  # URL-safe: DATABASE_URL embeds the password (charts/README.md).
  LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32
}
