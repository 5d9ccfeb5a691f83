#!/usr/bin/env bash
# Creates (or updates) the repository's GitHub Environments with gh's REST API. GitHub Environments
# are repository settings, not files, so this is how they are kept reproducible:
#   prod     required reviewers (the job `promote-to-prod` of promote.yml waits for one of them),
#            self-review prevented, deployments only from protected branches (main)
#   staging  no reviewers (promotions to staging are reviewed as pull requests)
# and the repository's Actions settings: GITHUB_TOKEN read-only unless a job asks for more, and
# allowed to open pull requests (promote.yml does).
#
# Usage: scripts/github/configure-environments.sh OWNER/REPO TEAM_SLUG [TEAM_SLUG ...]
#   e.g. scripts/github/configure-environments.sh shopfloor/shopfloor platform release-managers
# Needs `gh auth login` as a repository admin (or GH_TOKEN with administration:write). Idempotent.
set -euo pipefail

if (($# < 2)); then
  sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
repo="$1"
shift
owner="${repo%%/*}"

reviewers=""
for team in "$@"; do
  team_id="$(gh api "orgs/$owner/teams/$team" --jq .id)"
  reviewers+="${reviewers:+,}{\"type\":\"Team\",\"id\":$team_id}"
done

gh api --method PUT "repos/$repo/environments/prod" --input - <<JSON
{
  "wait_timer": 0,
  "prevent_self_review": true,
  "reviewers": [$reviewers],
  "deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": false}
}
JSON
echo "prod: required reviewers $*"

gh api --method PUT "repos/$repo/environments/staging" --input - <<JSON
{"deployment_branch_policy": {"protected_branches": true, "custom_branch_policies": false}}
JSON
echo "staging: no reviewers"

gh api --method PUT "repos/$repo/actions/permissions/workflow" --input - <<JSON
{"default_workflow_permissions": "read", "can_approve_pull_request_reviews": true}
JSON
echo "actions: read-only token by default, may open pull requests"
