# NixOS VM test: the home-manager module and the binary against a real dev-mode server and a real
# systemd user manager. One body, two servers: `server = "openbao"` (free, cached) or "vault"
# (vault-bin; the caller passes a pkgs that allows that one unfree package).
#
# Paths covered (numbers match docs/nix.md):
#   (4) boot without any login: linger on (the NixOS way), the module's linger step off by
#       default, user manager up, timer and path unit active, timer listed, no login session
#   (1) first mint with the root token, then the service renews: OK, the token renewed
#   (7) the timer itself fires: a missed run (Persistent=) is caught up and renews
#   (2) OIDC-style clobber: HEALED, file holds token-<name>, the minted copy from (1) revoked,
#       the login token still valid
#   (3) kubernetes-style clobber: service fails, DRIFT, file unchanged, failure hook ran
#   (5) watch.enable: a clobber is healed by the path unit, nobody starts the service
#   (8) linger = true (user bob): the activation step enables lingering through polkit, and
#       bob's user manager and timer come up without a login
#   (6) linger denied (polkit gone): activation warns with the sudo command and still succeeds
#   (9) two servers, two profiles: profiles.lab (a second dev server, its own token file) runs
#       from vault-token-renew@lab.*; a heal in each profile, and nothing crosses
{
  self,
  server,
}:

{ lib, ... }:

let
  address = "http://127.0.0.1:8200";
  displayName = "testvm-alice";
  period = "768h";
  logFile = "/home/alice/.local/state/vault-token-renew.log";
  hookFile = "/home/alice/failure-hook-ran";
  # Path (9): the second server and the profile that keeps a token on it.
  labAddress = "http://127.0.0.1:8300";
  labDisplayName = "testvm-alice-lab";
  labTokenFile = "/home/alice/.vault-token-lab";
  labLogFile = "/home/alice/.local/state/vault-token-renew-lab.log";
in
{
  name = "vault-token-renew-${server}";

  nodes.machine =
    { pkgs, ... }:
    let
      serverPackage = if server == "vault" then pkgs.vault-bin else pkgs.openbao;
      cli = if server == "vault" then "vault" else "bao";
    in
    {
      # The flake's NixOS module: home-manager's NixOS module plus ours as a shared module.
      imports = [ self.nixosModules.default ];

      virtualisation.memorySize = 1536;

      # Two servers, for the two profiles of path (9).
      systemd.services = lib.genAttrs [ "dev-server" "dev-server-lab" ] (unit: {
        description = "${server} dev server ${unit} (in-memory, unsealed, root token \"root\")";
        wantedBy = [ "multi-user.target" ];
        after = [ "network.target" ];
        serviceConfig = {
          ExecStart = lib.concatStringsSep " " [
            "${serverPackage}/bin/${cli} server -dev"
            "-dev-root-token-id=root"
            "-dev-listen-address=127.0.0.1:${if unit == "dev-server" then "8200" else "8300"}"
            "-dev-no-store-token"
          ];
          DynamicUser = true;
          Restart = "on-failure";
        };
      });

      environment.systemPackages = [
        serverPackage
        pkgs.jq
      ];
      environment.variables = {
        VAULT_ADDR = address;
        BAO_ADDR = address;
      };

      # Self-linger (bob, path (8)) is a polkit question: logind asks for
      # org.freedesktop.login1.set-self-linger, which systemd's policy allows for anyone
      # (systemd src/login/logind-dbus.c method_set_user_linger, org.freedesktop.login1.policy).
      # Path (6) takes polkit away again to see the denial a minimal host gives.
      security.polkit.enable = true;

      # alice lingers the NixOS way, and her module leaves linger at its default (off).
      # No ordering against linger-users.service is needed: nothing of hers runs loginctl.
      users.users.alice = {
        isNormalUser = true;
        uid = 1000;
        linger = true;
      };
      # bob asks the module for linger instead (NixOS does not manage his).
      users.users.bob = {
        isNormalUser = true;
        uid = 1001;
      };

      home-manager.useGlobalPkgs = true;
      home-manager.useUserPackages = true;
      home-manager.users.alice = {
        home.stateVersion = "26.05";
        services.vault-token-renew = {
          enable = true;
          vaultAddress = address;
          inherit displayName period logFile;
          policies = [
            "vault-admin"
            "sops-admin"
          ];
          watch.enable = true;
          onFailure = "printf '%s\\n' \"$FAILED_UNIT\" > ${hookFile}";
          # Path (7) waits for a caught-up run: keep the random delay short.
          randomizedDelay = "1s";
          # Path (9): a token on the second server, in a file of its own, logged apart so the
          # other paths' "last log line" stays the default profile's.
          profiles.lab = {
            vaultAddress = labAddress;
            displayName = labDisplayName;
            tokenFile = labTokenFile;
            logFile = labLogFile;
            policies = [ "lab-admin" ];
          };
        };
        # A calendar timer elapses anywhere within AccuracySec= (default 1 min,
        # systemd.timer(5)); a key units.json does not set is simply added.
        systemd.user.timers.vault-token-renew.Timer.AccuracySec = "1s";
      };
      home-manager.users.bob = {
        home.stateVersion = "26.05";
        services.vault-token-renew = {
          enable = true;
          vaultAddress = address;
          policies = [ "vault-admin" ];
          linger = true;
        };
      };
    };

  testScript =
    { nodes, ... }:
    let
      cli = if server == "vault" then "vault" else "bao";
      tokenFile = nodes.machine.home-manager.users.alice.services.vault-token-renew.tokenFile;
    in
    ''
      import json
      import re
      import shlex

      CLI = "${cli}"
      TOKEN_FILE = "${tokenFile}"
      LOG = "${logFile}"
      PERIOD = 768 * 3600
      OUR_DN = "token-${displayName}"
      SERVICE = "vault-token-renew.service"
      LAB = "${labAddress}"
      LAB_TOKEN_FILE = "${labTokenFile}"
      LAB_LOG = "${labLogFile}"
      LAB_DN = "token-${labDisplayName}"
      LAB_SERVICE = "vault-token-renew@lab.service"
      # Explicit, rather than trusting that every shell read /etc/profile.
      SERVER = "export VAULT_ADDR=${address} BAO_ADDR=${address}; "
      ROOT = SERVER + "export VAULT_TOKEN=root BAO_TOKEN=root; "


      def as_root(cmd):
          """A command with the server's root token (seeding and accessor look-ups)."""
          return machine.succeed(ROOT + cmd)


      # (machine.systemctl does not check the exit status; these helpers do.)
      def alice_cmd(cmd):
          inner = SERVER + "export XDG_RUNTIME_DIR=/run/user/1000; " + cmd
          return f"su -l alice --shell /bin/sh -c {shlex.quote(inner)}"


      def as_alice(cmd):
          return machine.succeed(alice_cmd(cmd))


      def file_token():
          """lookup-self of the token in the file (the default policy allows it); non-secret fields only."""
          out = as_alice(
              f"{CLI} token lookup -format=json"
              " | jq -c '.data | {accessor, display_name, policies, identity_policies, ttl, period,"
              " orphan, creation_time, last_renewal_time}'"
          )
          return json.loads(out)


      def renewed_since(before, after):
          """The server renewed the token between two lookups. last_renewal_time appears only once a
          renewal happened (token_store.go handleLookup, Vault and OpenBao), in whole seconds; a TTL
          comparison would depend on how many seconds the VM took between the calls."""
          last = after.get("last_renewal_time")
          return last is not None and last >= (before.get("last_renewal_time") or before["creation_time"])


      def login_sessions(user):
          """The user's logind sessions, except the user manager's own: since systemd 256 pam_systemd
          registers user@.service's PAM session with class "manager" (src/login/pam_systemd.c,
          session_context_mangle), which list-sessions shows even when nobody logged in."""
          found = []
          for row in machine.succeed("loginctl list-sessions --no-legend").splitlines():
              cells = row.split()
              if len(cells) >= 3 and cells[2] == user:
                  cls = machine.succeed(f"loginctl show-session {cells[0]} --property=Class --value").strip()
                  if not cls.startswith("manager"):
                      found.append((cells[0], cls))
          return found


      def on_lab(cmd):
          """cmd against the second server (its address overrides SERVER's)."""
          return f"export VAULT_ADDR={LAB} BAO_ADDR={LAB}; " + cmd


      def display_names(root_env):
          """Display names of every live token on a server (root's view, accessors only)."""
          accessors = json.loads(machine.succeed(
              root_env + f"{CLI} list -format=json auth/token/accessors"
          ))
          return [
              machine.succeed(
                  root_env + f"{CLI} token lookup -format=json -accessor {a} | jq -r .data.display_name"
              ).strip()
              for a in accessors
          ]


      def accessor_alive(accessor):
          return machine.execute(
              ROOT + f"{CLI} token lookup -accessor {accessor} >/dev/null 2>&1"
          )[0] == 0


      def log_lines():
          return as_alice(f"cat {LOG}").splitlines()


      def last_log_line():
          lines = log_lines()
          assert lines, f"{LOG} is empty"
          return lines[-1]


      def file_digest():
          return as_alice(f"sha256sum {TOKEN_FILE}").split()[0]


      def start_service():
          """Start the oneshot and return (exit status, output) without asserting."""
          return machine.execute(alice_cmd(f"systemctl --user start {SERVICE}"))


      def login(mount):
          """What `vault login` does: the CLI writes TOKEN_FILE by temp file + rename."""
          as_alice(f"{CLI} login -no-print -method=userpass -path={mount} username=alice password=pw")


      start_all()

      with subtest("(4) boot without any login: linger, user manager, timer, path unit"):
          machine.wait_for_unit("multi-user.target")
          machine.wait_for_file("/var/lib/systemd/linger/alice")
          machine.wait_for_unit("home-manager-alice.service")
          machine.wait_for_unit("user@1000.service")
          machine.wait_for_unit("vault-token-renew.timer", "alice")
          machine.wait_for_unit("vault-token-renew.path", "alice")
          machine.succeed("loginctl show-user alice --property=Linger | grep -qx Linger=yes")
          # No login session was ever opened: the manager runs because of linger alone.
          assert login_sessions("alice") == [], login_sessions("alice")
          timers = as_alice("systemctl --user list-timers --all --no-pager")
          assert "vault-token-renew.timer" in timers, timers
          assert "vault-token-renew.service" in timers, timers
          # linger is off by default: the module added no activation step and ran no loginctl.
          machine.succeed("journalctl -u home-manager-alice.service --no-pager | grep -q 'Activating reloadSystemd'")
          machine.fail("journalctl -u home-manager-alice.service --no-pager | grep -q 'vaultTokenRenewLinger'")
          # Paths (1)-(3) start the service by hand; the path unit would race them.
          as_alice("systemctl --user stop vault-token-renew.path")

      with subtest("seed the server: policies, an OIDC-like and a kubernetes-like userpass mount, identity"):
          machine.wait_for_unit("dev-server.service")
          machine.wait_for_open_port(8200)
          machine.wait_until_succeeds(SERVER + f"{CLI} status")
          as_root(f"""{CLI} policy write vault-admin - <<'EOF'
      path "auth/token/*" {{ capabilities = ["create", "read", "update", "delete", "list", "sudo"] }}
      path "sys/capabilities-self" {{ capabilities = ["update"] }}
      path "secret/*" {{ capabilities = ["read", "list"] }}
      EOF""")
          as_root(f"""{CLI} policy write sops-admin - <<'EOF'
      path "transit/decrypt/sops" {{ capabilities = ["update"] }}
      EOF""")
          as_root(f"""{CLI} policy write k8s-readonly - <<'EOF'
      path "secret/data/ci/*" {{ capabilities = ["read"] }}
      EOF""")
          as_root(f"{CLI} auth enable -path=oidc userpass")
          as_root(f"{CLI} auth enable -path=kubernetes userpass")
          as_root(f"{CLI} write auth/oidc/users/alice password=pw token_policies=default token_ttl=168h")
          as_root(f"{CLI} write auth/kubernetes/users/alice password=pw token_policies=k8s-readonly")
          oidc_accessor = as_root(f"{CLI} auth list -format=json | jq -r '.\"oidc/\".accessor'").strip()
          entity = as_root(f"{CLI} write -format=json identity/entity name=alice | jq -r .data.id").strip()
          as_root(f"{CLI} write identity/entity-alias name=alice canonical_id={entity} mount_accessor={oidc_accessor}")
          as_root(f"{CLI} write identity/group name=admins policies=vault-admin,sops-admin member_entity_ids={entity}")

      with subtest("(1) first mint with the root token, then the service renews: OK"):
          as_alice("VAULT_TOKEN=root BAO_TOKEN=root vault-token-renew mint")
          minted = file_token()
          assert minted["display_name"] == OUR_DN, minted
          assert minted["orphan"] is True, minted
          assert minted["period"] == PERIOD, minted
          assert {"sops-admin", "vault-admin"} <= set(minted["policies"]), minted
          assert minted.get("last_renewal_time") is None, minted
          status, out = start_service()
          assert status == 0, out
          line = last_log_line()
          assert re.fullmatch(rf"\S+ OK renewed \(dn={OUR_DN} ttl=\d+s\)", line), line
          after = file_token()
          assert after["accessor"] == minted["accessor"], "an OK run must not replace the token"
          assert renewed_since(minted, after), (minted, after)
          assert 0 < after["ttl"] <= PERIOD, after
          as_alice(f"systemctl --user show --property=Result {SERVICE} | grep -qx Result=success")
          as_alice("journalctl --user -u vault-token-renew.service --no-pager | grep -q ' OK renewed '")

      with subtest("(7) the timer fires: a run missed while the machine was off is caught up"):
          # As tests/system does: with Persistent=, timer_start reads the stamp's mtime as the
          # last trigger (systemd src/core/timer.c); three days old means "daily" was missed,
          # so the restarted timer elapses at once (after RandomizedDelaySec=, 1 s here).
          stamp = "/home/alice/.local/share/systemd/timers/stamp-vault-token-renew.timer"
          machine.wait_for_file(stamp)  # created when the timer first started
          ok_runs = sum(" OK renewed " in entry for entry in log_lines())
          before = file_token()
          as_alice(f"touch -d '3 days ago' {stamp}")
          as_alice("systemctl --user restart vault-token-renew.timer")
          machine.wait_until_succeeds(f"test $(grep -c ' OK renewed ' {LOG}) -gt {ok_runs}", timeout=300)
          # The run was the timer's: it rewrote the stamp (nobody else does) and recorded a trigger.
          as_alice(f"test $(( $(date +%s) - $(stat -c %Y {stamp}) )) -lt 86400")
          last_trigger = as_alice(
              "systemctl --user show --property=LastTriggerUSec --value vault-token-renew.timer"
          ).strip()
          assert last_trigger not in ("", "n/a", "0"), last_trigger
          after = file_token()
          assert after["accessor"] == before["accessor"], "the timer's OK run must keep the token"
          assert renewed_since(before, after), (before, after)
          # The path unit is still stopped (since (4)): nothing but the timer started the service.
          machine.fail(alice_cmd("systemctl --user is-active --quiet vault-token-renew.path"))

      with subtest("(2) OIDC-style clobber is healed: HEALED"):
          login("oidc")
          oidc = file_token()
          assert oidc["display_name"] == "oidc-alice", oidc
          assert oidc["policies"] == ["default"], oidc
          assert "vault-admin" in (oidc.get("identity_policies") or []), oidc
          status, out = start_service()
          assert status == 0, out
          line = last_log_line()
          assert re.fullmatch(
              r"\S+ HEALED: re-minted periodic token from foreign dn=oidc-alice \(revoked 1 stale periodic token\(s\)\).*",
              line,
          ), line
          healed = file_token()
          assert healed["display_name"] == OUR_DN, healed
          assert healed["accessor"] not in (minted["accessor"], oidc["accessor"]), healed
          assert healed["period"] == PERIOD and healed["orphan"] is True, healed
          assert {"sops-admin", "vault-admin"} <= set(healed["policies"]), healed
          assert not accessor_alive(minted["accessor"]), "the stale copy from (1) must be revoked"
          assert accessor_alive(oidc["accessor"]), "the person's login token must stay valid"
          as_alice(f"test $(stat -c %a {TOKEN_FILE}) = 600")

      with subtest("(3) kubernetes-style clobber is refused: DRIFT, service failed, file unchanged"):
          login("kubernetes")
          kube = file_token()
          assert kube["display_name"] == "kubernetes-alice", kube
          digest = file_digest()
          status, out = start_service()
          assert status != 0, "the service must fail on a weak foreign token"
          as_alice(f"systemctl --user is-failed {SERVICE}")
          line = last_log_line()
          assert re.fullmatch(rf"\S+ DRIFT: {re.escape(TOKEN_FILE)} is dn=kubernetes-alice .*", line), line
          assert file_digest() == digest, "DRIFT must leave the file alone"
          assert file_token()["accessor"] == kube["accessor"]
          assert accessor_alive(healed["accessor"]), "a DRIFT run must not revoke our token"
          assert accessor_alive(kube["accessor"]), "a DRIFT run must not revoke the foreign token"
          # OnFailure= ran the failure template unit, which ran the configured hook.
          machine.wait_until_succeeds(f"grep -qx {SERVICE} ${hookFile}")

      with subtest("(5) watch.enable: a login is healed by the path unit alone"):
          as_alice(f"systemctl --user reset-failed {SERVICE}")
          as_alice("systemctl --user start vault-token-renew.path")
          healed_before = sum(" HEALED: " in entry for entry in log_lines())
          login("oidc")
          machine.wait_until_succeeds(
              f"test $(grep -c ' HEALED: ' {LOG}) -gt {healed_before}", timeout=60
          )
          healed_line = [entry for entry in log_lines() if " HEALED: " in entry][-1]
          assert "from foreign dn=oidc-alice" in healed_line, healed_line
          assert file_token()["display_name"] == OUR_DN
          # The heal's own swap may trigger one more run (systemd versions differ), which must find
          # our token (OK); after that the path unit must stay quiet, not loop.
          machine.sleep(10)
          settled = log_lines()
          assert " HEALED: " in settled[-1] or " OK renewed " in settled[-1], settled[-1]
          machine.sleep(10)
          assert len(log_lines()) == len(settled), "the path unit must not loop on our own swap"
          machine.wait_for_unit("vault-token-renew.path", "alice")

      with subtest("(9) two servers, two profiles: a heal in each, nothing crosses"):
          LAB_ROOT = on_lab("export VAULT_TOKEN=root BAO_TOKEN=root; ")
          machine.wait_for_unit("dev-server-lab.service")
          machine.wait_for_open_port(8300)
          machine.wait_until_succeeds(on_lab(f"{CLI} status"))
          machine.succeed(LAB_ROOT + f"""{CLI} policy write lab-admin - <<'EOF'
      path "auth/token/*" {{ capabilities = ["create", "read", "update", "delete", "list", "sudo"] }}
      path "sys/capabilities-self" {{ capabilities = ["update"] }}
      EOF""")
          machine.succeed(LAB_ROOT + f"{CLI} auth enable -path=oidc userpass")
          machine.succeed(LAB_ROOT + f"{CLI} write auth/oidc/users/alice password=pw token_policies=default,lab-admin")
          # The lab profile's units are there beside the default's, the timer running.
          machine.wait_for_unit("vault-token-renew@lab.timer", "alice")
          timers = as_alice("systemctl --user list-timers --all --no-pager")
          assert "vault-token-renew@lab.timer" in timers and "vault-token-renew.timer" in timers, timers
          as_alice("systemctl --user stop vault-token-renew.path")  # (5)'s; this path logs in by hand

          # A login to the lab server, written to the lab profile's file (the CLI's helper only
          # writes ~/.vault-token), is healed by the lab profile's service.
          default_before = file_token()
          default_digest = file_digest()
          default_lines = len(log_lines())
          as_alice(on_lab(
              f"umask 077; {CLI} login -token-only -no-store -method=userpass -path=oidc"
              f" username=alice password=pw > {LAB_TOKEN_FILE}"
          ))
          lab_login = json.loads(as_alice(on_lab(
              f"VAULT_TOKEN=$(cat {LAB_TOKEN_FILE}) BAO_TOKEN=$(cat {LAB_TOKEN_FILE})"
              f" {CLI} token lookup -format=json | jq -c '.data | {{accessor, display_name}}'"
          )))
          assert lab_login["display_name"] == "oidc-alice", lab_login
          status, out = machine.execute(alice_cmd(f"systemctl --user start {LAB_SERVICE}"))
          assert status == 0, out
          lab_line = as_alice(f"tail -n 1 {LAB_LOG}")
          assert " HEALED: " in lab_line and "dn=oidc-alice" in lab_line, lab_line
          lab_token = json.loads(as_alice(on_lab(
              f"VAULT_TOKEN=$(cat {LAB_TOKEN_FILE}) BAO_TOKEN=$(cat {LAB_TOKEN_FILE})"
              f" {CLI} token lookup -format=json | jq -c '.data | {{accessor, display_name, policies, orphan}}'"
          )))
          assert lab_token["display_name"] == LAB_DN and lab_token["orphan"] is True, lab_token
          assert "lab-admin" in lab_token["policies"], lab_token
          as_alice(f"test $(stat -c %a {LAB_TOKEN_FILE}) = 600")
          # Nothing crossed: the default profile's file, token, log and server are as they were.
          assert file_digest() == default_digest, "the lab heal must not touch the default token file"
          assert accessor_alive(default_before["accessor"]), "the lab heal must not revoke the default token"
          assert len(log_lines()) == default_lines, "the lab run must not log into the default profile's log"
          assert LAB_DN not in display_names(ROOT), "nothing of the lab profile's on the first server"
          assert OUR_DN not in display_names(LAB_ROOT), "nothing of the default profile's on the lab server"
          as_alice("test -d /home/alice/.local/state/vault-token-renew/profiles/lab")

          # And a heal in the default profile leaves the lab profile's token and file alone.
          lab_digest = as_alice(f"sha256sum {LAB_TOKEN_FILE}").split()[0]
          login("oidc")
          status, out = start_service()
          assert status == 0, out
          assert " HEALED: " in last_log_line(), last_log_line()
          assert file_token()["display_name"] == OUR_DN
          assert as_alice(f"sha256sum {LAB_TOKEN_FILE}").split()[0] == lab_digest
          lab_alive = machine.execute(
              LAB_ROOT + f"{CLI} token lookup -accessor {lab_token['accessor']} >/dev/null 2>&1"
          )[0] == 0
          assert lab_alive, "the default heal's sweep must not revoke the lab profile's token"
          assert as_alice(f"tail -n 1 {LAB_LOG}") == lab_line, "the default run must not log into lab's log"

      with subtest("(8) linger = true: the activation step enables lingering for bob"):
          machine.wait_for_unit("home-manager-bob.service")
          machine.wait_for_file("/var/lib/systemd/linger/bob")
          machine.succeed("loginctl show-user bob --property=Linger | grep -qx Linger=yes")
          machine.succeed("journalctl -u home-manager-bob.service --no-pager | grep -q 'Activating vaultTokenRenewLinger'")
          machine.fail("journalctl -u home-manager-bob.service --no-pager | grep -q 'sudo loginctl enable-linger'")
          machine.wait_for_unit("user@1001.service")
          machine.wait_for_unit("vault-token-renew.timer", "bob")
          assert login_sessions("bob") == [], login_sessions("bob")

      with subtest("(6) linger denied: activation prints the sudo command and does not fail"):
          machine.succeed("loginctl disable-linger bob")
          machine.wait_until_fails("test -e /var/lib/systemd/linger/bob")
          # No polkit: logind's question cannot be answered, so an unprivileged caller is refused
          # (systemd src/shared/bus-polkit.c), as on a minimal host.
          machine.succeed("systemctl mask --runtime polkit.service")
          machine.succeed("systemctl stop polkit.service")
          machine.succeed("systemctl restart home-manager-bob.service")
          machine.wait_for_unit("home-manager-bob.service")
          machine.succeed(
              "journalctl -u home-manager-bob.service --no-pager | grep -q 'sudo loginctl enable-linger bob'"
          )
          machine.fail("test -e /var/lib/systemd/linger/bob")
    '';
}
