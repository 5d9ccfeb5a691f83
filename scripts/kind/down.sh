#!/usr/bin/env bash
# make kind-down: delete the kind cluster and everything in it (data included).
# shellcheck source=scripts/kind/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
require kind
kind delete cluster --name "$CLUSTER_NAME"
