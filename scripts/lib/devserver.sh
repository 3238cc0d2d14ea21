# shellcheck shell=bash
# Helpers for the scripts that run the Vault double or a Python test client. Source this file.

# devserver_start BIN LOG [ARGS...]: starts the double on a free loopback port and waits for its
# `listening on URL` line. Sets devserver_pid and devserver_addr; if it dies or stays silent for
# 10 s, prints its output and exits 1.
devserver_start() {
	local bin=$1 log=$2
	shift 2
	"$bin" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
	devserver_pid=$!
	devserver_addr=""
	local _
	for _ in $(seq 1 200); do
		devserver_addr=$(sed -n 's/^listening on //p' "$log")
		[[ -n $devserver_addr ]] && return 0
		kill -0 "$devserver_pid" 2>/dev/null || break
		sleep 0.05
	done
	kill "$devserver_pid" 2>/dev/null || true
	echo "vault-devserver did not print 'listening on …' (it exited, or took over 10 s):" >&2
	cat "$log" >&2
	exit 1
}

# python_venv DIR REQUIREMENTS: a virtualenv holding exactly those pinned requirements, rebuilt
# only when the requirements file changes.
python_venv() {
	local venv=$1 requirements=$2
	if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
		python3 -m venv "$venv"
		"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
		cp "$requirements" "$venv/requirements.txt"
	fi
}
