#!/usr/bin/env bash
# Smoke-test a running shop, e.g. smoke.sh --base-url https://dev.shop.example.com --wait 120
# A thin wrapper over `shopfloor smoke` (every argument is passed through; --help lists them).
# shellcheck source=scripts/deploy/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
run_shopfloor smoke "$@"
