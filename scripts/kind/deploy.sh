#!/usr/bin/env bash
# make kind-deploy: build each service's image as environments/local/<service>/image.yaml names it
# (localhost/shopfloor/<service>:dev), load it into the kind node, sync the `local` Applications
# and wait until they are healthy. Needs each service's Dockerfile (apps/<service>/Dockerfile).
# shellcheck source=scripts/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require docker kind kubectl

services=()
for image_file in "$REPO_ROOT"/environments/local/*/image.yaml; do
  services+=("$(basename "$(dirname "$image_file")")")
done

for service in "${services[@]}"; do
  dockerfile="$REPO_ROOT/apps/$service/Dockerfile"
  if [[ ! -f "$dockerfile" ]]; then
    echo "no $dockerfile: the image of $service cannot be built here" >&2
    exit 2
  fi
  image="localhost/shopfloor/$service:dev"
  docker build --file "$dockerfile" --tag "$image" "$REPO_ROOT"
  kind load docker-image "$image" --name "$CLUSTER_NAME"
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
