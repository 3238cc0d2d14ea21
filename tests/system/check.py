#!/usr/bin/env python3
"""Judges the facts inside.sh recorded against OpenBao's own view of the tokens (state.py), and
scans everything kept for token values (from the server's raw audit log).

Prints one PASS/FAIL line per assertion, grouped by the steps of issue 3 (and 2b: the second
profile of issue 16, on a second server), and exits 1 if any failed.
usage: check.py --out DIR --state-url URL --lab-state-url URL --audit-log FILE [--audit-log FILE]
"""
import argparse
import json
import pathlib
import sys
import urllib.request

OURS = "token-devvm-alice"  # the default display name <short hostname>-<user>, as the server stores it

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True, type=pathlib.Path)
ap.add_argument("--state-url", required=True)
ap.add_argument("--lab-state-url", required=True)
ap.add_argument("--audit-log", required=True, type=pathlib.Path, action="append")
args = ap.parse_args()
out = args.out


def facts(phase, name):
    path = out / phase / f"{name}.facts"
    result = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            result[key] = value
    return result


def text(phase, name):
    path = out / phase / name
    return path.read_text(errors="replace") if path.exists() else ""


def by_accessor(state):
    return {t["accessor"]: t for t in state.get("tokens", [])}


def snapshot(name, server="state"):
    """OpenBao's view as inside.sh saved it right after a step (server "lab-state": the lab's)."""
    path = out / "check" / f"{name}.{server}.json"
    try:
        return by_accessor(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


failures = []
tokens = {}


def check(step, what, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'}  {step}: {what}" + ("" if ok else f"  [{detail}]"))
    if not ok:
        failures.append(f"{step}: {what}")


def token(accessor):
    return tokens.get(accessor or "", {})


def ours_alive(step, accessor):
    t = token(accessor)
    check(step, "the file holds a live periodic orphan token with our display name",
          bool(t) and t["alive"] and t["display_name"] == OURS and t["period"] > 0 and t["orphan"],
          f"accessor={accessor or '?'} view={ {k: t.get(k) for k in ('alive', 'display_name', 'period', 'orphan')} }")
    check(step, "with the configured policies",
          {"vault-admin", "sops-admin"} <= set(t.get("policies", [])), f"policies={t.get('policies')}")
    meta = t.get("meta") or {}
    check(step, "and this configuration's identity mark in its meta (what the sweep matches)",
          meta.get("minted-by", "").startswith("vault-token-renew/") and meta.get("user") == "alice"
          and all(meta.get(k) for k in ("machine", "config")), f"meta keys={sorted(meta)}")


def alive_ours(view):
    return {a for a, t in view.items() if t.get("alive") and t.get("display_name") == OURS}


def lines(phase, name, word):
    return [l for l in text(phase, name).splitlines() if f" {word}" in l]


# --- provision: install as a user would ------------------------------------------------------------
p = facts("provision", "install")
step = "setup"
if p.get("admin_enabled_linger") == "yes":
    check(step, "install without linger rights printed the exact sudo command",
          "sudo loginctl enable-linger alice" in text("provision", "install-1.txt"))
check(step, "install --watch succeeded once linger was on", p.get("install_2_rc") == "0",
      text("provision", "install-2.txt")[-400:])
i3 = text("provision", "install-3.txt")
check(step, "a second identical install changed nothing (idempotent)",
      p.get("install_3_rc") == "0" and i3.count("unchanged: ") == 5 and "wrote " not in i3, i3[-400:])
check(step, "systemd-analyze verify --user accepts the installed units, no stderr",
      p.get("verify_rc") == "0" and text("provision", "verify.stderr").strip() == "",
      text("provision", "verify.stderr")[-400:])
check(step, "mint with the admin's login token (VAULT_TOKEN) made the first token", p.get("mint_rc") == "0",
      text("provision", "mint.txt")[-300:])
check(step, "the timer's Persistent= stamp existed (then backdated 3 days)", p.get("stamp_existed") == "yes")

# --- 1. boot, nobody logged in ---------------------------------------------------------------------
f = facts("check", "step1")
tokens = snapshot("step1")
step = "1 boot"
check(step, "linger brought the user manager up with no login session",
      f.get("user_manager") == "active" and f.get("linger") == "yes" and f.get("sessions") == "0", str(f))
check(step, "the timer is active with a next elapse",
      f.get("timer_state") == "active" and f.get("timer_next", "") not in ("", "n/a"), str(f))
timers = text("check", "step1.list-timers.txt")
listed = [l for l in timers.splitlines() if "vault-token-renew.timer" in l]
check(step, "list-timers lists it with a NEXT time", bool(listed) and not listed[0].startswith("n/a"), timers[-400:])
try:
    fired_this_boot = float(f["timer_last_unix"]) >= float(f["manager_start_unix"]) - 1
except (KeyError, ValueError):
    fired_this_boot = False
check(step, "the missed run was caught up at boot (Persistent=): timer triggered in this boot",
      fired_this_boot, f"last={f.get('timer_last_unix')} manager_start={f.get('manager_start_unix')}")
check(step, "the service ran and logged OK", bool(lines("check", "step1.log.txt", f"OK renewed (dn={OURS}")) and
      f.get("service_result") == "success", text("check", "step1.log.txt")[-300:])
check(step, "the renewed token is the one minted at setup", f.get("token_accessor") == p.get("token_accessor"))
ours_alive(step, f.get("token_accessor"))
step = "1 boot, lab profile"
check(step, "install --profile lab (its own server, file, log) succeeded and its mint made its first token",
      p.get("install_lab_rc") == "0" and p.get("lab_mint_rc") == "0",
      text("provision", "install-lab.txt")[-300:] + text("provision", "mint-lab.txt")[-300:])
try:
    lab_fired = float(f["lab_timer_last_unix"]) >= float(f["manager_start_unix"]) - 1
except (KeyError, ValueError):
    lab_fired = False
check(step, "vault-token-renew@lab.timer is listed and its missed run was caught up in this boot",
      lab_fired and f.get("lab_timer_state") == "active" and "vault-token-renew@lab.timer" in timers, str(f))
check(step, "its service renewed the lab token into the lab log, with the path unit watching",
      bool(lines("check", "step1.lab-log.txt", f"OK renewed (dn={OURS}")) and f.get("lab_service_result") == "success"
      and f.get("lab_path_state") == "active", text("check", "step1.lab-log.txt")[-300:])
check(step, "the renewed lab token is the one minted at setup",
      f.get("lab_token_accessor") == p.get("lab_token_accessor"), str(f))
tokens = snapshot("step1", "lab-state")
ours_alive(step, f.get("lab_token_accessor"))
tokens = snapshot("step1")
check(step, "neither server holds the other profile's token",
      f.get("lab_token_accessor") not in tokens and f.get("token_accessor") not in snapshot("step1", "lab-state"))

# --- 2. OIDC-style clobber, healed by the path unit ------------------------------------------------
g = facts("check", "step2")
tokens = snapshot("step2")
step = "2 oidc clobber"
healed = lines("check", "step2.log.txt", "HEALED: re-minted periodic token from foreign dn=oidc-alice")
try:
    heal_s = float(g["heal_t1"]) - float(g["heal_t0"])
except (KeyError, ValueError):
    heal_s = float("inf")
check(step, f"healed by the watch unit with nothing started by hand, in {heal_s:.1f} s (<= 10 s)",
      g.get("login_rc") == "0" and bool(healed) and heal_s <= 10, text("check", "step2.log.txt")[-300:])
check(step, "the file holds a new token", g.get("token_accessor") not in ("", None, f.get("token_accessor")))
ours_alive(step, g.get("token_accessor"))
check(step, "the stale copy of ours was revoked", not token(f.get("token_accessor")).get("alive", True))
check(step, "the file kept mode 0600", g.get("token_mode") == "600", g.get("token_mode"))
check(step, "service succeeded, path unit still watching",
      g.get("service_result") == "success" and g.get("path_state") == "active", str(g))

# --- 2b. a heal in the lab profile; nothing of the default's moves ------------------------------------
b = facts("check", "step2b")
step = "2b lab clobber"
tokens = snapshot("step2b", "lab-state")
check(step, "a login to the lab server into the lab file was healed by the lab profile's path unit",
      b.get("login_rc") == "0" and bool(lines("check", "step2b.lab-log.txt", "HEALED: re-minted periodic token from foreign dn=oidc-alice"))
      and b.get("lab_service_result") == "success" and b.get("lab_path_state") == "active",
      text("check", "step2b.lab-log.txt")[-300:])
check(step, "the lab file holds a new token, mode 0600",
      b.get("lab_token_accessor") not in ("", None, f.get("lab_token_accessor")) and b.get("lab_token_mode") == "600", str(b))
ours_alive(step, b.get("lab_token_accessor"))
check(step, "the lab server's stale copy of ours was revoked, the login token left alive",
      not token(f.get("lab_token_accessor")).get("alive", True) and token(b.get("login_accessor")).get("alive", False), str(b))
check(step, "the lab profile keeps its state apart (state dir profiles/lab)", b.get("lab_state_dir") == "yes")
default_view = snapshot("step2b")
check(step, "nothing crossed: the default's file, token and log are as step 2 left them",
      b.get("default_file_unchanged") == "yes" and b.get("default_log_lines_added") == "0"
      and b.get("default_token_accessor") == g.get("token_accessor")
      and alive_ours(default_view) == alive_ours(snapshot("step2")), str(b))

# --- 3. kubernetes-style clobber: DRIFT, failed, hook ----------------------------------------------
h = facts("check", "step3")
tokens = snapshot("step3")
step = "3 k8s clobber"
check(step, "the service ended failed with exit 3",
      h.get("service_state") == "failed" and h.get("service_status") == "3", str(h))
check(step, "systemctl --user --failed lists it", "vault-token-renew.service" in text("check", "step3.failed-units.txt"))
check(step, "DRIFT is in the log file", bool(lines("check", "step3.log.txt", "DRIFT: /home/alice/.vault-token is dn=kubernetes-woodpecker-default")),
      text("check", "step3.log.txt")[-300:])
check(step, "DRIFT is in the journal: alice's `journalctl --user -u vault-token-renew`",
      "DRIFT: " in text("check", "step3.journal-as-alice.txt"), text("check", "step3.journal-as-alice.txt")[-300:])
hook = text("check", "step3.hook.log")
check(step, "the failure hook ran with FAILED_UNIT and LAST_LOG_LINE",
      any(l.startswith("vault-token-renew.service|") and " DRIFT: " in l for l in hook.splitlines())
      and h.get("hook_unit_result") == "success", hook[-300:])
check(step, "the file is unchanged (still the kubernetes login)", h.get("file_unchanged") == "yes")
k = token(h.get("clobbered_accessor"))
check(step, "the weak token was left alone (alive, not ours)",
      bool(k) and k["alive"] and k["display_name"] == "kubernetes-woodpecker-default", str(k)[:200])
check(step, "re-mint by hand restored ours", h.get("remint_rc") == "0" and h.get("after_remint_result") == "success", str(h))

# --- 4. server unreachable, then back --------------------------------------------------------------
d = facts("check", "step4")
step = "4 server down"
check(step, "the server was unreachable (connection refused)", d.get("server_down") == "yes")
check(step, "the run failed and logged FAIL",
      d.get("down_start_rc") not in ("0", None) and d.get("down_state") == "failed" and d.get("down_result") == "exit-code"
      and bool(lines("check", "step4.down.log.txt", "FAIL")), str(d) + text("check", "step4.down.log.txt")[-300:])
check(step, "the file is unchanged while down", d.get("down_file_unchanged") == "yes")
check(step, "the failure hook reported the FAIL",
      any(l.startswith("vault-token-renew.service|") and " FAIL" in l for l in text("check", "step4.hook.log").splitlines()))
check(step, "the next run after the server came back recovered: OK, not failed",
      d.get("up_start_rc") == "0" and d.get("up_result") == "success"
      and bool(lines("check", "step4.up.log.txt", f"OK renewed (dn={OURS}"))
      and "vault-token-renew.service" not in text("check", "step4.failed-units.txt"), str(d))
check(step, "the file is unchanged after recovery", d.get("up_file_unchanged") == "yes")

# --- 5. uninstall ----------------------------------------------------------------------------------
u = facts("check", "step5")
try:
    with urllib.request.urlopen(args.state_url, timeout=10) as r:
        tokens = by_accessor(json.load(r))  # after step 5: the host's own look
except (OSError, ValueError) as e:
    tokens = {}
    print(f"the token view at {args.state_url} failed: {e}")
step = "5 uninstall"
check(step, "uninstall succeeded", u.get("uninstall_rc") == "0", text("check", "step5.uninstall.txt")[-300:])
check(step, "uninstalling the default left the lab profile's units, timer and the shared failure hook",
      u.get("default_unit_files_left") == "0" and u.get("lab_unit_files_left") == "3"
      and u.get("lab_timer_state") == "active" and u.get("hook_template_left") == "yes", str(u))
check(step, "uninstall --profile lab succeeded and kept the lab token file",
      u.get("uninstall_lab_rc") == "0" and u.get("lab_file_kept") == "yes", text("check", "step5.uninstall-lab.txt")[-300:])
check(step, "no unit file left, no timer listed, nothing loaded",
      u.get("unit_files_left") == "0" and u.get("timer_listed") == "0" and u.get("loaded_units") == "0", str(u))
check(step, "the token file is untouched", u.get("file_unchanged") == "yes")
ours_alive(step, u.get("token_accessor"))
check(step, "the config file is kept", u.get("config_kept") == "yes")
try:
    with urllib.request.urlopen(args.lab_state_url, timeout=10) as r:
        tokens = by_accessor(json.load(r))
except (OSError, ValueError) as e:
    tokens = {}
    print(f"the token view at {args.lab_state_url} failed: {e}")
ours_alive(step + ", lab profile", b.get("lab_token_accessor"))

# --- no token value anywhere in what the run kept -------------------------------------------------
def client_tokens(node):
    """Every client_token in an audit entry (raw: the audit device logs values unhashed)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "client_token" and isinstance(value, str) and value:
                yield value
            else:
                yield from client_tokens(value)
    elif isinstance(node, list):
        for value in node:
            yield from client_tokens(value)


values = set()
for audit_log in args.audit_log:
    try:
        for entry in audit_log.read_text().splitlines():
            values.update(client_tokens(json.loads(entry)))
    except (OSError, ValueError) as e:
        check("leaks", f"the server's audit log {audit_log.name} is readable", False, str(e))
leaked = []
for path in sorted(p for p in out.rglob("*") if p.is_file()):
    data = path.read_bytes()
    if any(v.encode() in data for v in values):
        leaked.append(str(path.relative_to(out)))
check("leaks", f"no token value (of {len(values)} the server issued or was sent) in any console, log, journal or fact",
      len(values) >= 5 and not leaked, f"found in {leaked}" if leaked else f"only {len(values)} token values known")

timing = facts("check", "timing")
spans = []
for s in ("step1_boot", "step2_oidc_clobber", "step2b_lab_clobber", "step3_kubernetes_clobber", "step4_server_down",
          "step5_uninstall"):
    try:
        spans.append(f"{s.split('_')[0]} {float(timing[s + '_end']) - float(timing[s + '_start']):.1f}s")
    except (KeyError, ValueError):
        pass
print("step times inside the container: " + ", ".join(spans))
if failures:
    print(f"system-test: {len(failures)} assertion(s) failed", file=sys.stderr)
    sys.exit(1)
print("system-test: all assertions passed")
