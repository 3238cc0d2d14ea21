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
  execSuffix =
    extraArgs:
    lib.concatMapStrings (arg: " " + escape.execArg arg) (
      [
        "--config"
        configPath
      ]
      ++ extraArgs
    );
  extendExec =
    extraArgs: command:
    if lib.hasPrefix "${bin} " command || command == bin then
      command + execSuffix extraArgs
    else
      command;

  # The units of one profile: "default" (the top-level options, today's unit names) or a named
  # one (vault-token-renew@<name>.*, see nix/units.nix). A named profile's output leaves out the
  # templates: the failure hook is shared, and the default profile writes it.
  ourUnits =
    name: p:
    let
      units = import ./units.nix { inherit lib; } {
        unitsFile = ../units/units.json;
        inherit bin;
        inherit (p) schedule randomizedDelay persistent;
        # null only in a profile the tokenFile assertion below rejects.
        tokenFile = toString p.tokenFile;
        profile = name;
      };
      own = lib.mapAttrs (
        _kind: lib.filterAttrs (unit: _: name == "default" || !lib.hasSuffix "@" unit)
      ) units;
    in
    own
    // {
      services = lib.mapAttrs (_: withOurExec p.extraArgs) (own.services or { });
    };

  # Every value from units.json at mkDefault priority: a plain
  # `systemd.user.services.vault-token-renew.Service.X = …` in the user's config replaces it.
  asDefaults = lib.mapAttrs (
    _unit: lib.mapAttrs (_section: lib.mapAttrs (_key: value: lib.mkDefault value))
  );

  # ExecStart may be a string or (repeated keys) a list in units.json.
  withOurExec =
    extraArgs: unit:
    unit
    // lib.optionalAttrs (unit ? Service.ExecStart) {
      Service = unit.Service // {
        ExecStart =
          if lib.isList unit.Service.ExecStart then
            map (extendExec extraArgs) unit.Service.ExecStart
          else
            extendExec extraArgs unit.Service.ExecStart;
      };
    };

  environmentOf =
    p: lib.optionalAttrs (p.vaultAddress != null) { VAULT_ADDR = p.vaultAddress; } // p.environment;

  # systemd.user for one profile: its units, the path unit only with watch.enable, and what the
  # module adds to the service.
  systemdUnits =
    name: p:
    let
      units = ourUnits name p;
      service = if name == "default" then "vault-token-renew" else "vault-token-renew@${name}";
    in
    lib.mkMerge [
      (lib.mapAttrs (_: asDefaults) (builtins.removeAttrs units [ "paths" ]))
      (lib.mkIf p.watch.enable { paths = asDefaults (units.paths or { }); })
      {
        services.${service} = {
          # A switch must never run a renew as a side effect; the timer (and the path unit) own that.
          Unit.X-SwitchMethod = "keep-old";
          Service.Environment = lib.mapAttrsToList escape.environment (environmentOf p);
        };
      }
    ];

  # Config-file keys exactly as the binary reads them, for the top level or a profile's table;
  # unset options are left out so the binary's own defaults (and its environment variables, and
  # for a profile the top level's keys) apply. They reach the file through `settings` (RFC 42),
  # at mkDefault priority, so a key set there directly wins.
  settingsOf =
    p:
    lib.filterAttrs (_: v: v != null) {
      vault_addr = p.vaultAddress;
      token_file = p.tokenFile;
      display_name = p.displayName;
      policies = if p.policies == [ ] then null else p.policies;
      require_policies = p.requiredPolicies;
      token_role = p.tokenRole;
      period = p.period;
      log_file = p.logFile;
      state_dir = p.stateDir;
      ca_cert = p.tls.caCert;
      ca_path = p.tls.caPath;
      client_cert = p.tls.clientCert;
      client_key = p.tls.clientKey;
      tls_server_name = p.tls.serverName;
      tls_skip_verify = if p.tls.skipVerify then true else null;
      namespace = p.namespace;
      timeout = p.timeout;
      retries = p.retries;
      sweep_concurrency = p.sweepConcurrency;
      on_failure = p.onFailure;
      metrics_file = p.metricsFile;
    };

  # A profile's name goes into unit names and file names: the binary's rule (src/profile.rs).
  validProfileName =
    name: builtins.match "[a-z0-9][a-z0-9_-]{0,31}" name != null && name != "default";
  badProfileNames = lib.filter (name: !validProfileName name) (lib.attrNames cfg.profiles);
  profilesWithoutTokenFile = lib.attrNames (
    lib.filterAttrs (_: p: p.tokenFile == null) cfg.profiles
  );
  firstWithoutTokenFile = lib.head (profilesWithoutTokenFile ++ [ "lab" ]);
  tokenFileUsers =
    [
      {
        who = "services.vault-token-renew.tokenFile";
        file = cfg.tokenFile;
      }
    ]
    ++ lib.mapAttrsToList (name: p: {
      who = "services.vault-token-renew.profiles.${name}.tokenFile";
      file = p.tokenFile;
    }) (lib.filterAttrs (_: p: p.tokenFile != null) cfg.profiles);
  sharedTokenFiles = lib.filter (
    u: lib.count (other: other.file == u.file) tokenFileUsers > 1
  ) tokenFileUsers;

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
  # The options of one profile: the top level's (the default profile) and each
  # `profiles.<name>`'s, declared once. Only tokenFile differs: a profile has no default file.
  profileOptions =
    { tokenFile }:
    {
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

      inherit tokenFile;

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
          keys as the binary reads them (see vault-token-renew(1)); in a profile, its
          `[profiles.<name>]` table. The named options above write their keys here at default
          priority, so a key set here wins. The binary rejects unknown keys, so a typo fails the
          next run with a message naming the key.
        '';
      };

      onFailure = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = ''notify-send "vault-token-renew: $FAILED_UNIT failed"'';
        description = "Shell command the failure hook (`vault-token-renew-failure@.service`) runs when the service fails; `FAILED_UNIT` names the failed unit (config key `on_failure`).";
      };
    };

  profileModule =
    { config, ... }:
    {
      options = profileOptions {
        tokenFile = mkOption {
          type = types.nullOr types.externalPath;
          default = null;
          example = "/home/alice/.vault-token-lab";
          description = "This profile's token file, an absolute path no other profile uses (required: two profiles on one file would heal each other's token away). Point `vault login` / `bao login` at it with `VAULT_TOKEN_PATH` / `BAO_TOKEN_PATH`.";
        };
      };
      config.settings = lib.mapAttrs (_: lib.mkDefault) (settingsOf config);
    };

in
{
  options.services.vault-token-renew =
    profileOptions {
      tokenFile = mkOption {
      type = types.externalPath;
      default = "${config.home.homeDirectory}/.vault-token";
      defaultText = lib.literalExpression ''"''${config.home.homeDirectory}/.vault-token"'';
      description = "Token file to keep alive, an absolute path; it is also where `vault login` and `bao login` write.";
    };
    }
    // {
      enable = lib.mkEnableOption "the daily renewal (and heal-or-refuse drift guard) of your own periodic Vault/OpenBao token";

      package = lib.mkPackageOption pkgs "vault-token-renew" {
        extraDescription = "The flake's `homeModules.default` sets this to the flake's own package.";
      };

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

      profiles = mkOption {
        type = types.attrsOf (types.submodule profileModule);
        default = { };
        example = lib.literalExpression ''
          {
            lab = {
              vaultAddress = "https://bao.lab.example:8200";
              tokenFile = "/home/alice/.vault-token-lab";
              policies = [ "admin" ];
              watch.enable = true;
            };
          }
        '';
        description = ''
          Named profiles: more tokens (other servers, other token files) kept alive beside the
          top-level one, each with the same options as the top level. A profile is written as
          `[profiles.<name>]` in the config file and runs from its own units
          `vault-token-renew@<name>.{service,timer,path}`; an option it leaves unset (null) takes
          the top level's config key, except the token file, state and metrics, which are its own.
          Names: up to 32 of a-z, 0-9, `-` and `_`, starting with a letter or digit.
        '';
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
          {
            assertion = badProfileNames == [ ];
            message = ''
              services.vault-token-renew.profiles: ${lib.concatMapStringsSep ", " (n: "\"${n}\"") badProfileNames}
              cannot be a profile name: it goes into unit and file names. Use up to 32 lower-case letters,
              digits, - and _, starting with a letter or digit; "default" is the top level's name. Rename it,
              e.g. services.vault-token-renew.profiles.lab = { … };
            '';
          }
          {
            assertion = profilesWithoutTokenFile == [ ];
            message = ''
              services.vault-token-renew.profiles.${firstWithoutTokenFile} has no tokenFile: a profile never
              shares the top level's token file (each would heal the other's token away). Give it its own, e.g.
              services.vault-token-renew.profiles.${firstWithoutTokenFile}.tokenFile = "${config.home.homeDirectory}/.vault-token-${firstWithoutTokenFile}";
            '';
          }
          {
            assertion = sharedTokenFiles == [ ];
            message = ''
              ${lib.concatMapStringsSep " and " (u: "${u.who} (${u.file})") sharedTokenFiles} name the same token
              file: each profile would heal the other's token away. Give each profile a token file of its own,
              e.g. services.vault-token-renew.profiles.lab.tokenFile = "${config.home.homeDirectory}/.vault-token-lab";
            '';
          }
        ];

        # On PATH for `vault-token-renew status`, `mint` and friends, with the same config file.
        home.packages = [ cfg.package ];

        services.vault-token-renew.settings = lib.mkMerge [
          (lib.mapAttrs (_: lib.mkDefault) (settingsOf cfg))
          # Each profile's table: its options' keys (at default priority) and its own `settings`.
          (lib.mkIf (cfg.profiles != { }) {
            profiles = lib.mapAttrs (_: p: p.settings) cfg.profiles;
          })
        ];

        xdg.configFile."vault-token-renew/config.toml".source =
          tomlFormat.generate "vault-token-renew-config.toml" cfg.settings;

        systemd.user = lib.mkMerge (
          [ (systemdUnits "default" cfg) ] ++ lib.mapAttrsToList systemdUnits cfg.profiles
        );
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
