#!/usr/bin/env bash
# The approach users run today — one HTTP client process and one jq process per step — rendered
# with curl instead of the Vault CLI, as the baseline bench/run measures vault-token-renew against.
# It is a yardstick, not a tool: it renews and sweeps, and does nothing else the renewer does.
#
#   curl-jq.sh renew            look the file's token up, check its name, renew it, log one line
#   curl-jq.sh sweep [LIMIT]    list accessors; look each up (the first LIMIT only, if given) and
#                               revoke the stale copies of our token
#
# Environment: VAULT_ADDR, DISPLAY_NAME (stored name, e.g. token-devvm-alice), TOKEN_FILE
# (default ~/.vault-token), LOG_FILE (default /dev/null), CURL_OPTS (e.g. "--cacert ca.pem").
set -euo pipefail

: "${VAULT_ADDR:?set VAULT_ADDR}" "${DISPLAY_NAME:?set DISPLAY_NAME to the stored display name}"
token_file=${TOKEN_FILE:-$HOME/.vault-token}
log_file=${LOG_FILE:-/dev/null}
read -r -a curl_opts <<<"${CURL_OPTS:-}"

# The token goes in a private header file, never on a command line where ps would show it.
headers=$(mktemp)
trap 'rm -f "$headers"' EXIT
chmod 600 "$headers"
printf 'X-Vault-Token: %s\nX-Vault-Request: true\n' "$(<"$token_file")" >"$headers"

vault() { # METHOD PATH [JSON BODY]
  curl -sS --fail-with-body "${curl_opts[@]}" -X "$1" -H @"$headers" ${3:+-d "$3"} "$VAULT_ADDR/v1/$2"
}

log() { TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T %s\n' -1 "$*" | tee -a "$log_file" >&2; }

case ${1:-renew} in
renew)
  info=$(vault GET auth/token/lookup-self)
  dn=$(jq -r .data.display_name <<<"$info")
  if [[ $dn != "$DISPLAY_NAME" ]]; then
    log "DRIFT: $token_file is dn=$dn"
    exit 3
  fi
  ttl=$(vault POST auth/token/renew-self '{}' | jq -r .auth.lease_duration)
  log "OK renewed (dn=$dn ttl=${ttl}s)"
  ;;
sweep)
  limit=${2:-}
  keep=$(vault GET auth/token/lookup-self | jq -r .data.accessor)
  revoked=0
  while read -r accessor; do
    [[ $accessor == "$keep" ]] && continue
    info=$(vault POST auth/token/lookup-accessor "{\"accessor\":\"$accessor\"}") || continue
    stale=$(jq -r --arg dn "$DISPLAY_NAME" '.data.display_name == $dn and (.data.period // 0) > 0' <<<"$info")
    if [[ $stale == true ]]; then
      vault POST auth/token/revoke-accessor "{\"accessor\":\"$accessor\"}" >/dev/null
      revoked=$((revoked + 1))
    fi
  done < <(vault GET 'auth/token/accessors?list=true' | jq -r '.data.keys[]' | if [[ -n $limit ]]; then head -n "$limit"; else cat; fi)
  log "OK swept (revoked $revoked stale periodic token(s))"
  ;;
*)
  echo "usage: $0 renew | sweep [LIMIT]" >&2
  exit 2
  ;;
esac
