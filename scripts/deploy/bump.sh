#!/usr/bin/env bash
# Set one service's image in one environment, e.g. bump.sh --env dev --service catalog --tag SHA --digest sha256:... --push main
# A thin wrapper over `shopfloor bump` (every argument is passed through; --help lists them).
# shellcheck source=scripts/deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
run_shopfloor bump "$@"
