#!/usr/bin/env bash
# make kind-deploy: build every image as the local environment's image files name it
# (localhost/shopfloor/<image>:dev: environments/local/<service>/image.yaml, and tools-image.yaml for
# the smoke Job's), load them into the kind node, sync the `local` Applications and wait until they
# are healthy.
# shellcheck source=scripts/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require docker kind kubectl

# The same build as `make images` and CodeBuild (shopfloor images build: every service under apps/
# and the tools image), on the Docker engine kind runs on.
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
"$REPO_ROOT/.venv/bin/shopfloor" images build --engine docker --repository-prefix localhost/shopfloor --tag dev \
  --report "$report"
mapfile -t images < <("$REPO_ROOT/.venv/bin/python" -c \
  'import json, sys; print("\n".join(row["image"] for row in json.load(open(sys.argv[1]))))' "$report")
for image in "${images[@]}"; do
  kind load docker-image "$image" --name "$CLUSTER_NAME"
done

services=()
for image_file in "$REPO_ROOT"/environments/local/*/image.yaml; do
  services+=("$(basename "$(dirname "$image_file")")")
done

# The tag stays `dev`, so a new image needs new pods; then ask Argo CD for a sync of each app.
for service in "${services[@]}"; do
  kubectl_kind -n shopfloor rollout restart "deployment/$service" 2>/dev/null || true
done
for app in $(kubectl_kind -n argocd get applications -l shopfloor.io/environment=local -o name); do
  kubectl_kind -n argocd patch "$app" --type merge -p '{"operation":{"initiatedBy":{"username":"make-kind-deploy"},"sync":{"prune":true}}}'
done
for app in $(kubectl_kind -n argocd get applications -l shopfloor.io/environment=local -o name); do
  kubectl_kind -n argocd wait "$app" --for=jsonpath='{.status.health.status}'=Healthy --timeout=300s
done
echo "deployed; run make kind-smoke"
