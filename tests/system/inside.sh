#!/bin/bash
# Runs inside the booted container, as root, from system-test.service. It acts as the user (alice)
# and her admin would, waits for systemd to react, and records facts under /out/<phase>/ — it
# asserts nothing itself: tests/system/check.py judges the facts on the host, next to OpenBao's
# own view of the tokens. Never writes a token value anywhere.
#
# Phases (one boot each): provision (install, linger, first mint) then check (steps 1-5 of issue 3).
# A second profile, "lab", keeps a second token on a second server (issue 16): installed and minted
# in provision, its timer's run and a heal checked in step 1 and step 2b, removed in step 5.
set -u
# shellcheck source=/dev/null # written by run.sh for each boot
. /etc/system-test/env # PHASE, SERVER_URL (the switchable forwarder in front of OpenBao), STATE_URL,
# LAB_SERVER_URL and LAB_STATE_URL (the lab profile's server and its token view)

OUT=/out/$PHASE
mkdir -p "$OUT"
HOME_A=/home/alice
TOKEN=$HOME_A/.vault-token
LOG=$HOME_A/.local/state/vault-token-renew.log
STAMP=$HOME_A/.local/share/systemd/timers/stamp-vault-token-renew.timer
SERVICE=vault-token-renew.service
DROPIN_DIR=$HOME_A/.config/systemd/user/vault-token-renew.timer.d
# The lab profile: its own token file, log, units and timer stamp.
LAB_TOKEN=$HOME_A/.vault-token-lab
LAB_LOG=$HOME_A/.local/state/vault-token-renew-lab.log
LAB_STAMP=$HOME_A/.local/share/systemd/timers/stamp-vault-token-renew@lab.timer
LAB_SERVICE=vault-token-renew@lab.service
LAB_DROPIN_DIR=$HOME_A/.config/systemd/user/vault-token-renew@lab.timer.d
# shellcheck disable=SC2016 # expanded by the hook's shell, not here
HOOK_CMD='printf "%s|%s\n" "$FAILED_UNIT" "$LAST_LOG_LINE" >> "$HOME/hook.log"'

# As alice with no login session: what `sudo -iu alice` or an SSH command gives.
as_alice() { runuser -u alice -- "$@"; }
uctl() { runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 systemctl --user "$@"; }
now() { date +%s.%N; }
fact() { printf '%s=%s\n' "$2" "$3" >>"$OUT/$1.facts"; }
log_lines() { if [ -f "$LOG" ]; then wc -l <"$LOG"; else echo 0; fi; }
lab_log_lines() { if [ -f "$LAB_LOG" ]; then wc -l <"$LAB_LOG"; else echo 0; fi; }
lab_new_log_lines() { tail -n +"$(($1 + 1))" "$LAB_LOG" 2>/dev/null; }
lab_log_grew() { [ "$(lab_log_lines)" -gt "$1" ]; }
lab_logged_since() { lab_new_log_lines "$1" | grep -q "$2"; }
new_log_lines() { tail -n +"$(($1 + 1))" "$LOG" 2>/dev/null; }
# OpenBao's view of every token at this moment (accessors and metadata, never values; state.py).
snapshot_state() {
	curl -sS -m 10 "$STATE_URL" >"$OUT/$1.state.json"
	curl -sS -m 10 "$LAB_STATE_URL" >"$OUT/$1.lab-state.json"
}
token_hash() { sha256sum "$TOKEN" 2>/dev/null | cut -c1-16; }
unit_prop() { uctl show -p "$2" --value "$1"; }

# wait_for SECONDS COMMAND...: polls every 0.1 s; returns 1 on timeout.
wait_for() {
	local deadline
	deadline=$(($(date +%s) + $1))
	shift
	until "$@"; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.1
	done
}

log_grew() { [ "$(log_lines)" -gt "$1" ]; }
logged_since() { new_log_lines "$1" | grep -q "$2"; }
service_failed() { [ "$(unit_prop $SERVICE ActiveState)" = failed ]; }
# journald files a unit's stderr asynchronously, after the manager's own "Failed" lines at times.
journal_has() { journalctl -b --no-pager -o cat _UID=1000 _SYSTEMD_USER_UNIT=$SERVICE | grep -q "$1"; }
unit_idle() { case "$(unit_prop "$1" ActiveState)" in inactive | failed) return 0 ;; *) return 1 ;; esac; }
service_idle() { unit_idle $SERVICE && unit_idle $LAB_SERVICE; }
# A run can trigger another (the heal's own write is a change the path unit sees): wait for quiet.
settle() {
	wait_for 30 service_idle
	sleep 1.5
	wait_for 30 service_idle
}

# The accessor of a token file's token (default: ours on the first server), from lookup-self; the
# token goes in a header file, never argv.
file_accessor() {
	local file=${1:-$TOKEN} server=${2:-$SERVER_URL} hdr=/run/st-header
	(umask 077 && printf 'X-Vault-Token: %s\n' "$(cat "$file")" >"$hdr")
	curl -sS -m 5 -H @"$hdr" "$server/v1/auth/token/lookup-self" | grep -o '"accessor":"[^"]*"' | head -1 | cut -d'"' -f4
	rm -f "$hdr"
}
lab_accessor() { file_accessor "$LAB_TOKEN" "$LAB_SERVER_URL"; }
lab_hash() { sha256sum "$LAB_TOKEN" 2>/dev/null | cut -c1-16; }

# Logins as alice with the real CLI, which stores the token as `vault login` does (tmp file,
# rename over ~/.vault-token). Userpass stands in for OIDC and kubernetes; seed.py sets these
# passwords.
bao_as_alice() { as_alice env BAO_ADDR="$SERVER_URL" bao "$@"; }
login_to_file() { bao_as_alice login -no-print -method=userpass -path="$1" username="$2" password="$3"; }
# mint with the authority of the admin's login, by environment and never stored, as in
# `VAULT_TOKEN=$(bao login -token-only …) vault-token-renew mint`.
mint_as_admin() {
	local admin
	admin=$(bao_as_alice login -token-only -method=userpass -path=oidc username=alice password=alice-password) || return
	VAULT_TOKEN=$admin as_alice vault-token-renew mint
}
# The same for the lab profile, with the lab server's admin login.
lab_mint_as_admin() {
	local admin
	admin=$(as_alice env BAO_ADDR="$LAB_SERVER_URL" bao login -token-only -method=userpass -path=oidc \
		username=alice password=alice-password) || return
	VAULT_TOKEN=$admin as_alice vault-token-renew --profile lab mint
}
# A login to the lab server into the lab profile's file: the CLI's helper only writes
# ~/.vault-token, so the token goes through a private temp file renamed over it, as the helper does.
lab_login_to_file() {
	# shellcheck disable=SC2016 # expanded by the inner sh, from its arguments
	as_alice sh -c 'umask 077 && BAO_ADDR="$1" bao login -token-only -method=userpass -path=oidc \
		username=alice password=alice-password >"$2.tmp" && mv "$2.tmp" "$2"' sh "$LAB_SERVER_URL" "$LAB_TOKEN"
}

install_lab_cmd() {
	as_alice vault-token-renew --profile lab install --watch --vault-addr "$LAB_SERVER_URL" \
		--token-file "$LAB_TOKEN" --log-file "$LAB_LOG" --retries 1 --timeout 3s --randomized-delay 1s
}

install_cmd() {
	as_alice vault-token-renew install --watch --vault-addr "$SERVER_URL" \
		--policy vault-admin --policy sops-admin --retries 1 --timeout 3s \
		--randomized-delay 1s --on-failure "$HOOK_CMD"
}

provision() {
	wait_for 20 systemctl is-active -q systemd-logind.service
	# Alice installs. Without polkit she may not enable her own linger: install says what to ask.
	install_cmd >"$OUT/install-1.txt" 2>&1
	fact install install_1_rc $?
	if grep -q 'sudo loginctl enable-linger alice' "$OUT/install-1.txt"; then
		loginctl enable-linger alice # the admin runs the command install printed (minus sudo: we are root)
		fact install admin_enabled_linger yes
	fi
	wait_for 20 systemctl is-active -q user@1000.service
	install_cmd >"$OUT/install-2.txt" 2>&1
	fact install install_2_rc $?
	install_cmd >"$OUT/install-3.txt" 2>&1
	fact install install_3_rc $?
	# Test-only drop-in: a calendar timer elapses at a random point within AccuracySec (default
	# 1 min); 1 s keeps step 1 short. Removed again before uninstall (step 5).
	install -d -o alice -g alice "$DROPIN_DIR"
	printf '[Timer]\nAccuracySec=1s\n' >"$DROPIN_DIR/test-accuracy.conf"
	# The second profile, on the second server, beside the first.
	install_lab_cmd >"$OUT/install-lab.txt" 2>&1
	fact install install_lab_rc $?
	install -d -o alice -g alice "$LAB_DROPIN_DIR"
	printf '[Timer]\nAccuracySec=1s\n' >"$LAB_DROPIN_DIR/test-accuracy.conf"
	uctl daemon-reload

	# systemd's verdict on the units as installed (real binary path, real user manager), both
	# profiles' side by side.
	runuser -u alice -- env XDG_RUNTIME_DIR=/run/user/1000 systemd-analyze verify --user --man=no \
		$HOME_A/.config/systemd/user/vault-token-renew*.service $HOME_A/.config/systemd/user/vault-token-renew*.timer \
		$HOME_A/.config/systemd/user/vault-token-renew*.path >"$OUT/verify.stdout" 2>"$OUT/verify.stderr"
	fact install verify_rc $?

	mint_as_admin >"$OUT/mint.txt" 2>&1
	fact install mint_rc $?
	settle # the mint's write is a change the path unit sees
	fact install token_accessor "$(file_accessor)"
	lab_mint_as_admin >"$OUT/mint-lab.txt" 2>&1
	fact install lab_mint_rc $?
	settle
	fact install lab_token_accessor "$(lab_accessor)"

	# The machine "was off" over the schedule: the last trigger is three days old.
	wait_for 10 test -e "$STAMP"
	fact install stamp_existed "$(test -e "$STAMP" && echo yes || echo no)"
	wait_for 10 test -e "$LAB_STAMP"
	fact install lab_stamp_existed "$(test -e "$LAB_STAMP" && echo yes || echo no)"
	touch -d '3 days ago' "$STAMP" "$LAB_STAMP"
	chown alice: "$STAMP" "$LAB_STAMP"
	fact install log_lines "$(log_lines)"
	fact install lab_log_lines "$(lab_log_lines)"
	cp "$LAB_LOG" "$OUT/lab-log.txt" 2>/dev/null
	cp "$LOG" "$OUT/log.txt" 2>/dev/null
	ls -la $HOME_A/.config/systemd/user/ >"$OUT/unit-dir.txt" 2>&1
}

step1_boot() {
	local f=step1 n0
	n0=$(grep -h '^log_lines=' /out/provision/install.facts | cut -d= -f2)
	wait_for 20 systemctl is-active -q user@1000.service
	fact $f user_manager "$(systemctl is-active user@1000.service)"
	fact $f linger "$(loginctl show-user alice -p Linger --value)"
	fact $f sessions "$(loginctl list-sessions --no-legend | wc -l)"
	# Persistent=: the missed run happens now, after the randomized delay (1 s here).
	wait_for 30 log_grew "$n0"
	settle
	fact $f timer_state "$(unit_prop vault-token-renew.timer ActiveState)"
	fact $f timer_next "$(unit_prop vault-token-renew.timer NextElapseUSecRealtime)"
	fact $f timer_last_unix "$(date -d "$(unit_prop vault-token-renew.timer LastTriggerUSec)" +%s)"
	fact $f manager_start_unix "$(date -d "$(systemctl show -p ActiveEnterTimestamp --value user@1000.service)" +%s)"
	fact $f service_result "$(unit_prop $SERVICE Result)"
	fact $f path_state "$(unit_prop vault-token-renew.path ActiveState)"
	uctl list-timers --all --no-pager >"$OUT/$f.list-timers.txt" 2>&1
	new_log_lines "$n0" >"$OUT/$f.log.txt"
	fact $f token_accessor "$(file_accessor)"
	# The lab profile's timer caught up too, on its own server, into its own log.
	local lab_n0
	lab_n0=$(grep -h '^lab_log_lines=' /out/provision/install.facts | cut -d= -f2)
	wait_for 30 lab_log_grew "$lab_n0"
	settle
	fact $f lab_timer_state "$(unit_prop vault-token-renew@lab.timer ActiveState)"
	fact $f lab_timer_last_unix "$(date -d "$(unit_prop vault-token-renew@lab.timer LastTriggerUSec)" +%s)"
	fact $f lab_service_result "$(unit_prop $LAB_SERVICE Result)"
	fact $f lab_path_state "$(unit_prop vault-token-renew@lab.path ActiveState)"
	fact $f lab_token_accessor "$(lab_accessor)"
	lab_new_log_lines "$lab_n0" >"$OUT/$f.lab-log.txt"
	snapshot_state $f
}

step2_oidc_clobber() {
	local f=step2 n0 t0 t1
	n0=$(log_lines)
	t0=$(now)
	login_to_file oidc alice alice-password >"$OUT/$f.login.txt" 2>&1
	fact $f login_rc $?
	wait_for 20 logged_since "$n0" HEALED
	t1=$(now)
	fact $f heal_t0 "$t0"
	fact $f heal_t1 "$t1"
	settle
	new_log_lines "$n0" >"$OUT/$f.log.txt"
	fact $f service_result "$(unit_prop $SERVICE Result)"
	fact $f path_state "$(unit_prop vault-token-renew.path ActiveState)"
	fact $f token_accessor "$(file_accessor)"
	fact $f token_mode "$(stat -c %a "$TOKEN")"
	snapshot_state $f
}

# A heal in the lab profile (its path unit, its server, its file); nothing of the default's moves.
step2b_lab_clobber() {
	local f=step2b n0 lab_n0 before
	n0=$(log_lines)
	lab_n0=$(lab_log_lines)
	before=$(token_hash)
	lab_login_to_file >"$OUT/$f.login.txt" 2>&1
	fact $f login_rc $?
	fact $f login_accessor "$(lab_accessor)"
	wait_for 20 lab_logged_since "$lab_n0" HEALED
	settle
	lab_new_log_lines "$lab_n0" >"$OUT/$f.lab-log.txt"
	fact $f lab_service_result "$(unit_prop $LAB_SERVICE Result)"
	fact $f lab_path_state "$(unit_prop vault-token-renew@lab.path ActiveState)"
	fact $f lab_token_accessor "$(lab_accessor)"
	fact $f lab_token_mode "$(stat -c %a "$LAB_TOKEN")"
	fact $f lab_state_dir "$(test -d $HOME_A/.local/state/vault-token-renew/profiles/lab && echo yes || echo no)"
	fact $f default_file_unchanged "$([ "$(token_hash)" = "$before" ] && echo yes || echo no)"
	fact $f default_log_lines_added "$(($(log_lines) - n0))"
	fact $f default_token_accessor "$(file_accessor)"
	snapshot_state $f
}

step3_kubernetes_clobber() {
	local f=step3 n0 clobbered
	n0=$(log_lines)
	login_to_file kubernetes woodpecker-default woodpecker-password >"$OUT/$f.login.txt" 2>&1
	fact $f login_rc $?
	clobbered=$(token_hash)
	fact $f clobbered_accessor "$(file_accessor)"
	snapshot_state $f
	wait_for 20 service_failed
	wait_for 15 test -s $HOME_A/hook.log
	settle
	fact $f service_state "$(unit_prop $SERVICE ActiveState)"
	fact $f service_result "$(unit_prop $SERVICE Result)"
	fact $f service_status "$(unit_prop $SERVICE ExecMainStatus)"
	fact $f file_unchanged "$([ "$(token_hash)" = "$clobbered" ] && echo yes || echo no)"
	uctl --failed --no-legend --no-pager >"$OUT/$f.failed-units.txt" 2>&1
	wait_for 10 journal_has 'DRIFT: '
	# What `journalctl --user -u` shows alice (as root, --user-unit would match root's own UID).
	journalctl -b --no-pager -o cat _UID=1000 _SYSTEMD_USER_UNIT=$SERVICE >"$OUT/$f.journal.txt" 2>&1
	runuser -u alice -- journalctl --user -u $SERVICE -b --no-pager -o cat >"$OUT/$f.journal-as-alice.txt" 2>&1
	new_log_lines "$n0" >"$OUT/$f.log.txt"
	cp $HOME_A/hook.log "$OUT/$f.hook.log" 2>/dev/null
	fact $f hook_unit_result "$(unit_prop 'vault-token-renew-failure@vault-token-renew.service.service' Result)"

	# Put our token back the way the DRIFT line says (with an admin token), for the next step.
	mint_as_admin >"$OUT/$f.remint.txt" 2>&1
	fact $f remint_rc $?
	settle
	fact $f after_remint_result "$(unit_prop $SERVICE Result)"
}

# Any HTTP answer counts as reachable; "connection refused" (or a timeout) does not.
server_reachable() { curl -s -o /dev/null -m 2 "$SERVER_URL/v1/sys/health"; }
server_unreachable() { ! server_reachable; }

step4_server_down() {
	local f=step4 n0 before
	# Steps 2-3 started the service about five times in ten seconds, systemd's default start limit;
	# a real "next run" comes a day later. Clear the counter so time compression is not what we test.
	uctl reset-failed $SERVICE
	touch /out/ctl/down # the host's forwarder closes its port
	wait_for 10 server_unreachable
	fact $f server_down "$(server_reachable && echo no || echo yes)"
	n0=$(log_lines)
	before=$(token_hash)
	uctl start $SERVICE >/dev/null 2>&1 # the timer's next run
	fact $f down_start_rc $?
	wait_for 10 service_idle
	fact $f down_state "$(unit_prop $SERVICE ActiveState)"
	fact $f down_result "$(unit_prop $SERVICE Result)"
	fact $f down_file_unchanged "$([ "$(token_hash)" = "$before" ] && echo yes || echo no)"
	new_log_lines "$n0" >"$OUT/$f.down.log.txt"

	rm -f /out/ctl/down # the server is back
	wait_for 10 server_reachable
	n0=$(log_lines)
	uctl start $SERVICE >/dev/null 2>&1
	fact $f up_start_rc $?
	fact $f up_state "$(unit_prop $SERVICE ActiveState)"
	fact $f up_result "$(unit_prop $SERVICE Result)"
	fact $f up_file_unchanged "$([ "$(token_hash)" = "$before" ] && echo yes || echo no)"
	new_log_lines "$n0" >"$OUT/$f.up.log.txt"
	uctl --failed --no-legend --no-pager >"$OUT/$f.failed-units.txt" 2>&1
	settle
	cp $HOME_A/hook.log "$OUT/$f.hook.log" 2>/dev/null
}

step5_uninstall() {
	local f=step5 before
	before=$(token_hash)
	rm -rf "$DROPIN_DIR" "$LAB_DROPIN_DIR" # the test's own, not install's
	as_alice vault-token-renew uninstall >"$OUT/$f.uninstall.txt" 2>&1
	fact $f uninstall_rc $?
	# The default's uninstall leaves the lab profile installed and running.
	fact $f lab_unit_files_left "$(find $HOME_A/.config/systemd/user -maxdepth 1 -name 'vault-token-renew@lab.*' | wc -l)"
	fact $f lab_timer_state "$(unit_prop vault-token-renew@lab.timer ActiveState)"
	fact $f hook_template_left "$(test -f $HOME_A/.config/systemd/user/vault-token-renew-failure@.service && echo yes || echo no)"
	fact $f default_unit_files_left "$(find $HOME_A/.config/systemd/user -maxdepth 1 -name 'vault-token-renew.*' | wc -l)"
	as_alice vault-token-renew --profile lab uninstall >"$OUT/$f.uninstall-lab.txt" 2>&1
	fact $f uninstall_lab_rc $?
	fact $f lab_file_kept "$(test -s "$LAB_TOKEN" && echo yes || echo no)"
	fact $f token_accessor "$(file_accessor)"
	uctl list-units --all --no-legend --no-pager 'vault-token-renew*' >"$OUT/$f.loaded-units.txt" 2>&1
	fact $f file_unchanged "$([ "$(token_hash)" = "$before" ] && echo yes || echo no)"
	fact $f config_kept "$(test -f $HOME_A/.config/vault-token-renew/config.toml && echo yes || echo no)"
	fact $f unit_files_left "$(find $HOME_A/.config/systemd/user -name 'vault-token-renew*' | wc -l)"
	fact $f loaded_units "$(uctl list-units --all --no-legend 'vault-token-renew*' | wc -l)"
	uctl list-timers --all --no-pager >"$OUT/$f.list-timers.txt" 2>&1
	fact $f timer_listed "$(grep -c vault-token-renew "$OUT/$f.list-timers.txt")"
	find $HOME_A/.config/systemd/user >"$OUT/$f.unit-dir.txt" 2>&1
}

check() {
	local s
	for s in step1_boot step2_oidc_clobber step2b_lab_clobber step3_kubernetes_clobber step4_server_down step5_uninstall; do
		echo "system-test: $s"
		fact timing "${s}_start" "$(now)"
		$s
		fact timing "${s}_end" "$(now)"
	done
	cp "$LOG" "$OUT/log.txt" 2>/dev/null
}

case "$PHASE" in
provision) provision ;;
check) check ;;
*)
	echo "unknown phase $PHASE" >&2
	exit 2
	;;
esac
