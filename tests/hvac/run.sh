#!/usr/bin/env bash
# Runs the hvac test suite against a freshly built vault-devserver on a free port.
# Usage: tests/hvac/run.sh [pytest args...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="$target/hvac-venv"

if [[ ! -x "$venv/bin/pytest" ]] || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/requirements.txt"
fi

(cd "$repo" && cargo build --quiet -p vault-devserver)
bin="$target/debug/vault-devserver"

log="$(mktemp)"
"$bin" --listen 127.0.0.1:0 --seed demo --test-controls >"$log" 2>&1 &
server_pid=$!
cleanup() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT

addr=""
for _ in $(seq 1 100); do
    addr="$(sed -n 's/^listening on //p' "$log")"
    [[ -n "$addr" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "vault-devserver exited before it was ready:" >&2
        cat "$log" >&2
        exit 1
    fi
    sleep 0.1
done
if [[ -z "$addr" ]]; then
    echo "vault-devserver did not print 'listening on …' within 10 s:" >&2
    cat "$log" >&2
    exit 1
fi

VAULT_DEVSERVER_ADDR="$addr" "$venv/bin/pytest" -q -p no:cacheprovider "$here" "$@"
