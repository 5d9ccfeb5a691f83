#!/usr/bin/env bash
# Open a promotion pull request, e.g. promote.sh --from dev --to staging --service catalog (or --all)
# A thin wrapper over `shopfloor promote` (every argument is passed through; --help lists them).
# shellcheck source=scripts/deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
run_shopfloor promote "$@"
