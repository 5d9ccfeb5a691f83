#!/usr/bin/env bash
# Sourced by the deploy wrappers: run the repo CLI, the repository's own .venv/bin/shopfloor when it
# exists (make venv), else `shopfloor` on PATH. The work itself is in the CLI (tools/shopfloor), so
# these scripts, their .bat twins, the workflows and the CodeBuild buildspec share one implementation.
set -euo pipefail

DEPLOY_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

run_shopfloor() {
  local cli="$DEPLOY_REPO_ROOT/.venv/bin/shopfloor"
  if [[ ! -x "$cli" ]]; then
    if ! cli="$(command -v shopfloor)"; then
      echo "shopfloor not found: run \`make venv\` in $DEPLOY_REPO_ROOT or put shopfloor on PATH" >&2
      exit 127
    fi
  fi
  # The repository these scripts live in, unless SHOPFLOOR_REPO names another one.
  exec "$cli" --repo "${SHOPFLOOR_REPO:-$DEPLOY_REPO_ROOT}" "$@"
}
