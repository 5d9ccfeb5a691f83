#!/usr/bin/env bash
# Build (and with --push push) the service images, e.g. build-images.sh --engine docker --repository-prefix REGISTRY/shopfloor --tag SHA --push
# A thin wrapper over `shopfloor images build` (every argument is passed through; --help lists them).
# shellcheck source=scripts/deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
run_shopfloor images build "$@"
