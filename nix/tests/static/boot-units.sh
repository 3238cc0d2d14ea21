#!/usr/bin/env bash
# Boots a real systemd (Debian, systemd-nspawn) with a lingering user whose home holds the
# golden unit files (nix/tests/golden), linked the way home-manager links them, and a stand-in
# for the binary that records its arguments and exits as told. Checks, without any login:
# the timer and the path unit come up and the timer is listed; a successful run; a failing run
# leaves the service failed and starts the failure template with the service's name; a rename
# into the token file (what `vault login` does) starts the service through the path unit.
# It exercises the unit files only, not the binary or Nix: the VM test (nix/tests/vm.nix) does that.
#
# Needs root, systemd-nspawn (systemd-container) and mmdebstrap; about a minute.
# Usage (from the repository root): nix/tests/static/boot-units.sh
set -euo pipefail

golden=nix/tests/golden
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
out=$work/out
mkdir -p "$out"

bin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["placeholders"]["bin"])' "$golden/inputs.json")
token_file=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["placeholders"]["token_file"])' "$golden/inputs.json")
[[ $token_file == /home/alice/* ]] || { echo "boot-units: expected the golden token file under /home/alice" >&2; exit 2; }

echo "boot-units: building a minimal Debian root" >&2
mmdebstrap --quiet --variant=minbase --include=systemd,systemd-sysv,dbus,libpam-systemd \
  bookworm "$root" > /dev/null
chroot "$root" systemctl mask --quiet apt-daily.timer apt-daily-upgrade.timer
chroot "$root" useradd --create-home --uid 1000 alice
mkdir -p "$root/var/lib/systemd/linger"
touch "$root/var/lib/systemd/linger/alice"

# The binary's stand-in: records its arguments, exits with the code in ~/stub-exit.
mkdir -p "$root$(dirname "$bin")"
cat > "$root$bin" << 'EOF'
#!/bin/sh
echo "$*" >> /home/alice/stub-calls
exit "$(cat /home/alice/stub-exit 2> /dev/null || echo 0)"
EOF
chmod +x "$root$bin"

units=$root/home/alice/.config/systemd/user
mkdir -p "$units"
mapfile -t names < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["units"]))' "$golden/inputs.json")
for name in "${names[@]}"; do
  cp "$golden/$name" "$units/$name"
  # Install.WantedBy, as home-manager does it: a link in <target>.wants/.
  while read -r target; do
    mkdir -p "$units/$target.wants"
    ln -s "../$name" "$units/$target.wants/$name"
  done < <(sed -n 's/^WantedBy=//p' "$units/$name")
done
echo first > "$root$token_file"
chroot "$root" chown -R alice:alice /home/alice

cat > "$root/usr/local/bin/boot-units-probe" << EOF
#!/bin/bash
# Runs inside the container, as a system service after alice's user manager is up.
exec > /out/probe.log 2>&1
as() { runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 "\$@"; }
for _ in \$(seq 100); do as systemctl --user is-system-running --wait > /dev/null 2>&1 && break; sleep 0.2; done
as systemctl --user is-active vault-token-renew.timer > /out/timer-active
as systemctl --user is-active vault-token-renew.path > /out/path-active
as systemctl --user list-timers --all --no-pager > /out/list-timers
loginctl list-sessions --no-legend > /out/sessions
as systemctl --user stop vault-token-renew.path

echo 0 > /home/alice/stub-exit
as systemctl --user start vault-token-renew.service; echo \$? > /out/ok-start
as systemctl --user show --property=Result vault-token-renew.service > /out/ok-result

echo 3 > /home/alice/stub-exit
as systemctl --user start vault-token-renew.service; echo \$? > /out/fail-start
as systemctl --user is-failed vault-token-renew.service > /out/fail-state
for _ in \$(seq 50); do grep -q '^on-failure ' /home/alice/stub-calls && break; sleep 0.2; done

echo 0 > /home/alice/stub-exit
as systemctl --user reset-failed vault-token-renew.service
as systemctl --user start vault-token-renew.path
wc -l < /home/alice/stub-calls > /out/calls-before-rename
as sh -c 'echo second > $token_file.tmp && mv $token_file.tmp $token_file'
for _ in \$(seq 50); do [ "\$(wc -l < /home/alice/stub-calls)" -gt "\$(cat /out/calls-before-rename)" ] && break; sleep 0.2; done
sleep 2
cp /home/alice/stub-calls /out/stub-calls
systemctl exit 0
EOF
chmod +x "$root/usr/local/bin/boot-units-probe"
cat > "$root/etc/systemd/system/boot-units-probe.service" << 'EOF'
[Unit]
Wants=user@1000.service
After=user@1000.service
[Service]
Type=oneshot
ExecStart=/usr/local/bin/boot-units-probe
[Install]
WantedBy=multi-user.target
EOF
chroot "$root" systemctl enable --quiet boot-units-probe.service

echo "boot-units: booting" >&2
timeout 180 systemd-nspawn --quiet --boot --directory="$root" --register=no --keep-unit \
  --console=pipe --bind="$out:/out" < /dev/null > "$work/console.log" 2>&1 || {
  echo "boot-units: the container did not finish cleanly; its console:" >&2
  tail -n 40 "$work/console.log" >&2
  exit 1
}

failures=0
expect() { # expect DESCRIPTION COMMAND...
  local what=$1
  shift
  if ! "$@"; then
    echo "boot-units: FAILED: $what" >&2
    failures=$((failures + 1))
  fi
}
has_line() { grep -qxF -- "$2" "$out/$1" 2> /dev/null; }
has_text() { grep -qF -- "$2" "$out/$1" 2> /dev/null; }

suffix=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["exec_suffix"])' "$golden/inputs.json")
expect "timer active after boot without login" has_line timer-active active
expect "path unit active after boot without login" has_line path-active active
expect "timer listed with its service" has_text list-timers "vault-token-renew.timer vault-token-renew.service"
expect "no session was opened" test ! -s "$out/sessions"
expect "a successful run starts cleanly" has_line ok-start 0
expect "a successful run ends with Result=success" has_line ok-result Result=success
expect "a failing run fails the start" test "$(cat "$out/fail-start" 2> /dev/null)" != 0
expect "a failing run leaves the service failed" has_line fail-state failed
expect "the service runs 'renew' with the module's arguments" has_line stub-calls "renew$suffix"
expect "the failure template runs 'on-failure vault-token-renew.service'" \
  has_line stub-calls "on-failure vault-token-renew.service$suffix"
expect "a rename into the token file starts the service" \
  test "$(wc -l < "$out/stub-calls" 2> /dev/null || echo 0)" -gt "$(cat "$out/calls-before-rename" 2> /dev/null || echo 0)"

if ((failures)); then
  echo "boot-units: $failures check(s) failed; the probe's log:" >&2
  cat "$out/probe.log" >&2 || true
  exit 1
fi
echo "boot-units: the golden units behave under a real systemd user manager" >&2
