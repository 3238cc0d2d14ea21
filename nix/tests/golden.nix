# Golden test of the home-manager module: evaluate it with home-manager's own
# homeManagerConfiguration, then compare the unit files home-manager generates (and the config
# file the module writes) with the hand-written files in ./golden. The inputs live in
# ./golden/inputs.json so the Rust renderer of units.json is tested against the same text.
{
  pkgs,
  home-manager,
  homeModule,
}:

let
  inherit (pkgs) lib;
  inputs = lib.importJSON ./golden/inputs.json;

  # Stands in for the real package: the unit text only needs a store path, and building the crate
  # is the other checks' job. Its path is replaced by inputs.placeholders.bin before comparing.
  stub = pkgs.writeShellScriptBin "vault-token-renew" "exit 0";

  evaluate =
    extra:
    home-manager.lib.homeManagerConfiguration {
      inherit pkgs;
      modules = [
        homeModule
        inputs.home_manager_module
        { services.vault-token-renew.package = stub; }
        extra
      ];
    };

  withWatch = evaluate { };
  withoutWatch = evaluate { services.vault-token-renew.watch.enable = lib.mkForce false; };

  files = withWatch.config.xdg.configFile;
  # The default profile's units and each named profile's (inputs.profiles).
  allUnits = inputs.units ++ lib.concatMap (p: p.units) (lib.attrValues (inputs.profiles or { }));
  unitFile = name: files."systemd/user/${name}".source;

  # Structural expectations that need no file comparison, checked at evaluation time.
  expectations = [
    {
      ok = files ? "systemd/user/timers.target.wants/vault-token-renew.timer";
      what = "the timer is linked into timers.target.wants (Install.WantedBy)";
    }
    {
      ok = files ? "systemd/user/timers.target.wants/vault-token-renew@lab.timer";
      what = "a named profile's timer is linked into timers.target.wants";
    }
    {
      ok = files ? "systemd/user/paths.target.wants/vault-token-renew.path";
      what = "with watch.enable the path unit is linked into paths.target.wants";
    }
    {
      ok = !(withoutWatch.config.xdg.configFile ? "systemd/user/vault-token-renew.path");
      what = "without watch.enable there is no path unit";
    }
    {
      ok = withoutWatch.config.xdg.configFile ? "systemd/user/vault-token-renew.timer";
      what = "without watch.enable the timer is still there";
    }
    {
      ok = !(withWatch.config.home.activation ? vaultTokenRenewLinger);
      what = "by default (linger off) there is no activation step";
    }
    {
      ok = (evaluate { services.vault-token-renew.linger = lib.mkForce true; }).config.home.activation ? vaultTokenRenewLinger;
      what = "linger = true adds the activation step";
    }
  ];
  failed = lib.filter (e: !e.ok) expectations;
in
assert lib.assertMsg (failed == [ ])
  "golden: unmet: ${lib.concatMapStringsSep "; " (e: e.what) failed}";
pkgs.runCommand "vault-token-renew-golden-units"
  {
    nativeBuildInputs = [
      pkgs.diffutils
      pkgs.python3
    ];
    expectedConfig = builtins.toJSON inputs.config_toml;
    passAsFile = [ "expectedConfig" ];
  }
  ''
    status=0
    ${lib.concatMapStrings (name: ''
      sed 's|${stub}/bin/vault-token-renew|${inputs.placeholders.bin}|g' ${unitFile name} > actual
      if ! diff -u ${./golden + "/${name}"} actual; then
        echo "golden: ${name} differs from nix/tests/golden/${name} (diff above: - golden, + module)" >&2
        status=1
      fi
    '') allUnits}

    # The config file: compared as data, since the TOML writer's layout is not ours to pin.
    python3 - ${files."vault-token-renew/config.toml".source} "$expectedConfigPath" <<'EOF'
    import json, sys, tomllib
    with open(sys.argv[1], "rb") as f:
        actual = tomllib.load(f)
    with open(sys.argv[2]) as f:
        expected = json.load(f)
    if actual != expected:
        sys.exit(f"golden: config.toml is {actual!r}, inputs.json config_toml expects {expected!r}")
    EOF

    [ "$status" = 0 ] && touch "$out"
    exit "$status"
  ''
