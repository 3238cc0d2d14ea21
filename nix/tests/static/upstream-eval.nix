# Evaluates nix/module.nix with the real nixpkgs `lib` module system and home-manager's real
# modules/systemd.nix (its option types and its unit renderer), for machines whose Nix cannot
# evaluate nixpkgs itself. Only `pkgs` is faked (below): the few functions those two modules call.
# Not run by scripts/check-nix, because CI here has no copy of nixpkgs' lib or home-manager.
#
#   nix-instantiate --eval --strict --json nix/tests/static/upstream-eval.nix \
#     --arg nixpkgsLib /path/to/nixpkgs/lib --arg homeManager /path/to/home-manager
#
# The result lists what does not hold; [] means the unit files equal nix/tests/golden and the
# expectations below are met.
{
  nixpkgsLib,
  homeManager,
}:

let
  lib = import (homeManager + "/modules/lib/stdlib-extended.nix") (import nixpkgsLib);
  inherit (lib) mkOption types;

  inputs = lib.importJSON ../golden/inputs.json;
  binPlaceholder = "/nix/store/00000000000000000000000000000000-vault-token-renew";
  marker = "@@unit-text@@";
  textOf = source: builtins.elemAt (lib.splitString marker source) 1;

  fakePkgs = {
    stdenv = {
      isLinux = true;
      hostPlatform = {
        system = "x86_64-linux";
        isLinux = true;
      };
    };
    systemd = "/nix/store/00000000000000000000000000000000-systemd";
    sd-switch = {
      type = "derivation";
      name = "sd-switch";
      meta.mainProgram = "sd-switch";
      outPath = "/nix/store/00000000000000000000000000000000-sd-switch";
    };
    emptyDirectory = "/nix/store/00000000000000000000000000000000-empty";
    writeTextFile =
      {
        name,
        text,
        destination ? "",
      }:
      # home-manager appends "/<unit file name>" to the result and keeps only the string, so the
      # text travels inside it, between markers (this path never reaches the disk).
      {
        outPath = "/fake-text-file/${name}${marker}${text}${marker}${destination}";
      };
    formats = {
      ini = _: {
        type = types.attrsOf (types.attrsOf types.anything);
        generate = name: _: "/nix/store/00000000000000000000000000000000-${name}";
      };
      toml = _: {
        type = types.attrsOf types.anything;
        generate = name: value: {
          outPath = "/nix/store/00000000000000000000000000000000-${name}";
          inherit value;
        };
      };
    };
    symlinkJoin = _: "/nix/store/00000000000000000000000000000000-symlink-join";
  };

  # The options of home-manager's other modules that these two modules set or read.
  stubs = {
    options = {
      meta = mkOption { type = types.lazyAttrsOf types.raw; };
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      home = {
        username = mkOption { type = types.str; };
        homeDirectory = mkOption { type = types.str; };
        stateVersion = mkOption { type = types.str; };
        packages = mkOption {
          type = types.listOf types.raw;
          default = [ ];
        };
        activation = mkOption {
          type = lib.hm.types.dagOf types.str;
          default = { };
        };
      };
      xdg = {
        configHome = mkOption {
          type = types.str;
          default = "/home/alice/.config";
        };
        configFile = mkOption {
          type = types.attrsOf (types.submodule { options.source = mkOption { type = types.raw; }; });
          default = { };
        };
        dataFile = mkOption {
          type = types.attrsOf types.raw;
          default = { };
        };
      };
    };
  };

  evaluate =
    extra:
    (lib.evalModules {
      specialArgs.pkgs = fakePkgs;
      modules = [
        stubs
        (homeManager + "/modules/systemd.nix")
        ../../module.nix
        inputs.home_manager_module
        {
          services.vault-token-renew.package = {
            type = "derivation";
            name = "vault-token-renew";
            outPath = binPlaceholder;
            meta.mainProgram = "vault-token-renew";
          };
        }
        extra
      ];
    }).config;

  withWatch = evaluate { };
  files = withWatch.xdg.configFile;
  unitText =
    name:
    lib.replaceStrings [ "${binPlaceholder}/bin/vault-token-renew" ] [ inputs.placeholders.bin ] (
      textOf files."systemd/user/${name}".source
    );

  failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) withWatch.assertions);
  failedWith = extra: map (a: a.message) (lib.filter (a: !a.assertion) (evaluate extra).assertions);

  # The default profile's units and each named profile's.
  allUnits = inputs.units ++ lib.concatMap (p: p.units) (lib.attrValues (inputs.profiles or { }));

  checks =
    map (name: {
      what = "${name} equals nix/tests/golden/${name}";
      ok = unitText name == builtins.readFile (../golden + "/${name}");
      got = unitText name;
    }) allUnits
    ++ [
      {
        what = "no assertion fails for the golden configuration";
        ok = failedAssertions == [ ];
        got = failedAssertions;
      }
      {
        what = "config.toml holds inputs.json's config_toml";
        ok = files."vault-token-renew/config.toml".source.value == inputs.config_toml;
        got = files."vault-token-renew/config.toml".source.value;
      }
      {
        what = "timer and path unit are linked into their targets";
        ok =
          files ? "systemd/user/timers.target.wants/vault-token-renew.timer"
          && files ? "systemd/user/paths.target.wants/vault-token-renew.path";
        got = lib.attrNames files;
      }
      {
        what = "a named profile's timer and path unit are linked into their targets";
        ok =
          files ? "systemd/user/timers.target.wants/vault-token-renew@lab.timer"
          && files ? "systemd/user/paths.target.wants/vault-token-renew@lab.path";
        got = lib.attrNames files;
      }
      {
        what = "a named profile writes no template of its own: the failure hook is the default's";
        ok = !(files ? "systemd/user/vault-token-renew-failure@@lab.service");
        got = lib.attrNames files;
      }
      {
        what = "two profiles on one token file are refused, naming both and how to fix it";
        ok =
          let
            messages = failedWith {
              services.vault-token-renew.profiles.lab.tokenFile = lib.mkForce "/home/alice/.vault-token";
            };
          in
          lib.length messages == 1
          && lib.hasInfix "services.vault-token-renew.tokenFile" (lib.head messages)
          && lib.hasInfix "profiles.lab.tokenFile" (lib.head messages)
          && lib.hasInfix " = " (lib.head messages);
        got = failedWith {
          services.vault-token-renew.profiles.lab.tokenFile = lib.mkForce "/home/alice/.vault-token";
        };
      }
      {
        what = "a profile without tokenFile, and a bad profile name, are refused with how to fix it";
        ok =
          let
            missing = failedWith { services.vault-token-renew.profiles.work.vaultAddress = "https://w"; };
            badName = failedWith {
              services.vault-token-renew.profiles."Work Prod".tokenFile = "/home/alice/.t";
            };
          in
          lib.length missing == 1
          && lib.hasInfix "profiles.work.tokenFile" (lib.head missing)
          && lib.length badName == 1
          && lib.hasInfix "\"Work Prod\"" (lib.head badName);
        got = [
          (failedWith { services.vault-token-renew.profiles.work.vaultAddress = "https://w"; })
          (failedWith { services.vault-token-renew.profiles."Work Prod".tokenFile = "/home/alice/.t"; })
        ];
      }
      {
        what = "no path unit without watch.enable";
        ok = !((evaluate { services.vault-token-renew.watch.enable = lib.mkForce false; }).xdg.configFile ? "systemd/user/vault-token-renew.path");
        got = null;
      }
      {
        what = "the package is on PATH";
        ok = map (p: p.outPath) withWatch.home.packages == [ binPlaceholder ];
        got = map (p: p.outPath) withWatch.home.packages;
      }
      {
        what = "empty policies and no address are refused with a message that says how to fix it";
        ok =
          let
            messages = map (a: a.message) (
              lib.filter (a: !a.assertion)
                (evaluate {
                  services.vault-token-renew.policies = lib.mkForce [ ];
                  services.vault-token-renew.vaultAddress = lib.mkForce null;
                }).assertions
            );
          in
          lib.length messages == 2
          && lib.all (m: lib.hasInfix "services.vault-token-renew." m && lib.hasInfix " = " m) messages;
        got = null;
      }
      {
        what = "linger is off by default: no activation step";
        ok = !(withWatch.home.activation ? vaultTokenRenewLinger);
        got = lib.attrNames withWatch.home.activation;
      }
      {
        what = "linger = true adds the activation step after linkGeneration, before reloadSystemd";
        ok =
          let
            step = (evaluate { services.vault-token-renew.linger = true; }).home.activation.vaultTokenRenewLinger;
          in
          step.after == [ "linkGeneration" ] && step.before == [ "reloadSystemd" ];
        got = null;
      }
      {
        what = "an address and policies given only through settings satisfy the assertions";
        ok =
          lib.all (a: a.assertion)
            (evaluate {
              services.vault-token-renew.vaultAddress = lib.mkForce null;
              services.vault-token-renew.policies = lib.mkForce [ ];
              services.vault-token-renew.settings = {
                vault_addr = "https://vault.example.com:8200";
                policies = [ "vault-admin" ];
              };
            }).assertions;
        got = null;
      }
      {
        what = "a key in settings wins over the named option's; a new key is added";
        ok =
          (evaluate {
            services.vault-token-renew.settings = {
              retries = 5;
              timeout = "30s";
            };
          }).xdg.configFile."vault-token-renew/config.toml".source.value == inputs.config_toml // {
            retries = 5;
            timeout = "30s";
          };
        got = null;
      }
      {
        what = "paths inside the Nix store or relative ones are refused (types.externalPath)";
        ok =
          let
            refused =
              value:
              !(builtins.tryEval (evaluate { services.vault-token-renew.tls.clientKey = value; })
                .services.vault-token-renew.tls.clientKey
              ).success;
          in
          refused "/nix/store/00000000000000000000000000000000-key.pem"
          && refused "key.pem"
          && !refused "/home/alice/.config/vault/client-key.pem";
        got = null;
      }
      {
        what = "a user's own value for a units.json key replaces it; new keys are added";
        ok =
          let
            text =
              (evaluate {
                systemd.user.services.vault-token-renew.Unit.Description = "mine";
                systemd.user.services.vault-token-renew.Service.ProtectSystem = "strict";
              }).xdg.configFile."systemd/user/vault-token-renew.service".source;
          in
          lib.hasInfix "Description=mine\n" (textOf text) && lib.hasInfix "ProtectSystem=strict\n" (textOf text);
        got = null;
      }
    ];
in
map (c: { inherit (c) what got; }) (lib.filter (c: !c.ok) checks)
