#!/usr/bin/env bash
# The runbook's renew as users run it today: two real `bao` CLI calls plus jq (the Vault CLI and
# `bao` take the same commands). A yardstick against real OpenBao, not a tool.
#
#   bao-jq.sh     look the file's token up, check its name, renew it, log one line
#
# Environment: BAO (path of the bao binary), BAO_ADDR, DISPLAY_NAME (stored name, e.g.
# token-devvm-alice); the token comes from ~/.vault-token through the CLI's own token helper.
set -euo pipefail
: "${BAO:?set BAO to the bao binary}" "${BAO_ADDR:?set BAO_ADDR}" "${DISPLAY_NAME:?set DISPLAY_NAME}"
log_file=${LOG_FILE:-/dev/null}
log() { TZ=UTC printf '%(%Y-%m-%dT%H:%M:%SZ)T %s\n' -1 "$*" | tee -a "$log_file" >&2; }

dn=$("$BAO" token lookup -format=json | jq -r .data.display_name)
if [[ $dn != "$DISPLAY_NAME" ]]; then
  log "DRIFT: ~/.vault-token is dn=$dn"
  exit 3
fi
ttl=$("$BAO" token renew -format=json | jq -r .auth.lease_duration)
log "OK renewed (dn=$dn ttl=${ttl}s)"
