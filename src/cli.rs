//! Command-line syntax only. Values are validated and merged with the environment and the
//! config file in `settings.rs`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  OK or HEALED: the file holds our periodic token, renewed or freshly minted
  2  usage or configuration error: nothing was changed
  3  DRIFT: a foreign token is in the token file and cannot mint ours; investigate what wrote it
  4  FAIL: the server was unreachable or erroring, an I/O error, or a mint failed verification

Every renew, mint and sweep appends one line to the log file and writes it to stderr:
  <RFC 3339 time> OK|HEALED|DRIFT|FAIL ...";

// Each command's help ends with examples and its exit codes.
const RENEW_HELP: &str = "\
Examples:
  vault-token-renew                    # what the timer runs
  vault-token-renew renew --period 768h
  vault-token-renew --profile lab      # the [profiles.lab] table's token
  vault-token-renew renew --all-profiles

Exit codes: 0 OK or HEALED; 2 usage or configuration error; 3 DRIFT (a foreign token that cannot mint ours); 4 FAIL.
With --all-profiles: the highest of the profiles' codes";
const SWEEP_HELP: &str = "\
Examples:
  vault-token-renew sweep --dry-run    # list what would be revoked, and why
  vault-token-renew sweep

Exit codes: 0 done; 2 usage or configuration error; 3 the file holds no token of ours to sweep with; 4 FAIL";
const STATUS_HELP: &str = "\
Examples:
  vault-token-renew status
  vault-token-renew status --json | jq .ttl_secs
  vault-token-renew status --warn 7d --crit 2d   # a Nagios/Icinga check
  vault-token-renew status --profile lab

Without --profile (or VAULT_TOKEN_RENEW_PROFILE), a config file with [profiles.*] tables gets a
status of every profile, the default first; --json then prints an object keyed by profile name.

Exit codes: 0 healthy; 3 the file holds a foreign token; 4 otherwise.
With --warn/--crit: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring-plugin codes).
For several profiles: the worst of theirs";
const CONFIG_HELP: &str = "\
Examples:
  vault-token-renew config
  vault-token-renew config --period 48h   # what a flag would change

Exit codes: 0 shown; 2 the settings do not resolve (the error names the key)";
const DOCTOR_HELP: &str = "\
Examples:
  vault-token-renew doctor

Exit codes: 0 no check failed (warnings allowed); 2 usage or configuration error; 4 a check failed";
const MINT_HELP: &str = "\
Examples:
  vault-token-renew mint --oidc                      # log in in the browser, mint, revoke the login
  VAULT_TOKEN=$(vault login -method=oidc -token-only) vault-token-renew mint

Exit codes: 0 minted and installed; 2 usage error (e.g. a period the timer cannot keep alive); 4 FAIL";
const INSTALL_HELP: &str = "\
Examples:
  vault-token-renew install --watch --vault-addr https://vault.example.com:8200 --policy vault-admin
  vault-token-renew install --dry-run --schedule hourly --force   # show the diff first

Exit codes: 0 installed; 2 usage error or a conflict with what is installed (nothing changed); 4 a write or systemctl failed";
const COMPLETIONS_HELP: &str = "\
Examples:
  vault-token-renew completions bash > ~/.local/share/bash-completion/completions/vault-token-renew
  vault-token-renew completions zsh > ~/.local/share/zsh/site-functions/_vault-token-renew   # then fpath+=(~/.local/share/zsh/site-functions)
  vault-token-renew completions fish > ~/.config/fish/completions/vault-token-renew.fish

Exit codes: 0 printed; 2 usage error (an unknown shell)";
const ON_FAILURE_HELP: &str = "\
Examples:
  vault-token-renew on-failure vault-token-renew.service   # try the hook by hand

Exit codes: 0 the hook succeeded, or none is configured; 2 usage error; 4 sh could not be started; otherwise the hook's own exit code";
const UNINSTALL_HELP: &str = "\
Examples:
  vault-token-renew uninstall --dry-run

Exit codes: 0 removed; 4 systemctl failed";

#[derive(Debug, Parser)]
#[command(
    name = "vault-token-renew",
    version,
    about = "Keep your own periodic Vault/OpenBao token in ~/.vault-token alive, and refuse to keep anyone else's alive",
    long_about = "Keep your own periodic, orphan Vault/OpenBao token in ~/.vault-token alive.\n\n\
A token written there by a `vault login` is noticed (drift guard): if it can mint, a fresh periodic \
token is minted with its authority, verified and swapped in atomically, and stale copies of ours are \
revoked; if it cannot, the run fails loudly with DRIFT and changes nothing.\n\n\
Settings come from flags, then the environment, then the config file \
($XDG_CONFIG_HOME/vault-token-renew/config.toml), then defaults.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Renew our token; heal or refuse a foreign one (the default; what the timer runs)
    #[command(after_help = RENEW_HELP)]
    Renew(RenewArgs),
    /// Revoke stale copies of our token: live tokens with our display name and this configuration's identity mark, but another accessor
    #[command(after_help = SWEEP_HELP)]
    Sweep(SweepArgs),
    /// Show the token file's health: owner, policies, TTL, capabilities, last log lines
    #[command(after_help = STATUS_HELP)]
    Status(StatusArgs),
    /// Print every effective setting and where it came from (flag, environment, file, default)
    #[command(after_help = CONFIG_HELP)]
    Config,
    /// Check what keeps the token alive: server, token-file mode, timer and linger, period against schedule, VAULT_TOKEN shadowing, man page
    #[command(after_help = DOCTOR_HELP)]
    Doctor,
    /// Mint and install our periodic token with the authority of an OIDC login (--oidc), of VAULT_TOKEN, or of the file's token
    #[command(after_help = MINT_HELP)]
    Mint(MintArgs),
    /// Print the completion script for a shell (bash, zsh, fish, elvish, powershell)
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man page or shell completions (for packagers and `install`)
    #[command(hide = true)]
    Generate(GenerateArgs),
    /// Write the config file and the systemd user units, enable the timer and linger (without Nix)
    #[command(after_help = INSTALL_HELP)]
    Install(InstallArgs),
    /// Stop and remove the units `install` wrote; the token file and the config stay
    #[command(after_help = UNINSTALL_HELP)]
    Uninstall(UninstallArgs),
    /// Run the configured failure hook for UNIT (what the failure template unit runs)
    #[command(after_help = ON_FAILURE_HELP)]
    OnFailure {
        /// The unit that failed, passed to the hook as FAILED_UNIT
        unit: String,
    },
}

/// The Vault CLI's defaults for `vault login -method=oidc` (contract §9).
pub const OIDC_DEFAULT_MOUNT: &str = "oidc";
pub const OIDC_DEFAULT_PORT: u16 = 8250;

#[derive(Debug, Args)]
pub struct MintArgs {
    /// Log in with OIDC in-process (as `vault login -method=oidc` does) and mint with that login's
    /// authority; the login token stays in memory and is revoked afterwards, so nothing is clobbered
    #[arg(long)]
    pub oidc: bool,
    /// Mount path of the OIDC auth method
    #[arg(long, value_name = "PATH", default_value = OIDC_DEFAULT_MOUNT, requires = "oidc")]
    pub oidc_mount: String,
    /// OIDC role [default: the mount's default_role]
    #[arg(long, value_name = "ROLE", requires = "oidc")]
    pub oidc_role: Option<String>,
    /// Loopback port of the callback, http://localhost:<port>/oidc/callback (0: any free port)
    #[arg(long, value_name = "PORT", default_value_t = OIDC_DEFAULT_PORT, requires = "oidc")]
    pub oidc_port: u16,
    /// Do not start a browser; only print the login URL
    #[arg(long, requires = "oidc")]
    pub no_browser: bool,
    /// How long to wait for the login to finish in the browser
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = humantime::parse_duration, requires = "oidc")]
    pub oidc_timeout: std::time::Duration,
}

#[derive(Debug, Default, Args)]
pub struct RenewArgs {
    /// Renew every profile of the config file in turn, the default first; exits with the highest
    /// exit code of any (a manual run: each timer renews its own profile)
    #[arg(long)]
    pub all_profiles: bool,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Only report: list each same-named token it would revoke or keep, with the rule that
    /// decided; revoke nothing, write no log line
    #[arg(long)]
    pub dry_run: bool,
    /// Also revoke tokens with our display name but without this configuration's identity mark
    /// (older mints, another machine or configuration sharing the name); check them first with --dry-run
    #[arg(long)]
    pub include_unmarked: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: GenerateWhat,
    /// Write into this directory instead of standard output
    #[arg(long, value_name = "DIR", global = true)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum GenerateWhat {
    /// The man pages (vault-token-renew.1 and one per subcommand)
    Man,
    /// A completion script for a shell
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print machine-readable JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Do not cut lines to the terminal width
    #[arg(long)]
    pub full: bool,
    /// Monitoring-plugin mode: WARNING (exit 1) when less time than this is left, e.g. 7d
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub warn: Option<std::time::Duration>,
    /// Monitoring-plugin mode: CRITICAL (exit 2) when less time than this is left, e.g. 2d
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub crit: Option<std::time::Duration>,
    /// Path whose capabilities to show (repeatable)
    #[arg(
        long = "check-path",
        value_name = "PATH",
        default_value = "auth/token/create-orphan"
    )]
    pub check_paths: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Settings flags; each overrides its environment variable and config-file key.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file [default: $XDG_CONFIG_HOME/vault-token-renew/config.toml]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Profile of the config file to use: its [profiles.NAME] table over the top-level keys [env: VAULT_TOKEN_RENEW_PROFILE] [default: default, the top level]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Server address [env: BAO_ADDR, else VAULT_ADDR]
    #[arg(long, global = true, value_name = "URL")]
    pub vault_addr: Option<String>,
    /// Token file [env: VAULT_TOKEN_RENEW_TOKEN_FILE, else BAO_TOKEN_PATH/VAULT_TOKEN_PATH] [default: ~/.vault-token]
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Display name to mint (stored by the server as token-<name>) [env: VAULT_TOKEN_RENEW_DISPLAY_NAME] [default: <short hostname>-<user>]
    #[arg(long, global = true, value_name = "NAME")]
    pub display_name: Option<String>,
    /// Policy to mint our token with (repeatable) [env: VAULT_TOKEN_RENEW_POLICIES, comma-separated]
    #[arg(long = "policy", global = true, value_name = "POLICY")]
    pub policies: Vec<String>,
    /// Policy a token must carry to count as ours (repeatable) [env: VAULT_TOKEN_RENEW_REQUIRE_POLICIES] [default: the minted policies]
    #[arg(long = "require-policy", global = true, value_name = "POLICY")]
    pub require_policies: Vec<String>,
    /// Token role to mint through, tried before create-orphan: lets a token without sudo heal when the role has orphan=true and a token_period [env: VAULT_TOKEN_RENEW_TOKEN_ROLE]
    #[arg(long, global = true, value_name = "ROLE")]
    pub token_role: Option<String>,
    /// Period of the minted token, e.g. 768h or 32d [env: VAULT_TOKEN_RENEW_PERIOD] [default: 768h]
    #[arg(long, global = true, value_name = "DURATION")]
    pub period: Option<String>,
    /// Log file [env: VAULT_TOKEN_RENEW_LOG_FILE] [default: $XDG_STATE_HOME/vault-token-renew.log]
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Directory for the lock and the record of minted accessors [env: VAULT_TOKEN_RENEW_STATE_DIR] [default: $XDG_STATE_HOME/vault-token-renew]
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// PEM CA certificate to verify the server with [env: VAULT_CACERT]
    #[arg(long, global = true, value_name = "PATH")]
    pub ca_cert: Option<PathBuf>,
    /// Directory of PEM CA certificates [env: VAULT_CAPATH]
    #[arg(long, global = true, value_name = "DIR")]
    pub ca_path: Option<PathBuf>,
    /// PEM client certificate for TLS client auth [env: VAULT_CLIENT_CERT]
    #[arg(long, global = true, value_name = "PATH")]
    pub client_cert: Option<PathBuf>,
    /// PEM client key for TLS client auth [env: VAULT_CLIENT_KEY]
    #[arg(long, global = true, value_name = "PATH")]
    pub client_key: Option<PathBuf>,
    /// Name to verify the server certificate against [env: VAULT_TLS_SERVER_NAME]
    #[arg(long, global = true, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Do not verify the server certificate (insecure) [env: VAULT_SKIP_VERIFY]
    #[arg(long, global = true)]
    pub tls_skip_verify: bool,
    /// Namespace (X-Vault-Namespace) [env: VAULT_NAMESPACE]
    #[arg(long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Timeout of one request [env: VAULT_TOKEN_RENEW_TIMEOUT] [default: 10s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Retries of a transient failure (connection error, 429, 5xx) [env: VAULT_TOKEN_RENEW_RETRIES] [default: 3]
    #[arg(long, global = true, value_name = "N")]
    pub retries: Option<u32>,
    /// Accessor look-ups in flight at once during a sweep [env: VAULT_TOKEN_RENEW_SWEEP_CONCURRENCY] [default: 8]
    #[arg(long, global = true, value_name = "N")]
    pub sweep_concurrency: Option<usize>,
    /// Write Prometheus textfile metrics here after every run (opt-in) [env: VAULT_TOKEN_RENEW_METRICS_FILE]
    #[arg(long, global = true, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// More detail on stderr (-v: each request's method, path, status and milliseconds; -vv trace); tokens are never shown
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Output of renew, mint and sweep: `text` (the log line on stderr) or `json` (also one object on stdout)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Only errors on stderr: no warnings, and no copy of an OK or HEALED line (the log file still gets it)
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

// `install` and `uninstall` flags live here, not in install.rs, so cli does not depend on install.

/// Flags of `install` besides the settings flags (`--vault-addr`, `--policy`, … are global).
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub units: crate::unit_options::UnitOptionArgs,
    /// Shell command to run when the service fails (DRIFT or FAIL); gets FAILED_UNIT and LAST_LOG_LINE
    #[arg(
        long,
        value_name = "CMD",
        long_help = "Shell command the failure hook runs (with sh -c) when the service fails with DRIFT or \
FAIL; it gets FAILED_UNIT and LAST_LOG_LINE (the log line saying what happened, never a token). \
Stored as `on_failure` in the config file. Examples:\n  \
--on-failure 'notify-send \"Vault token\" \"$LAST_LOG_LINE\"'\n  \
--on-failure 'curl -fsS -m 10 --data-urlencode \"text=$FAILED_UNIT: $LAST_LOG_LINE\" https://hooks.example/notify'"
    )]
    pub on_failure: Option<String>,
    /// Replace config keys the file already sets, and unit options the units already have, with other values (otherwise such a change is refused)
    #[arg(long)]
    pub force: bool,
    /// Do not enable linger (units then run only while you are logged in)
    #[arg(long)]
    pub no_linger: bool,
    /// Print what would change (a diff of each file) and what would run, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct UninstallArgs {
    /// Print what would be removed and run, and change nothing
    #[arg(long)]
    pub dry_run: bool,
}
