#!/usr/bin/env bash
# Checks the metrics file with a strict third-party parser (prometheus_client) after real runs of
# the binary against the double: a mint, a renewal, a weak clobber (DRIFT), an admin clobber (HEALED).
# Usage: tests/metrics/run.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="$target/metrics-venv"
# shellcheck source=scripts/lib/devserver.sh
source "$repo/scripts/lib/devserver.sh"

python_venv "$venv" "$here/requirements.txt"

(cd "$repo" && cargo build --quiet --workspace --bins)
renew="$target/debug/vault-token-renew"
devserver="$target/debug/vault-devserver"

work="$(mktemp -d)"
cleanup() {
    kill "${devserver_pid:-}" 2>/dev/null || true
    wait "${devserver_pid:-}" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
devserver_start "$devserver" "$work/server.out" --seed demo
addr=$devserver_addr

export HOME="$work/home" USER=alice
unset VAULT_TOKEN BAO_TOKEN VAULT_ADDR BAO_ADDR
mkdir -p "$HOME/.config/vault-token-renew"
prom="$HOME/textfile/vault-token-renew.prom"
cat >"$HOME/.config/vault-token-renew/config.toml" <<TOML
vault_addr = "$addr"
display_name = "devvm-alice"
policies = ["vault-admin", "sops-admin"]
metrics_file = "$prom"
TOML

check() { "$venv/bin/python" "$here/check_textfile.py" "$prom" "$@"; }
run() { # expected-exit args...
    local want=$1; shift
    local got=0
    "$renew" "$@" 2>>"$work/runs.err" || got=$?
    [[ $got == "$want" ]] || { echo "vault-token-renew $* exited $got, not $want:" >&2; cat "$work/runs.err" >&2; exit 1; }
}
login() { "$devserver" login --addr "$addr" --mount "$1" --username "$2" --password "$3" --token-file "$HOME/.vault-token"; }

VAULT_TOKEN=root run 0 mint;             check ok 0 0
run 0 renew;                             check ok 0 0
login kubernetes woodpecker-default woodpecker
run 3 renew;                             check drift 0 1
login oidc alice alice
run 0 renew;                             check healed 1 1
echo "metrics: the textfile parses with prometheus_client after mint, renew, DRIFT and HEALED"
