#!/bin/bash
# The real-systemd end-to-end test (see README.md). Host side: builds (or reuses) a Debian rootfs,
# starts the dev server and a switchable forwarder on the host's loopback (the container shares it),
# boots the container twice with systemd-nspawn — "provision" (alice installs, admin enables
# linger, first mint) and "check" (issue 3's steps 1-5) — then judges the recorded facts with
# check.py. Tears everything down itself; every boot is bounded by `timeout`.
#
# usage: run.sh --renewer BIN --devserver BIN --work DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
renewer='' devserver='' work=''
while [ $# -gt 0 ]; do
	case "$1" in
	--renewer) renewer=$(realpath "$2") && shift 2 ;;
	--devserver) devserver=$(realpath "$2") && shift 2 ;;
	--work) mkdir -p "$2" && work=$(realpath "$2") && shift 2 ;;
	*) echo "usage: $0 --renewer BIN --devserver BIN --work DIR" >&2 && exit 2 ;;
	esac
done
[ -x "$renewer" ] && [ -x "$devserver" ] && [ -n "$work" ] || {
	echo "usage: $0 --renewer BIN --devserver BIN --work DIR (binaries must exist)" >&2
	exit 2
}

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
touch "$root/usr/local/bin/vault-token-renew" "$root/usr/local/bin/vault-devserver" # bind-mount targets

# --- 3. The dev server and its switchable forwarder, on the shared loopback. -------------------------
pids=()
cleanup() {
	local rc=$?
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	rm -rf "$root"
	exit $rc
}
trap cleanup EXIT INT TERM

# shellcheck source=scripts/lib/devserver.sh
source "$here/../../scripts/lib/devserver.sh"
devserver_start "$devserver" "$run/out/devserver.txt" --seed demo --test-controls
pids+=("$devserver_pid")
dev_url=$devserver_addr
python3 "$here/proxy.py" 0 "${dev_url##*:}" "$run/out/ctl/down" "$run/out/ctl/proxy-port" >"$run/out/proxy.txt" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$run/out/ctl/proxy-port" ] && break || sleep 0.05; done
[ -s "$run/out/ctl/proxy-port" ] || {
	cat "$run/out/proxy.txt" >&2
	echo "system-test: the forwarder did not start (output above)" >&2
	exit 1
}
server_url=http://127.0.0.1:$(cat "$run/out/ctl/proxy-port")
say "dev server $dev_url, reached by the container through $server_url"

# --- 4. Two boots. -----------------------------------------------------------------------------------
boot() {
	local phase=$1 limit=$2 t rc
	printf 'PHASE=%s\nSERVER_URL=%s\nPHASE_TIMEOUT=%s\n' "$phase" "$server_url" "$((limit - 20))" >"$root/etc/system-test/env"
	mkdir -p "$run/out/$phase"
	t=$(date +%s.%N)
	set +e
	timeout -k 10 "$limit" systemd-nspawn -q -b -D "$root" --register=no --keep-unit --console=pipe \
		--hostname=devvm --bind="$run/out:/out" \
		--bind-ro="$renewer:/usr/local/bin/vault-token-renew" \
		--bind-ro="$devserver:/usr/local/bin/vault-devserver" \
		</dev/null >"$run/out/$phase/console.txt" 2>&1
	rc=$?
	set -e
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
python3 "$here/check.py" --out "$run/out" --state-url "$dev_url/_test/state"
rc=$?
set -e
say "total $(elapsed "$t_start") s (rootfs $rootfs); facts, logs and journals kept in $run/out"
exit $rc
