#!/usr/bin/env bash
# make kind-up: a kind cluster with the ingress ports mapped, Argo CD, and the root Application of
# argocd/bootstrap/local.yaml, which installs Traefik, metrics-server, the projects and the `local`
# ApplicationSet (PostgreSQL, Redis and the services). Argo CD reads the repository from its
# remote (repoURL in argocd/): push the branch it follows before expecting your changes there.
# shellcheck source=scripts/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require docker kind kubectl helm

if kind get clusters | grep -qx "$CLUSTER_NAME"; then
  echo "kind cluster $CLUSTER_NAME exists; reusing it"
else
  kind create cluster --name "$CLUSTER_NAME" --config "$REPO_ROOT/scripts/kind/cluster.yaml" --wait 120s
fi

# Argo CD itself. The root Application owns argocd-notifications-cm, so the chart must not create
# it; Application health is assessed so the app-of-apps' sync waves wait for each wave's apps.
helm upgrade --install argocd argo-cd \
  --kube-context "$KUBE_CONTEXT" \
  --repo "$ARGOCD_CHART_REPO" --version "$ARGOCD_CHART_VERSION" \
  --namespace argocd --create-namespace --wait \
  --set notifications.cm.create=false \
  --set-string 'configs.cm.resource\.customizations\.health\.argoproj\.io_Application=hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil and obj.status.health ~= nil then
  hs.status = obj.status.health.status
  if obj.status.health.message ~= nil then hs.message = obj.status.health.message end
end
return hs'

# The Secrets the charts reference but never render (charts/README.md, "Secrets and the first install").
kubectl_kind create namespace shopfloor --dry-run=client -o yaml | kubectl_kind apply -f -
admin_key="$(random_secret)"
catalog_password="$(random_secret)"
orders_password="$(random_secret)"
create_secret() {
  local name="$1"
  shift
  if ! kubectl_kind -n shopfloor get secret "$name" >/dev/null 2>&1; then
    kubectl_kind -n shopfloor create secret generic "$name" "$@"
  fi
}
create_secret catalog-secrets --from-literal=ADMIN_API_KEY="$admin_key" --from-literal=DATABASE_PASSWORD="$catalog_password"
create_secret orders-secrets --from-literal=ADMIN_API_KEY="$admin_key" --from-literal=DATABASE_PASSWORD="$orders_password"
create_secret postgresql-credentials --from-literal=postgres-password="$(random_secret)" \
  --from-literal=catalog-password="$catalog_password" --from-literal=orders-password="$orders_password"

kubectl_kind apply -n argocd -f "$REPO_ROOT/argocd/bootstrap/local.yaml"
echo "Argo CD is syncing the local environment. UI: kubectl --context $KUBE_CONTEXT -n argocd port-forward svc/argocd-server 8443:443"
echo "Admin password: kubectl --context $KUBE_CONTEXT -n argocd get secret argocd-initial-admin-secret -o jsonpath='{.data.password}' | base64 -d"
