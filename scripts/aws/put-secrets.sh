#!/usr/bin/env bash
# Writes the values of an environment's Secrets Manager secrets, which Terraform declares without a
# value (terraform/modules/secrets) so that no secret sits in Terraform state. Run it once after the
# first `terraform apply` of the environment, and again to rotate.
#
# Usage: scripts/aws/put-secrets.sh ENV                    fill every missing property (idempotent)
#        scripts/aws/put-secrets.sh ENV --rotate NAME/PROP  give one property a new value, e.g.
#                                                           catalog/ADMIN_API_KEY or redis/auth-token
#        scripts/aws/put-secrets.sh ENV --finish-redis-rotation
#                                                           once every pod uses the new Redis token,
#                                                           make ElastiCache refuse the previous one
#
# Which secrets and properties exist comes from the stack's `contract` output (terraform output -json
# in terraform/stack, initialised for ENV; or the file SHOPFLOOR_TERRAFORM_OUTPUTS names). Values are
# 64 random hex characters (openssl rand), never printed, never on a command line: they reach the
# aws CLI through files readable by the caller only. The Redis AUTH token is set on ElastiCache with
# the ROTATE strategy (old and new token both accepted) before it becomes the secret's current value,
# so pods never hold a token the server refuses. Needs aws CLI v2 with credentials for the
# environment's account, jq and openssl.
set -euo pipefail

usage() {
  sed -n '6,11s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

(($# >= 1)) || usage
environment="$1"
shift
rotate=()
finish_redis=false
while (($#)); do
  case "$1" in
    --rotate)
      (($# >= 2)) || usage
      [[ "$2" == */* ]] || { echo "put-secrets: --rotate takes NAME/PROPERTY, not $2" >&2; exit 2; }
      rotate+=("$2")
      shift 2
      ;;
    --finish-redis-rotation) finish_redis=true; shift ;;
    *) usage ;;
  esac
done

for tool in aws jq openssl; do
  command -v "$tool" >/dev/null || { echo "put-secrets: $tool is not on PATH" >&2; exit 127; }
done

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [[ -n "${SHOPFLOOR_TERRAFORM_OUTPUTS:-}" ]]; then
  outputs="$(<"$SHOPFLOOR_TERRAFORM_OUTPUTS")"
else
  outputs="$(terraform -chdir="$repo/terraform/stack" output -json)"
fi
contract="$(jq -c '.contract.value // empty' <<<"$outputs")"
[[ -n "$contract" ]] || { echo "put-secrets: the Terraform outputs have no contract (apply terraform/stack first)" >&2; exit 1; }
state_environment="$(jq -r .environment <<<"$contract")"
if [[ "$state_environment" != "$environment" ]]; then
  echo "put-secrets: the Terraform state is for $state_environment, not $environment (terraform init -reconfigure with environments/$environment/backend.hcl)" >&2
  exit 1
fi
region="$(jq -r .region <<<"$contract")"

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
chmod 700 "$workdir"

aws_() { aws --region "$region" --output json "$@"; }
new_value() { openssl rand -hex 32; }

# The secret's value at a staging label as JSON ({} when it has none yet), and its version id.
read_version() { # secret stage -> prints {"id":..., "value":{...}} or {"id":null,"value":{}}
  local answer
  if answer="$(aws_ secretsmanager get-secret-value --secret-id "$1" --version-stage "$2" 2>"$workdir/error")"; then
    jq -c '{id: .VersionId, value: (.SecretString | fromjson)}' <<<"$answer"
  elif grep -q ResourceNotFoundException "$workdir/error"; then
    echo '{"id":null,"value":{}}'
  else
    cat "$workdir/error" >&2
    exit 1
  fi
}

# Writes a JSON object as a new version of the secret, at the given stage(s), through a file.
write_version() { # secret value-json stage...
  local secret="$1" value="$2"
  shift 2
  (umask 077 && jq -c . <<<"$value" >"$workdir/value.json")
  aws_ secretsmanager put-secret-value --secret-id "$secret" --secret-string "file://$workdir/value.json" \
    --version-stages "$@" | jq -r .VersionId
  rm -f "$workdir/value.json"
}

set_redis_token() { # token strategy
  local group
  group="$(jq -r '.redis_replication_group_id.value // empty' <<<"$outputs")"
  [[ -n "$group" ]] || { echo "put-secrets: no redis_replication_group_id output" >&2; exit 1; }
  (umask 077 && jq -n --arg group "$group" --arg token "$1" --arg strategy "$2" \
    '{ReplicationGroupId: $group, AuthToken: $token, AuthTokenUpdateStrategy: $strategy, ApplyImmediately: true}' \
    >"$workdir/modify.json")
  aws_ elasticache modify-replication-group --cli-input-json "file://$workdir/modify.json" >/dev/null
  rm -f "$workdir/modify.json"
  aws_ elasticache wait replication-group-available --replication-group-id "$group"
}

redis_url() { # token -> rediss://:token@primary:port/0 (the host TLS verification expects)
  local endpoint port
  endpoint="$(jq -r '.redis_endpoint.value // empty' <<<"$outputs")"
  port="$(jq -r .data_stores.redis.port <<<"$contract")"
  [[ -n "$endpoint" ]] || { echo "put-secrets: no redis_endpoint output" >&2; exit 1; }
  printf 'rediss://:%s@%s:%s/0' "$1" "$endpoint" "$port"
}

if [[ "$finish_redis" == true ]]; then
  redis_secret="$(jq -r '.secrets.redis.name // empty' <<<"$contract")"
  [[ -n "$redis_secret" ]] || { echo "put-secrets: $environment runs Redis in the cluster: no AUTH token to rotate" >&2; exit 2; }
  current="$(read_version "$redis_secret" AWSCURRENT)"
  token="$(jq -r '.value["auth-token"] // empty' <<<"$current")"
  [[ -n "$token" ]] || { echo "put-secrets: the redis secret has no auth-token yet" >&2; exit 1; }
  set_redis_token "$token" SET
  echo "redis: ElastiCache now accepts the current token only"
  exit 0
fi

for rotated in "${rotate[@]}"; do
  if ! jq -e --arg name "${rotated%%/*}" --arg property "${rotated#*/}" \
    '.secrets[$name].properties | index($property)' <<<"$contract" >/dev/null; then
    echo "put-secrets: no property $rotated in the contract's secrets" >&2
    exit 2
  fi
done

for consumer in $(jq -r '.secrets | keys[]' <<<"$contract"); do
  secret="$(jq -r --arg c "$consumer" '.secrets[$c].name' <<<"$contract")"
  current="$(read_version "$secret" AWSCURRENT)"
  value="$(jq -c .value <<<"$current")"
  changed=()
  for property in $(jq -r --arg c "$consumer" '.secrets[$c].properties[]' <<<"$contract"); do
    [[ "$property" == url && "$consumer" == redis ]] && continue # derived from the token below
    wanted=false
    jq -e --arg p "$property" 'has($p)' <<<"$value" >/dev/null || wanted=true
    for rotated in "${rotate[@]}"; do [[ "$rotated" == "$consumer/$property" ]] && wanted=true; done
    [[ "$wanted" == true ]] || continue
    value="$(jq -c --arg p "$property" --arg v "$(new_value)" '.[$p] = $v' <<<"$value")"
    changed+=("$property")
  done

  if [[ "$consumer" == redis ]]; then
    token="$(jq -r '."auth-token"' <<<"$value")"
    value="$(jq -c --arg url "$(redis_url "$token")" '.url = $url' <<<"$value")"
    if ((${#changed[@]})); then
      # Staged first, so a failure below leaves the token recoverable; current only once ElastiCache has it.
      pending="$(write_version "$secret" "$value" AWSPENDING)"
      set_redis_token "$token" ROTATE
      previous="$(jq -r '.id // empty' <<<"$current")"
      aws_ secretsmanager update-secret-version-stage --secret-id "$secret" --version-stage AWSCURRENT \
        --move-to-version-id "$pending" ${previous:+--remove-from-version-id "$previous"} >/dev/null
      echo "$secret: set ${changed[*]} url (ElastiCache accepts the new token; run --finish-redis-rotation once pods use it)"
    elif [[ "$(jq -r .url <<<"$value")" != "$(jq -r '.value.url // empty' <<<"$current")" ]]; then
      write_version "$secret" "$value" AWSCURRENT >/dev/null
      echo "$secret: set url"
    else
      echo "$secret: unchanged"
    fi
    continue
  fi

  if ((${#changed[@]})); then
    write_version "$secret" "$value" AWSCURRENT >/dev/null
    echo "$secret: set ${changed[*]}"
  else
    echo "$secret: unchanged"
  fi
done
