#!/usr/bin/env bash
# Runs the hvac test suite against a freshly built vault-devserver on a free port.
# Usage: tests/hvac/run.sh [pytest args...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="$target/hvac-venv"
# shellcheck source=scripts/lib/devserver.sh
source "$repo/scripts/lib/devserver.sh"

python_venv "$venv" "$here/requirements.txt"

(cd "$repo" && cargo build --quiet -p vault-devserver)
bin="$target/debug/vault-devserver"

log="$(mktemp)"
cleanup() {
    kill "${devserver_pid:-}" 2>/dev/null || true
    wait "${devserver_pid:-}" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT
devserver_start "$bin" "$log" --seed demo --test-controls
addr=$devserver_addr

VAULT_DEVSERVER_ADDR="$addr" "$venv/bin/pytest" -q -p no:cacheprovider "$here" "$@"
