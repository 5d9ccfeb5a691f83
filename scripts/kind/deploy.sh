#!/usr/bin/env bash
# make kind-deploy: build each service's image as environments/local/<service>/image.yaml names it
# (localhost/shopfloor/<service>:dev), load it into the kind node, sync the `local` Applications
# and wait until they are healthy.
# shellcheck source=scripts/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require docker kind kubectl

services=()
for image_file in "$REPO_ROOT"/environments/local/*/image.yaml; do
  services+=("$(basename "$(dirname "$image_file")")")
done

# The same build as `make images` and CodeBuild (shopfloor images build), on the Docker engine
# kind runs on, tagged as environments/local/<service>/image.yaml names them.
"$REPO_ROOT/.venv/bin/shopfloor" images build --engine docker --repository-prefix localhost/shopfloor --tag dev \
  "${services[@]}"
for service in "${services[@]}"; do
  kind load docker-image "localhost/shopfloor/$service:dev" --name "$CLUSTER_NAME"
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
