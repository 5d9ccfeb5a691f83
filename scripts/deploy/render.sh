#!/usr/bin/env bash
# Render the manifests Argo CD applies, e.g. render.sh --env prod --out rendered
# A thin wrapper over `shopfloor render` (every argument is passed through; --help lists them).
# shellcheck source=scripts/deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
run_shopfloor render "$@"
