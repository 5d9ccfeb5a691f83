#!/usr/bin/env bash
# make kind-smoke: the same smoke test as `make smoke` (and the PostSync Job), through kind's
# Traefik on http://localhost (ports mapped by scripts/kind/cluster.yaml).
# shellcheck source=scripts/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require kubectl
kubectl_kind get nodes >/dev/null
exec "$REPO_ROOT/.venv/bin/shopfloor" smoke --base-url "${KIND_BASE_URL:-http://localhost}" --expect-frontend --wait 120
