# NixOS VM test: the home-manager module and the binary against a real dev-mode server and a real
# systemd user manager. One body, two servers: `server = "openbao"` (free, cached) or "vault"
# (vault-bin; the caller passes a pkgs that allows that one unfree package).
#
# Paths covered (numbers match docs/nix.md):
#   (4) boot without any login: linger on, user manager up, timer and path unit active, timer listed
#   (1) first mint with the root token, then the service renews: OK, TTL back to the period
#   (2) OIDC-style clobber: HEALED, file holds token-<name>, the minted copy from (1) revoked,
#       the login token still valid
#   (3) kubernetes-style clobber: service fails, DRIFT, file unchanged, failure hook ran
#   (5) watch.enable: a clobber is healed by the path unit, nobody starts the service
#   (6) linger denied (no polkit): activation warns with the sudo command and still succeeds
{
  self,
  home-manager,
  server,
}:

{ lib, ... }:

let
  address = "http://127.0.0.1:8200";
  displayName = "testvm-alice";
  period = "768h";
  logFile = "/home/alice/.local/state/vault-token-renew.log";
  hookFile = "/home/alice/failure-hook-ran";
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
      imports = [ home-manager.nixosModules.home-manager ];

      virtualisation.memorySize = 1536;

      systemd.services.dev-server = {
        description = "${server} dev server (in-memory, unsealed, root token \"root\")";
        wantedBy = [ "multi-user.target" ];
        after = [ "network.target" ];
        serviceConfig = {
          ExecStart = lib.concatStringsSep " " [
            "${serverPackage}/bin/${cli} server -dev"
            "-dev-root-token-id=root"
            "-dev-listen-address=127.0.0.1:8200"
            "-dev-no-store-token"
          ];
          DynamicUser = true;
          Restart = "on-failure";
        };
      };

      environment.systemPackages = [
        serverPackage
        pkgs.jq
      ];
      environment.variables = {
        VAULT_ADDR = address;
        BAO_ADDR = address;
      };

      # Self-linger through logind needs polkit; keep it off (the NixOS default) so that
      # path (6) sees the denial a minimal host gives.
      security.polkit.enable = false;

      users.users.alice = {
        isNormalUser = true;
        uid = 1000;
        linger = true;
      };
      # The module's linger step should find logind's marker (the NixOS way) rather than race it.
      systemd.services.home-manager-alice = {
        after = [ "linger-users.service" ];
        wants = [ "linger-users.service" ];
      };

      home-manager.useGlobalPkgs = true;
      home-manager.useUserPackages = true;
      home-manager.users.alice = {
        imports = [ self.homeModules.default ];
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
              " | jq -c '.data | {accessor, display_name, policies, identity_policies, ttl, period, orphan}'"
          )
          return json.loads(out)


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
          # No session was ever opened: the manager runs because of linger alone.
          machine.fail("loginctl list-sessions --no-legend | grep -w alice")
          timers = as_alice("systemctl --user list-timers --all --no-pager")
          assert "vault-token-renew.timer" in timers, timers
          assert "vault-token-renew.service" in timers, timers
          # The module's linger step found the marker (linger-users ran first) and did nothing.
          machine.succeed("journalctl -u home-manager-alice.service --no-pager | grep -q 'Activating vaultTokenRenewLinger'")
          machine.fail("journalctl -u home-manager-alice.service --no-pager | grep -q 'sudo loginctl enable-linger'")
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
          machine.sleep(3)
          before = file_token()["ttl"]
          assert before <= PERIOD - 3, before
          status, out = start_service()
          assert status == 0, out
          line = last_log_line()
          assert re.fullmatch(rf"\S+ OK renewed \(dn={OUR_DN} ttl=\d+s\)", line), line
          after = file_token()
          assert after["accessor"] == minted["accessor"], "an OK run must not replace the token"
          assert after["ttl"] >= PERIOD - 1 and after["ttl"] > before, (before, after)
          as_alice(f"systemctl --user show --property=Result {SERVICE} | grep -qx Result=success")
          as_alice("journalctl --user -u vault-token-renew.service --no-pager | grep -q ' OK renewed '")

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

      with subtest("(6) linger denied: activation prints the sudo command and does not fail"):
          machine.succeed("loginctl disable-linger alice")
          machine.wait_until_fails("test -e /var/lib/systemd/linger/alice")
          machine.succeed("systemctl restart home-manager-alice.service")
          machine.wait_for_unit("home-manager-alice.service")
          machine.succeed(
              "journalctl -u home-manager-alice.service --no-pager | grep -q 'sudo loginctl enable-linger alice'"
          )
          machine.fail("test -e /var/lib/systemd/linger/alice")
    '';
}
