# home-manager module: services.vault-token-renew.
# Keeps the person's own periodic Vault/OpenBao token in tokenFile alive from a daily user timer.
# The unit files come from units/units.json (shared with `vault-token-renew install`); this module
# only substitutes the placeholders, adds what is module-specific, and writes the binary's config
# file so a manual `vault-token-renew status` sees the same settings as the timer.
#
# No meta.maintainers: its type (nixpkgs modules/generic/meta-maintainers.nix, which
# home-manager's modules/modules.nix imports through nixos/modules/misc/meta.nix) checks every
# entry with `lib.elem m (lib.attrValues lib.maintainers)`, and this out-of-tree module has no
# entry there; a record made up here fails that check wherever the option is evaluated. Set it
# when the module moves into home-manager.
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.vault-token-renew;
  inherit (lib) mkOption types;
  tomlFormat = pkgs.formats.toml { };

  configPath = "${config.xdg.configHome}/vault-token-renew/config.toml";
  bin = lib.getExe' cfg.package "vault-token-renew";

  escape = import ./systemd-escape.nix { inherit lib; };

  # Appended to every command of ours: the config file this module wrote (so the timer never
  # depends on the user manager's XDG_CONFIG_HOME), then the user's extra arguments.
  execSuffix = lib.concatMapStrings (arg: " " + escape.execArg arg) (
    [
      "--config"
      configPath
    ]
    ++ cfg.extraArgs
  );
  extendExec =
    command: if lib.hasPrefix "${bin} " command || command == bin then command + execSuffix else command;

  units = import ./units.nix { inherit lib; } {
    unitsFile = ../units/units.json;
    inherit bin;
    inherit (cfg)
      schedule
      randomizedDelay
      persistent
      tokenFile
      ;
  };

  ourUnits = units // {
    services = lib.mapAttrs (_: withOurExec) (units.services or { });
  };

  # Every value from units.json at mkDefault priority: a plain
  # `systemd.user.services.vault-token-renew.Service.X = …` in the user's config replaces it.
  asDefaults = lib.mapAttrs (
    _unit: lib.mapAttrs (_section: lib.mapAttrs (_key: value: lib.mkDefault value))
  );

  # ExecStart may be a string or (repeated keys) a list in units.json.
  withOurExec =
    unit:
    unit
    // lib.optionalAttrs (unit ? Service.ExecStart) {
      Service = unit.Service // {
        ExecStart =
          if lib.isList unit.Service.ExecStart then
            map extendExec unit.Service.ExecStart
          else
            extendExec unit.Service.ExecStart;
      };
    };

  environment =
    lib.optionalAttrs (cfg.vaultAddress != null) { VAULT_ADDR = cfg.vaultAddress; } // cfg.environment;

  # Config-file keys exactly as the binary reads them; unset options are left out so the binary's
  # own defaults (and its environment variables) apply. They reach the file through `settings`
  # (RFC 42), at mkDefault priority, so a key set there directly wins.
  settings = lib.filterAttrs (_: v: v != null) {
    vault_addr = cfg.vaultAddress;
    token_file = cfg.tokenFile;
    display_name = cfg.displayName;
    policies = if cfg.policies == [ ] then null else cfg.policies;
    require_policies = cfg.requiredPolicies;
    token_role = cfg.tokenRole;
    period = cfg.period;
    log_file = cfg.logFile;
    state_dir = cfg.stateDir;
    ca_cert = cfg.tls.caCert;
    ca_path = cfg.tls.caPath;
    client_cert = cfg.tls.clientCert;
    client_key = cfg.tls.clientKey;
    tls_server_name = cfg.tls.serverName;
    tls_skip_verify = if cfg.tls.skipVerify then true else null;
    namespace = cfg.namespace;
    timeout = cfg.timeout;
    retries = cfg.retries;
    sweep_concurrency = cfg.sweepConcurrency;
    on_failure = cfg.onFailure;
    metrics_file = cfg.metricsFile;
  };

  user = config.home.username;

  nullOrStr =
    description: example:
    mkOption {
      type = types.nullOr types.str;
      default = null;
      inherit description example;
    };

  # A path the binary opens at run time. types.externalPath (nixpkgs lib/types.nix, commit
  # 90511124 "lib/types: add externalPath", in 26.05) takes only a string that is absolute and
  # outside the store: a Nix path value would copy a key file into the world-readable store.
  nullOrPath =
    description: example:
    mkOption {
      type = types.nullOr types.externalPath;
      default = null;
      description = description + " An absolute path outside the Nix store, as a string: the file is never copied to the store.";
      inherit example;
    };
in
{
  options.services.vault-token-renew = {
    enable = lib.mkEnableOption "the daily renewal (and heal-or-refuse drift guard) of your own periodic Vault/OpenBao token";

    package = lib.mkPackageOption pkgs "vault-token-renew" {
      extraDescription = "The flake's `homeModules.default` sets this to the flake's own package.";
    };

    vaultAddress = nullOrStr "Server address (config key `vault_addr`; also set as `VAULT_ADDR` in the service). Required unless `environment` sets `VAULT_ADDR` or `BAO_ADDR`." "https://vault.example.com:8200";

    displayName = nullOrStr "Display name the minted token gets (the server stores it as `token-<name>`). `null`: the binary's default `<short hostname>-<user>`." "devvm-alice";

    policies = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "vault-admin"
        "sops-admin"
      ];
      description = ''
        Policies the periodic token is minted with (config key `policies`). Must not be empty:
        without them the binary refuses to heal or mint, since a login token usually holds its power
        through identity policies, which a minted token does not inherit.
      '';
    };

    requiredPolicies = mkOption {
      type = types.nullOr (types.listOf types.str);
      default = null;
      example = [ "vault-admin" ];
      description = "Policies a token must carry to count as ours (config key `require_policies`). `null`: the same as `policies`.";
    };

    tokenRole = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "devvm";
      description = "Token role to mint through (`auth/token/create/<role>`, config key `token_role`), tried before create-orphan; the role needs `orphan=true` and a `token_period`. `null`: create-orphan, else create.";
    };

    period = nullOrStr "Period of the minted token, e.g. `768h` or `32d`. `null`: the binary's default `768h`." "768h";

    tokenFile = mkOption {
      type = types.externalPath;
      default = "${config.home.homeDirectory}/.vault-token";
      defaultText = lib.literalExpression ''"''${config.home.homeDirectory}/.vault-token"'';
      description = "Token file to keep alive, an absolute path; it is also where `vault login` and `bao login` write.";
    };

    logFile = nullOrPath "Log file with one line per run. `null`: the binary's default `$XDG_STATE_HOME/vault-token-renew.log`." "/home/alice/.local/state/vault-token-renew.log";

    stateDir = nullOrPath "Directory for the lock and the record of minted accessors. `null`: the binary's default `$XDG_STATE_HOME/vault-token-renew`." "/home/alice/.local/state/vault-token-renew";

    tls = {
      caCert = nullOrPath "PEM CA certificate to verify the server with (config key `ca_cert`)." "/etc/ssl/vault-ca.pem";
      caPath = nullOrPath "Directory of PEM CA certificates (config key `ca_path`)." "/etc/ssl/vault-cas";
      clientCert = nullOrPath "PEM client certificate for TLS client authentication (config key `client_cert`)." "/home/alice/.config/vault/client.pem";
      clientKey = nullOrPath "PEM client key for TLS client authentication (config key `client_key`)." "/home/alice/.config/vault/client-key.pem";
      serverName = nullOrStr "Name to verify the server certificate against (config key `tls_server_name`)." "vault.internal";
      skipVerify = mkOption {
        type = types.bool;
        default = false;
        description = "Do not verify the server certificate (config key `tls_skip_verify`). Insecure; for test servers only.";
      };
    };

    namespace = nullOrStr "Vault Enterprise / OpenBao namespace (config key `namespace`)." "team-a";

    timeout = nullOrStr "Timeout of one request, e.g. `10s`. `null`: the binary's default." "10s";

    retries = mkOption {
      type = types.nullOr types.ints.unsigned;
      default = null;
      example = 3;
      description = "Retries of a transient failure (connection error, 429, 5xx). `null`: the binary's default (3).";
    };

    sweepConcurrency = mkOption {
      type = types.nullOr types.ints.positive;
      default = null;
      example = 8;
      description = "Accessor look-ups in flight at once during a sweep. `null`: the binary's default (8).";
    };

    schedule = mkOption {
      type = types.str;
      default = "daily";
      example = "*-*-* 09:00:00";
      description = "When the timer runs, as a systemd calendar event (`OnCalendar=`, see systemd.time(7)).";
    };

    randomizedDelay = mkOption {
      type = types.str;
      default = "5m";
      example = "1h";
      description = "Random delay added to each run (`RandomizedDelaySec=`), so many machines do not renew at once.";
    };

    persistent = mkOption {
      type = types.bool;
      default = true;
      description = "Catch up on a run missed while the machine was off (`Persistent=`).";
    };

    # PathChanged= fires on a rename into place (how the CLIs write the file) and on in-place
    # writes (measured with systemd 252); the service's own atomic swap may trigger one extra,
    # harmless OK run.
    watch.enable = lib.mkEnableOption "a path unit (`PathChanged=` on `tokenFile`) that also runs the service whenever the token file is replaced, so a `vault login` that clobbers it is healed within seconds instead of at the next timer run";

    linger = mkOption {
      type = types.bool;
      default = false;
      example = true;
      description = ''
        Enable lingering for this user at activation (`loginctl enable-linger`), so the user
        manager, and with it the timer, runs without a login session. Off by default: it changes
        system-wide logind state, and `home-manager switch` never turns it off again. When it is
        denied (no polkit), activation prints the `sudo loginctl enable-linger <user>` to run
        instead of failing. On NixOS use `users.users.<name>.linger = true` instead.
      '';
    };

    extraArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "-v" ];
      description = "Extra arguments appended to the service's and the failure hook's command lines (escaped for systemd).";
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        VAULT_TOKEN_RENEW_TIMEOUT = "30s";
        HTTPS_PROXY = "http://proxy.internal:3128";
      };
      description = "Environment variables of the service (`Environment=`). They override the config file, as the binary gives the environment precedence.";
    };

    metricsFile = mkOption {
      type = types.nullOr types.externalPath;
      default = null;
      example = "/var/lib/prometheus-node-exporter/textfile/vault-token-renew.prom";
      description = "Write Prometheus textfile metrics (node_exporter's textfile collector format) here after every run (config key `metrics_file`); null writes none.";
    };

    settings = mkOption {
      inherit (tomlFormat) type;
      default = { };
      example = {
        timeout = "30s";
        sweep_concurrency = 4;
      };
      description = ''
        The binary's config file (`~/.config/vault-token-renew/config.toml`) as Nix values,
        keys as the binary reads them (see vault-token-renew(1)). The named options above write
        their keys here at default priority, so a key set here wins. The binary rejects unknown
        keys, so a typo fails the next run with a message naming the key.
      '';
    };

    onFailure = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = ''notify-send "vault-token-renew: $FAILED_UNIT failed"'';
      description = "Shell command the failure hook (`vault-token-renew-failure@.service`) runs when the service fails; `FAILED_UNIT` names the failed unit (config key `on_failure`).";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          (lib.hm.assertions.assertPlatform "services.vault-token-renew" pkgs lib.platforms.linux)
          {
            # Through settings, which holds the named options' values and any key set there.
            assertion = (cfg.settings.policies or [ ]) != [ ];
            message = ''
              services.vault-token-renew.policies is empty: the binary then refuses to heal (every login
              would end in DRIFT) and `vault-token-renew mint` fails, because a login's power usually sits in
              identity policies, which a minted token does not inherit. Set the policies your periodic
              token must carry, e.g. services.vault-token-renew.policies = [ "vault-admin" ];
            '';
          }
          {
            assertion =
              cfg.settings ? vault_addr || cfg.environment ? VAULT_ADDR || cfg.environment ? BAO_ADDR;
            message = ''
              services.vault-token-renew.vaultAddress is not set, so the service would not know the server.
              Set it, e.g. services.vault-token-renew.vaultAddress = "https://vault.example.com:8200";
            '';
          }
          {
            assertion = (cfg.settings.require_policies or null) != [ ];
            message = ''
              services.vault-token-renew.requiredPolicies is the empty list, so any token with our display
              name would count as ours. Set it to null (= policies) or list the policies ours must carry.
            '';
          }
        ];

        # On PATH for `vault-token-renew status`, `mint` and friends, with the same config file.
        home.packages = [ cfg.package ];

        services.vault-token-renew.settings = lib.mapAttrs (_: lib.mkDefault) settings;

        xdg.configFile."vault-token-renew/config.toml".source =
          tomlFormat.generate "vault-token-renew-config.toml" cfg.settings;

        systemd.user = lib.mkMerge [
          (lib.mapAttrs (_: asDefaults) (builtins.removeAttrs ourUnits [ "paths" ]))
          (lib.mkIf cfg.watch.enable { paths = asDefaults (ourUnits.paths or { }); })
          {
            services.vault-token-renew = {
              # A switch must never run a renew as a side effect; the timer (and the path unit) own that.
              Unit.X-SwitchMethod = "keep-old";
              Service.Environment = lib.mapAttrsToList escape.environment environment;
            };
          }
        ];
      }

      (lib.mkIf cfg.linger {
        # Enabling linger starts the user manager at once, so the unit files must already be
        # linked: after linkGeneration (home-manager modules/files.nix), the entry that links
        # them. Before reloadSystemd, which also runs after linkGeneration (modules/systemd.nix)
        # and starts the new units only if the manager is already running.
        home.activation.vaultTokenRenewLinger =
          lib.hm.dag.entryBetween [ "reloadSystemd" ] [ "linkGeneration" ]
            (
              import ./linger-activation.nix {
                inherit lib user;
                fallbackLoginctl = "${pkgs.systemd}/bin/loginctl";
              }
            );
      })
    ]
  );
}
