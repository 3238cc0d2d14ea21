#!/bin/bash
# The real-systemd end-to-end test (see README.md). Host side: builds (or reuses) a Debian rootfs,
# starts a real OpenBao dev server (seeded with the demo world), a switchable forwarder in front of
# it and a view of its tokens, and a second server ("lab", for a second profile) with its own view,
# all on the host's loopback (the container shares it), boots the
# container twice with systemd-nspawn — "provision" (alice installs, admin enables linger, first
# mint) and "check" (issue 3's steps 1-5) — then judges the recorded facts with check.py. Stops
# everything it started on exit, failure and interrupt included; every boot is bounded by `timeout`.
#
# usage: run.sh --renewer BIN --bao BIN --work DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
renewer='' bao='' work=''
while [ $# -gt 0 ]; do
	case "$1" in
	--renewer) renewer=$(realpath "$2") && shift 2 ;;
	--bao) bao=$(realpath "$2") && shift 2 ;;
	--work) mkdir -p "$2" && work=$(realpath "$2") && shift 2 ;;
	*) echo "usage: $0 --renewer BIN --bao BIN --work DIR" >&2 && exit 2 ;;
	esac
done
if ! [ -x "$renewer" ] || ! [ -x "$bao" ] || [ -z "$work" ]; then
	echo "usage: $0 --renewer BIN --bao BIN --work DIR (binaries must exist)" >&2
	exit 2
fi

t_start=$(date +%s.%N)
say() { echo "system-test: $*"; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }

# --- 1. The rootfs, cached under the target dir by a key of everything that shapes it. -------------
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,libpam-systemd,curl,ca-certificates
rootfs_recipe="mmdebstrap --variant=minbase --include=$PACKAGES $SUITE; mask apt timers; useradd alice uid 1000; hostname devvm"
key=$(printf '%s' "$rootfs_recipe" | sha256sum | cut -c1-12)
base=$work/rootfs-$key
if [ ! -d "$base" ]; then
	say "building the $SUITE rootfs (cached as $base; ~20-45 s once)"
	rm -rf "$work"/rootfs-* # older recipes, and a build interrupted before its rename
	t=$(date +%s.%N)
	mmdebstrap --quiet --variant=minbase --include="$PACKAGES" "$SUITE" "$base.partial" >"$work/mmdebstrap.log" 2>&1 || {
		tail -20 "$work/mmdebstrap.log" >&2
		echo "system-test: mmdebstrap failed (log above; it uses the host's apt sources)" >&2
		exit 1
	}
	# Unattended apt runs would only add noise and time to the boots.
	chroot "$base.partial" systemctl mask apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1
	chroot "$base.partial" useradd -m -u 1000 -s /bin/bash alice
	echo devvm >"$base.partial/etc/hostname"
	mv "$base.partial" "$base"
	say "rootfs built in $(elapsed "$t") s"
	rootfs=built
else
	rootfs=cached
fi

# --- 2. This run's copy of it, the test driver, the output dir. --------------------------------------
run=$work/run
rm -rf "$run"
mkdir -p "$run/out/ctl"
cp -a --reflink=auto "$base" "$run/root"
root=$run/root
install -d "$root/usr/local/lib/system-test" "$root/etc/system-test"
install -m 0755 "$here/inside.sh" "$here/driver.sh" "$root/usr/local/lib/system-test/"
install -m 0644 "$here/system-test.service" "$root/etc/systemd/system/"
ln -s /etc/systemd/system/system-test.service "$root/etc/systemd/system/multi-user.target.wants/system-test.service"
touch "$root/usr/local/bin/vault-token-renew" "$root/usr/local/bin/bao" # bind-mount targets

# --- 3. OpenBao, its forwarder and its token view, on the shared loopback. ---------------------------
# The server's home holds its raw audit log (every token value, for the leak check): it stays
# outside the kept output and is deleted on exit.
bao_home=$run/openbao
lab_home=$run/openbao-lab
mkdir -p "$bao_home" "$lab_home"
pids=() boot_pid=''
# shellcheck disable=SC2317 # reached through the trap
cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	if [ -n "$boot_pid" ] && kill -0 "$boot_pid" 2>/dev/null; then
		# timeout passes the TERM on: nspawn powers the container off (KILL after 10 s).
		kill "$boot_pid" 2>/dev/null || true
		wait "$boot_pid" 2>/dev/null || true
	fi
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$root" "$bao_home" "$lab_home"
	exit "$rc"
}
trap cleanup EXIT INT TERM

# Random per run, so nothing in the container can act as root; passed to our helpers by environment.
root_token=$(python3 -c 'import secrets; print(secrets.token_hex(16))')

# free_port_pair: a loopback port whose successor is free too (dev mode's cluster listener).
free_port_pair() {
	python3 - <<'PY'
import socket
for _ in range(50):
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        port = first.getsockname()[1]
        try:
            second.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        print(port)
        break
PY
}

# wait_file FILE PID: waits up to 10 s for a helper to write its ready file.
wait_file() {
	local _
	for _ in $(seq 200); do
		[ -s "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# start_bao HOME NAME: a dev server with HOME as its home (and raw audit log) on a free port,
# seeded with the demo world; sets bao_url and bao_port. NAME labels its output files.
start_bao() {
	local home=$1 name=$2 port _
	printf 'audit "file" "system-test" {\n  options {\n    file_path = "%s"\n    log_raw = "true"\n  }\n}\n' \
		"$home/audit.log" >"$home/audit.hcl"
	bao_url=''
	for _ in 1 2 3 4 5; do # another process can take the free port before bao does
		port=$(free_port_pair)
		# The root token by environment (-dev-root-token-id's variable), so that ps does not show it.
		env -i HOME="$home" PATH="$PATH" BAO_DEV_ROOT_TOKEN_ID="$root_token" "$bao" server -dev \
			-dev-listen-address="127.0.0.1:$port" -dev-no-store-token -config="$home/audit.hcl" \
			-log-level=warn </dev/null >/dev/null 2>"$run/out/$name.txt" &
		pids+=($!)
		for _ in $(seq 200); do
			if [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "http://127.0.0.1:$port/v1/sys/health")" = 200 ]; then
				bao_url=http://127.0.0.1:$port
				bao_port=$port
				break 2
			fi
			kill -0 "${pids[-1]}" 2>/dev/null || break
			sleep 0.1
		done
		kill "${pids[-1]}" 2>/dev/null || true
	done
	[ -n "$bao_url" ] || {
		cat "$run/out/$name.txt" >&2
		echo "system-test: bao server -dev ($name) did not become healthy (its output above)" >&2
		exit 1
	}
	SYSTEM_TEST_ROOT_TOKEN=$root_token python3 "$here/seed.py" "$bao_url" >"$run/out/seed-$name.txt" 2>&1 || {
		cat "$run/out/seed-$name.txt" >&2
		echo "system-test: seeding OpenBao ($name) failed (output above)" >&2
		exit 1
	}
}

# start_state URL NAME: the token view of the server at URL; sets view_url.
start_state() {
	SYSTEM_TEST_ROOT_TOKEN=$root_token python3 "$here/state.py" "$1" "$run/out/ctl/$2-port" >"$run/out/$2.txt" 2>&1 &
	pids+=($!)
	wait_file "$run/out/ctl/$2-port" "${pids[-1]}" || {
		cat "$run/out/$2.txt" >&2
		echo "system-test: the token view $2 did not start (output above)" >&2
		exit 1
	}
	view_url=http://127.0.0.1:$(cat "$run/out/ctl/$2-port")/state
}

# The second server first: the default's port is what the forwarder below fronts.
start_bao "$lab_home" openbao-lab
lab_url=$bao_url
start_bao "$bao_home" openbao
port=$bao_port
start_state "$bao_url" state
state_url=$view_url
start_state "$lab_url" state-lab
lab_state_url=$view_url
python3 "$here/proxy.py" 0 "$port" "$run/out/ctl/down" "$run/out/ctl/proxy-port" >"$run/out/proxy.txt" 2>&1 &
pids+=($!)
wait_file "$run/out/ctl/proxy-port" "${pids[-1]}" || {
	cat "$run/out/proxy.txt" >&2
	echo "system-test: the forwarder did not start (output above)" >&2
	exit 1
}
server_url=http://127.0.0.1:$(cat "$run/out/ctl/proxy-port")
say "OpenBao $("$bao" version | cut -d' ' -f2) at $bao_url, reached by the container through $server_url; the lab profile's at $lab_url"

# --- 4. Two boots. -----------------------------------------------------------------------------------
boot() {
	local phase=$1 limit=$2 t rc=0
	printf 'PHASE=%s\nSERVER_URL=%s\nSTATE_URL=%s\nLAB_SERVER_URL=%s\nLAB_STATE_URL=%s\nPHASE_TIMEOUT=%s\n' \
		"$phase" "$server_url" "$state_url" "$lab_url" "$lab_state_url" "$((limit - 20))" >"$root/etc/system-test/env"
	mkdir -p "$run/out/$phase"
	t=$(date +%s.%N)
	# In the background so that an interrupt reaches cleanup at once, not after the boot.
	timeout -k 10 "$limit" systemd-nspawn -q -b -D "$root" --register=no --keep-unit --console=pipe \
		--hostname=devvm --bind="$run/out:/out" \
		--bind-ro="$renewer:/usr/local/bin/vault-token-renew" \
		--bind-ro="$bao:/usr/local/bin/bao" \
		</dev/null >"$run/out/$phase/console.txt" 2>&1 &
	boot_pid=$!
	wait "$boot_pid" || rc=$?
	boot_pid=''
	say "boot '$phase' ended with $rc after $(elapsed "$t") s"
	if [ $rc -ne 0 ]; then
		tail -30 "$run/out/$phase/console.txt" "$run/out/$phase/inside.log" 2>/dev/null >&2 || true
		echo "system-test: boot '$phase' failed (rc=$rc; 124 = timed out); facts and journal are in $run/out/$phase" >&2
		exit 1
	fi
}
boot provision 120
boot check 180

# --- 5. Judge. ---------------------------------------------------------------------------------------
set +e
python3 "$here/check.py" --out "$run/out" --state-url "$state_url" --lab-state-url "$lab_state_url" \
	--audit-log "$bao_home/audit.log" --audit-log "$lab_home/audit.log"
rc=$?
set -e
say "total $(elapsed "$t_start") s (rootfs $rootfs); facts, logs and journals kept in $run/out"
exit $rc
