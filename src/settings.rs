//! One validated settings struct, resolved from (highest first) flags, environment, config file, defaults.
//! Resolution is a pure function of its inputs, so every precedence rule is unit-tested.

use crate::cli::GlobalArgs;
use crate::config::{ConfigFile, ConfigFileError};
use reqwest::Url;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_PERIOD: Duration = Duration::from_secs(768 * 3600);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_RETRIES: u32 = 3;
const DEFAULT_SWEEP_CONCURRENCY: usize = 8;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `default` (the config file's top level) or a `[profiles.<name>]` table's name.
    pub profile: String,
    pub vault_addr: Url,
    pub token_file: PathBuf,
    /// As configured; the server stores it as `token-<sanitised>` (see `decide::stored_display_name`).
    pub display_name: String,
    pub policies: Vec<String>,
    pub require_policies: Vec<String>,
    /// Token role to mint through (`auth/token/create/<role>`), tried before create-orphan.
    pub token_role: Option<String>,
    pub period: Duration,
    pub log_file: PathBuf,
    pub state_dir: PathBuf,
    pub tls: TlsSettings,
    pub namespace: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
    pub sweep_concurrency: usize,
    pub on_failure: Option<String>,
    /// Prometheus textfile to rewrite after every run; None = no metrics.
    pub metrics_file: Option<PathBuf>,
    pub config_file: PathBuf,
    /// Where each config key's value came from; a key that is absent has its default.
    pub origins: BTreeMap<&'static str, Origin>,
}

#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    pub ca_cert: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub server_name: Option<String>,
    pub skip_verify: bool,
}

/// The process environment as data, so resolution can be tested without touching the real one.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub vars: HashMap<String, String>,
    pub hostname: String,
}

impl Env {
    pub fn from_process() -> Env {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let hostname = rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned();
        Env { vars, hostname }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The CLI's variable `<name>` as `bao` reads it: `BAO_<name>` when present, else
    /// `VAULT_<name>`. A present `BAO_` variable wins even when empty, and empty means unset.
    pub fn cli_var(&self, name: &str) -> Option<(String, &str)> {
        let var = cli_var_name(name, |v| self.vars.contains_key(v));
        let value = self.get(&var)?;
        (!value.is_empty()).then_some((var, value))
    }

    pub fn own(&self, name: &str) -> Option<(String, &str)> {
        let var = format!("VAULT_TOKEN_RENEW_{name}");
        let value = self.get(&var)?;
        (!value.is_empty()).then_some((var, value))
    }
}

impl Env {
    /// The user's unit directory, as the user manager and `install` see it.
    pub fn user_unit_dir(&self) -> Option<PathBuf> {
        self.xdg_dir("XDG_CONFIG_HOME", ".config")
            .map(|d| d.join("systemd/user"))
    }

    /// `$<var>` when it is absolute, else `~/<fallback>`; None without a home.
    pub fn xdg_dir(&self, var: &str, fallback: &str) -> Option<PathBuf> {
        match self.get(var).filter(|v| v.starts_with('/')) {
            Some(dir) => Some(PathBuf::from(dir)),
            None => self
                .get("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| Path::new(h).join(fallback)),
        }
    }
}

/// The config file and whether it must exist (it must when named with --config).
pub fn config_path(args: &GlobalArgs, env: &Env) -> Result<(PathBuf, bool), SettingsError> {
    match &args.config {
        Some(path) => Ok((path.clone(), true)),
        None => Ok((
            env.xdg_dir("XDG_CONFIG_HOME", ".config")
                .ok_or(SettingsError::NoHome)?
                .join("vault-token-renew/config.toml"),
            false,
        )),
    }
}

/// Which of the CLI's two variables counts: `BAO_<name>` if it is present (even empty: it hides
/// `VAULT_<name>`, as in the `bao` CLI), else `VAULT_<name>`.
pub fn cli_var_name(name: &str, present: impl Fn(&str) -> bool) -> String {
    let bao = format!("BAO_{name}");
    if present(&bao) {
        bao
    } else {
        format!("VAULT_{name}")
    }
}

/// Where a value came from, so an error can name the exact key to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    EnvVar(String),
    ConfigKey(&'static str, PathBuf),
    /// A key of a `[profiles.<name>]` table.
    ProfileKey(&'static str, String, PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => write!(f, "--{flag}"),
            Origin::EnvVar(var) => write!(f, "${var}"),
            Origin::ConfigKey(key, path) => write!(f, "`{key}` in {}", path.display()),
            Origin::ProfileKey(key, profile, path) => {
                write!(f, "`{key}` in [profiles.{profile}] of {}", path.display())
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    ConfigFile(#[from] ConfigFileError),
    #[error(
        "no server address: set VAULT_ADDR (or BAO_ADDR), pass --vault-addr, or add `vault_addr` to {config}"
    )]
    NoAddress { config: PathBuf },
    #[error("{origin}: {message}")]
    Invalid { origin: Origin, message: String },
    #[error(
        "cannot find your home directory: set HOME, or pass --token-file, --log-file and --state-dir"
    )]
    NoHome,
    #[error("{origin}: {why}")]
    BadProfileName { origin: Origin, why: String },
    #[error(
        "no profile `{name}` in {config}; its profiles are: {known}. Pick one of them, or add a [profiles.{name}] table",
        known = known.join(", ")
    )]
    UnknownProfile {
        name: String,
        known: Vec<String>,
        config: PathBuf,
    },
    #[error(
        "profile `{profile}` has no token file of its own: add token_file = \"~/.vault-token-{profile}\" (any path no other profile uses) under [profiles.{profile}] in {config}"
    )]
    ProfileWithoutTokenFile { profile: String, config: PathBuf },
    #[error(
        "profiles `{first}` and `{second}` use the same token file {path}: each would heal the other's token away. Give one of them its own `token_file` in {config}"
    )]
    SharedTokenFile {
        first: String,
        second: String,
        path: PathBuf,
        config: PathBuf,
    },
}

fn invalid(origin: Origin, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        origin,
        message: message.into(),
    }
}

/// Looks settings up and keeps the origin of each, for `config --show-origin`.
#[derive(Default)]
struct Picker {
    origins: RefCell<BTreeMap<&'static str, Origin>>,
    /// The selected named profile and the keys its table sets.
    profile: Option<(String, BTreeSet<String>)>,
}

impl Picker {
    /// [`pick`], recording the origin under the config-file key. A key the selected profile's
    /// table sets ranks above the environment: the profile names its server and files as
    /// explicitly as a flag, and a `VAULT_ADDR` exported for another server must not redirect it.
    fn pick<T>(
        &self,
        flag: (Option<T>, &'static str),
        env: Option<(String, T)>,
        file: (Option<T>, &'static str, &Path),
    ) -> Option<(T, Origin)> {
        let key = file.1;
        let picked = match &self.profile {
            Some((name, keys)) if keys.contains(key) && flag.0.is_none() => file
                .0
                .map(|v| (v, Origin::ProfileKey(key, name.clone(), file.2.to_owned()))),
            _ => pick(flag, env, file),
        }?;
        self.origins.borrow_mut().insert(key, picked.1.clone());
        Some(picked)
    }
}

/// One setting looked up flag → environment → config file, remembering where it came from.
fn pick<T>(
    flag: (Option<T>, &'static str),
    env: Option<(String, T)>,
    file: (Option<T>, &'static str, &Path),
) -> Option<(T, Origin)> {
    if let Some(v) = flag.0 {
        return Some((v, Origin::Flag(flag.1)));
    }
    if let Some((var, v)) = env {
        return Some((v, Origin::EnvVar(var)));
    }
    file.0
        .map(|v| (v, Origin::ConfigKey(file.1, file.2.to_owned())))
}

impl Settings {
    pub fn resolve(args: &GlobalArgs, env: &Env) -> Result<Settings, SettingsError> {
        let home = env.get("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let xdg = |var: &str, fallback: &str| env.xdg_dir(var, fallback);
        let (config_file, config_required) = config_path(args, env)?;
        let whole = ConfigFile::load(&config_file, config_required)?.unwrap_or_default();
        let profile = selected_profile(args, env)?;
        let (file, profile_keys) =
            whole
                .select(&profile)
                .map_err(|unknown| SettingsError::UnknownProfile {
                    name: unknown.name,
                    known: unknown.known,
                    config: config_file.clone(),
                })?;
        // A named profile takes its token file, state and metrics from its own table or a flag
        // only (`profile::NOT_INHERITED`): the environment speaks for the default profile.
        let named = profile != crate::profile::DEFAULT;
        let unless_named = |found: Option<(String, PathBuf)>| found.filter(|_| !named);
        let on_failure_origin = if profile_keys.contains("on_failure") {
            Origin::ProfileKey("on_failure", profile.clone(), config_file.clone())
        } else {
            Origin::ConfigKey("on_failure", config_file.clone())
        };
        let picker = Picker {
            origins: RefCell::default(),
            profile: named.then(|| (profile.clone(), profile_keys)),
        };
        let cf = config_file.as_path();
        let expand = |p: PathBuf, origin: &Origin| expand_home(p, home.as_deref(), origin);

        let vault_addr = match picker.pick(
            (args.vault_addr.clone(), "vault-addr"),
            env.cli_var("ADDR").map(|(k, v)| (k, v.to_owned())),
            (file.vault_addr, "vault_addr", cf),
        ) {
            Some((addr, origin)) => parse_addr(&addr, origin)?,
            None => {
                return Err(SettingsError::NoAddress {
                    config: config_file.clone(),
                });
            }
        };

        let token_file = match picker.pick(
            (args.token_file.clone(), "token-file"),
            unless_named(
                env.own("TOKEN_FILE")
                    .or_else(|| env.cli_var("TOKEN_PATH"))
                    .map(|(k, v)| (k, PathBuf::from(v))),
            ),
            (file.token_file, "token_file", cf),
        ) {
            Some((p, origin)) => expand(p, &origin)?,
            None if named => {
                return Err(SettingsError::ProfileWithoutTokenFile {
                    profile,
                    config: config_file.clone(),
                });
            }
            None => home
                .clone()
                .ok_or(SettingsError::NoHome)?
                .join(".vault-token"),
        };
        check_token_files_apart(&whole, &profile, &token_file, home.as_deref(), &config_file)?;

        let display_name = match picker.pick(
            (args.display_name.clone(), "display-name"),
            env.own("DISPLAY_NAME").map(|(k, v)| (k, v.to_owned())),
            (file.display_name, "display_name", cf),
        ) {
            Some((name, origin)) => {
                let name = name.trim().to_owned();
                if name.is_empty() {
                    return Err(invalid(
                        origin,
                        "the display name is empty; give a name such as devvm-alice",
                    ));
                }
                name
            }
            None => default_display_name(env),
        };

        let flag_list = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let policies = match picker.pick(
            (flag_list(&args.policies), "policy"),
            env.own("POLICIES").map(|(k, v)| (k, split_list(v))),
            (file.policies, "policies", cf),
        ) {
            Some((list, origin)) => normalise_policies(list, &origin)?,
            None => Vec::new(),
        };
        let (require_policies, require_origin) = match picker.pick(
            (flag_list(&args.require_policies), "require-policy"),
            env.own("REQUIRE_POLICIES").map(|(k, v)| (k, split_list(v))),
            (file.require_policies, "require_policies", cf),
        ) {
            Some((list, origin)) => (normalise_policies(list, &origin)?, Some(origin)),
            None => (policies.clone(), None),
        };

        if let Some(origin) = require_origin
            && !policies.is_empty()
        {
            check_required_are_minted(&require_policies, &policies, origin)?;
        }
        let token_role = match picker.pick(
            (args.token_role.clone(), "token-role"),
            env.own("TOKEN_ROLE").map(|(k, v)| (k, v.to_owned())),
            (file.token_role, "token_role", cf),
        ) {
            Some((role, origin)) => Some(parse_role(&role, origin)?),
            None => None,
        };

        let period = match picker.pick(
            (args.period.clone(), "period"),
            env.own("PERIOD").map(|(k, v)| (k, v.to_owned())),
            (file.period, "period", cf),
        ) {
            Some((text, origin)) => parse_duration(&text, origin, "e.g. 768h or 32d")?,
            None => DEFAULT_PERIOD,
        };

        let state_home = xdg("XDG_STATE_HOME", ".local/state");
        let log_file = match picker.pick(
            (args.log_file.clone(), "log-file"),
            env.own("LOG_FILE").map(|(k, v)| (k, PathBuf::from(v))),
            (file.log_file, "log_file", cf),
        ) {
            Some((p, origin)) => expand(p, &origin)?,
            None => state_home
                .clone()
                .ok_or(SettingsError::NoHome)?
                .join("vault-token-renew.log"),
        };
        let default_state_dir = || -> Result<PathBuf, SettingsError> {
            Ok(state_home
                .clone()
                .ok_or(SettingsError::NoHome)?
                .join("vault-token-renew"))
        };
        let state_dir = match picker.pick(
            (args.state_dir.clone(), "state-dir"),
            unless_named(env.own("STATE_DIR").map(|(k, v)| (k, PathBuf::from(v)))),
            (file.state_dir, "state_dir", cf),
        ) {
            Some((p, origin)) => expand(p, &origin)?,
            // Under the top level's state dir, so one `state_dir` key moves every profile.
            None if named => {
                let base = match whole.state_dir.clone() {
                    Some(p) => expand(p, &Origin::ConfigKey("state_dir", config_file.clone()))?,
                    None => default_state_dir()?,
                };
                crate::profile::state_dir(&base, &profile)
            }
            None => default_state_dir()?,
        };

        let path_setting = |flag: (Option<PathBuf>, &'static str),
                            var: &str,
                            file_value: Option<PathBuf>,
                            key: &'static str|
         -> Result<Option<PathBuf>, SettingsError> {
            match picker.pick(
                flag,
                env.cli_var(var).map(|(k, v)| (k, PathBuf::from(v))),
                (file_value, key, cf),
            ) {
                Some((p, origin)) => expand(p, &origin).map(Some),
                None => Ok(None),
            }
        };
        let tls = TlsSettings {
            ca_cert: path_setting(
                (args.ca_cert.clone(), "ca-cert"),
                "CACERT",
                file.ca_cert,
                "ca_cert",
            )?,
            ca_path: path_setting(
                (args.ca_path.clone(), "ca-path"),
                "CAPATH",
                file.ca_path,
                "ca_path",
            )?,
            client_cert: path_setting(
                (args.client_cert.clone(), "client-cert"),
                "CLIENT_CERT",
                file.client_cert,
                "client_cert",
            )?,
            client_key: path_setting(
                (args.client_key.clone(), "client-key"),
                "CLIENT_KEY",
                file.client_key,
                "client_key",
            )?,
            server_name: picker
                .pick(
                    (args.tls_server_name.clone(), "tls-server-name"),
                    env.cli_var("TLS_SERVER_NAME")
                        .map(|(k, v)| (k, v.to_owned())),
                    (file.tls_server_name, "tls_server_name", cf),
                )
                .map(|(v, _)| v),
            skip_verify: match picker.pick(
                (args.tls_skip_verify.then_some(true), "tls-skip-verify"),
                match env.cli_var("SKIP_VERIFY") {
                    Some((var, text)) => {
                        Some((var.clone(), parse_bool(text, Origin::EnvVar(var))?))
                    }
                    None => None,
                },
                (file.tls_skip_verify, "tls_skip_verify", cf),
            ) {
                Some((v, _)) => v,
                None => false,
            },
        };
        if tls.client_cert.is_some() != tls.client_key.is_some() {
            return Err(invalid(
                Origin::Flag(if tls.client_cert.is_some() {
                    "client-key"
                } else {
                    "client-cert"
                }),
                "a client certificate and its key go together: give both (VAULT_CLIENT_CERT and VAULT_CLIENT_KEY) or neither",
            ));
        }

        let namespace = picker
            .pick(
                (args.namespace.clone(), "namespace"),
                env.cli_var("NAMESPACE").map(|(k, v)| (k, v.to_owned())),
                (file.namespace, "namespace", cf),
            )
            .map(|(v, _)| v);

        let timeout = match picker.pick(
            (args.timeout.clone(), "timeout"),
            env.own("TIMEOUT").map(|(k, v)| (k, v.to_owned())),
            (file.timeout, "timeout", cf),
        ) {
            Some((text, origin)) => parse_duration(&text, origin, "e.g. 10s")?,
            None => DEFAULT_TIMEOUT,
        };
        let retries = match picker.pick(
            (args.retries.map(|n| n.to_string()), "retries"),
            env.own("RETRIES").map(|(k, v)| (k, v.to_owned())),
            (file.retries.map(|n| n.to_string()), "retries", cf),
        ) {
            Some((text, origin)) => parse_count(&text, origin, 0, 10)? as u32,
            None => DEFAULT_RETRIES,
        };
        let sweep_concurrency = match picker.pick(
            (
                args.sweep_concurrency.map(|n| n.to_string()),
                "sweep-concurrency",
            ),
            env.own("SWEEP_CONCURRENCY").map(|(k, v)| (k, v.to_owned())),
            (
                file.sweep_concurrency.map(|n| n.to_string()),
                "sweep_concurrency",
                cf,
            ),
        ) {
            Some((text, origin)) => parse_count(&text, origin, 1, 256)?,
            None => DEFAULT_SWEEP_CONCURRENCY,
        };

        let metrics_file = match picker.pick(
            (args.metrics_file.clone(), "metrics-file"),
            unless_named(env.own("METRICS_FILE").map(|(k, v)| (k, PathBuf::from(v)))),
            (file.metrics_file, "metrics_file", cf),
        ) {
            Some((p, origin)) => Some(expand(p, &origin)?),
            None if named => match whole.metrics_file.clone() {
                Some(top) => {
                    let top = expand(top, &Origin::ConfigKey("metrics_file", config_file.clone()))?;
                    Some(crate::profile::metrics_file(&top, &profile))
                }
                None => None,
            },
            None => None,
        };

        let on_failure_set = file.on_failure.is_some();
        Ok(Settings {
            profile,
            vault_addr,
            token_file,
            display_name,
            policies,
            require_policies,
            token_role,
            period,
            log_file,
            state_dir,
            tls,
            namespace,
            timeout,
            retries,
            sweep_concurrency,
            on_failure: file.on_failure,
            metrics_file,
            origins: {
                let mut origins = picker.origins.into_inner();
                if on_failure_set {
                    origins.insert("on_failure", on_failure_origin);
                }
                origins
            },
            config_file,
        })
    }
}

/// `--profile`, else `$VAULT_TOKEN_RENEW_PROFILE`, else the default profile.
pub fn selected_profile(args: &GlobalArgs, env: &Env) -> Result<String, SettingsError> {
    let (name, origin) = match (&args.profile, env.own("PROFILE")) {
        (Some(name), _) => (name.clone(), Origin::Flag("profile")),
        (None, Some((var, name))) => (name.to_owned(), Origin::EnvVar(var)),
        (None, None) => return Ok(crate::profile::DEFAULT.to_owned()),
    };
    crate::profile::check_name(&name)
        .map_err(|why| SettingsError::BadProfileName { origin, why })?;
    Ok(name)
}

/// Two profiles on one token file would each heal the other's token away: refuse the selected
/// profile's file when another profile of the config file names it too.
fn check_token_files_apart(
    whole: &ConfigFile,
    selected: &str,
    token_file: &Path,
    home: Option<&Path>,
    config: &Path,
) -> Result<(), SettingsError> {
    let origin = Origin::ConfigKey("token_file", config.to_owned());
    let written = |name: &str| -> Option<PathBuf> {
        let path = match name {
            crate::profile::DEFAULT => whole
                .token_file
                .clone()
                .or_else(|| home.map(|h| h.join(".vault-token")))?,
            name => whole
                .profiles
                .get(name)?
                .get("token_file")?
                .as_str()?
                .into(),
        };
        expand_home(path, home, &origin).ok()
    };
    let clash = whole
        .profile_names()
        .into_iter()
        .filter(|other| other != selected)
        .find(|other| written(other).is_some_and(|p| same_file(&p, token_file)));
    match clash {
        Some(other) => Err(SettingsError::SharedTokenFile {
            first: selected.to_owned(),
            second: other,
            path: token_file.to_owned(),
            config: config.to_owned(),
        }),
        None => Ok(()),
    }
}

/// The same path, or two paths to one existing file (a link).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (std::fs::canonicalize(a), std::fs::canonicalize(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

fn default_display_name(env: &Env) -> String {
    let host = env.hostname.split('.').next().unwrap_or_default();
    let user = env
        .get("USER")
        .or_else(|| env.get("LOGNAME"))
        .map(str::to_owned)
        .unwrap_or_else(|| rustix::process::getuid().as_raw().to_string());
    match host {
        "" => user,
        host => format!("{host}-{user}"),
    }
}

fn split_list(text: &str) -> Vec<String> {
    text.split(',').map(str::to_owned).collect()
}

/// Vault lower-cases and trims policy names (contract §1 `policies`), so compare in that form.
fn normalise_policies(list: Vec<String>, origin: &Origin) -> Result<Vec<String>, SettingsError> {
    let mut out: Vec<String> = Vec::new();
    for name in list {
        let name = name.trim().to_lowercase();
        if name.is_empty() {
            // Dropping it silently would let `,,` (or a stray comma) empty a list; an empty
            // required list disables the ownership check on policies.
            return Err(invalid(
                origin.clone(),
                "holds an empty policy name; remove the stray comma or empty entry",
            ));
        }
        if name.contains(',') || name.chars().any(char::is_whitespace) {
            return Err(invalid(
                origin.clone(),
                format!(
                    "policy name {name:?} is not a single policy name; list policies separately"
                ),
            ));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// A required policy the mint never grants makes every heal mint, fail its own check and
/// revoke, run after run: refuse it before any request. `default` comes with every mint.
fn check_required_are_minted(
    required: &[String],
    minted: &[String],
    origin: Origin,
) -> Result<(), SettingsError> {
    let never: Vec<&str> = required
        .iter()
        .filter(|p| *p != "default" && !minted.contains(p))
        .map(String::as_str)
        .collect();
    if never.is_empty() {
        return Ok(());
    }
    Err(invalid(
        origin,
        format!(
            "requires polic{} {} that the minted token never gets (it gets {} and default); add them to `policies` (--policy, $VAULT_TOKEN_RENEW_POLICIES) or drop them from the required list",
            if never.len() == 1 { "y" } else { "ies" },
            never.join(","),
            minted.join(",")
        ),
    ))
}

/// A token role name as it goes into the path `auth/token/create/<role>`.
fn parse_role(text: &str, origin: Origin) -> Result<String, SettingsError> {
    let role = text.trim();
    let fits = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if role.is_empty() || !role.chars().all(fits) || role.starts_with('.') {
        return Err(invalid(
            origin,
            format!(
                "{text:?} is not a token role name; give the role's name as in `vault write auth/token/roles/<name>` (letters, digits, - _ .)"
            ),
        ));
    }
    Ok(role.to_owned())
}

fn expand_home(
    path: PathBuf,
    home: Option<&Path>,
    origin: &Origin,
) -> Result<PathBuf, SettingsError> {
    let text = path.to_string_lossy();
    if text.is_empty() {
        return Err(invalid(origin.clone(), "the path is empty"));
    }
    match text.strip_prefix("~/") {
        Some(rest) => match home {
            Some(home) => Ok(home.join(rest)),
            None => Err(invalid(
                origin.clone(),
                "uses ~/ but HOME is not set; give an absolute path",
            )),
        },
        None => Ok(path),
    }
}

fn parse_addr(text: &str, origin: Origin) -> Result<Url, SettingsError> {
    // A rejected address is quoted in the error, without a password it may carry.
    let shown = crate::address::redacted(text);
    let url = Url::parse(text.trim()).map_err(|e| {
        invalid(
            origin.clone(),
            format!("{shown:?} is not a URL ({e}); use e.g. https://vault.example.com:8200"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid(
            origin,
            format!(
                "{shown:?} is not an http(s) server address; use e.g. https://vault.example.com:8200"
            ),
        ));
    }
    Ok(url)
}

fn parse_duration(text: &str, origin: Origin, example: &str) -> Result<Duration, SettingsError> {
    let duration = humantime::parse_duration(text.trim()).map_err(|e| {
        invalid(
            origin.clone(),
            format!("{text:?} is not a duration ({e}); use {example}"),
        )
    })?;
    if duration.as_secs() == 0 || duration.subsec_nanos() != 0 {
        return Err(invalid(
            origin,
            format!("{text:?} must be a positive whole number of seconds; use {example}"),
        ));
    }
    Ok(duration)
}

fn parse_count(text: &str, origin: Origin, min: usize, max: usize) -> Result<usize, SettingsError> {
    match text.trim().parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(
            origin,
            format!("{text:?} must be a whole number from {min} to {max}"),
        )),
    }
}

/// Go's strconv.ParseBool, which the Vault CLI uses for VAULT_SKIP_VERIFY.
fn parse_bool(text: &str, origin: Origin) -> Result<bool, SettingsError> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(invalid(
            origin,
            format!("{text:?} is not a boolean; use true or false"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let mut vars: HashMap<String, String> = [("HOME", "/home/alice"), ("USER", "alice")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in pairs {
            vars.insert(k.to_string(), v.to_string());
        }
        Env {
            vars,
            hostname: "devvm.example.com".into(),
        }
    }

    fn args() -> GlobalArgs {
        GlobalArgs {
            config: Some("/nonexistent-but-unused".into()),
            ..Default::default()
        }
    }

    fn no_config() -> GlobalArgs {
        // A config path under a HOME that does not exist: not required, so simply absent.
        GlobalArgs::default()
    }

    #[test]
    fn defaults_follow_the_table() {
        let s = Settings::resolve(
            &no_config(),
            &env(&[("VAULT_ADDR", "http://127.0.0.1:8200")]),
        )
        .unwrap();
        assert_eq!(s.token_file, PathBuf::from("/home/alice/.vault-token"));
        assert_eq!(s.display_name, "devvm-alice");
        assert_eq!(s.period, DEFAULT_PERIOD);
        assert_eq!(
            s.log_file,
            PathBuf::from("/home/alice/.local/state/vault-token-renew.log")
        );
        assert_eq!(
            s.state_dir,
            PathBuf::from("/home/alice/.local/state/vault-token-renew")
        );
        assert!(s.policies.is_empty() && s.require_policies.is_empty());
        assert_eq!(
            s.config_file,
            PathBuf::from("/home/alice/.config/vault-token-renew/config.toml")
        );
    }

    #[test]
    fn missing_address_says_how_to_set_it() {
        let err = Settings::resolve(&no_config(), &env(&[])).unwrap_err();
        assert!(err.to_string().contains("VAULT_ADDR"), "{err}");
    }

    fn addr(args: &GlobalArgs, pairs: &[(&str, &str)]) -> Result<String, SettingsError> {
        Settings::resolve(args, &env(pairs)).map(|s| s.vault_addr.to_string())
    }

    #[test]
    fn bao_addr_wins_over_vault_addr_even_when_empty_and_flag_wins_over_both() {
        let both = [("VAULT_ADDR", "http://a:1"), ("BAO_ADDR", "http://b:2")];
        assert_eq!(addr(&no_config(), &both).unwrap(), "http://b:2/");
        assert_eq!(
            addr(&no_config(), &[("VAULT_ADDR", "http://a:1")]).unwrap(),
            "http://a:1/"
        );
        // As in the `bao` CLI, a present BAO_ variable hides the VAULT_ one even when empty.
        let err = addr(
            &no_config(),
            &[("VAULT_ADDR", "http://a:1"), ("BAO_ADDR", "")],
        );
        assert!(
            matches!(err, Err(SettingsError::NoAddress { .. })),
            "{err:?}"
        );
        let a = GlobalArgs {
            vault_addr: Some("http://c:3".into()),
            ..Default::default()
        };
        assert_eq!(addr(&a, &both).unwrap(), "http://c:3/");
    }

    #[test]
    fn every_cli_variable_follows_the_same_bao_first_rule() {
        let s = Settings::resolve(
            &no_config(),
            &env(&[
                ("VAULT_ADDR", "http://x"),
                ("VAULT_NAMESPACE", "vault-ns"),
                ("BAO_NAMESPACE", "bao-ns"),
                ("VAULT_TLS_SERVER_NAME", "vault.example"),
                ("BAO_TLS_SERVER_NAME", ""),
                ("VAULT_CACERT", "/vault.pem"),
                ("BAO_CACERT", "/bao.pem"),
                ("VAULT_SKIP_VERIFY", "true"),
                ("BAO_SKIP_VERIFY", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(s.namespace.as_deref(), Some("bao-ns"));
        assert_eq!(
            s.tls.server_name, None,
            "an empty BAO_ variable hides VAULT_"
        );
        assert_eq!(s.tls.ca_cert, Some(PathBuf::from("/bao.pem")));
        assert!(!s.tls.skip_verify);
        let e = env(&[("BAO_TOKEN", ""), ("VAULT_TOKEN", "t")]);
        assert_eq!(e.cli_var("TOKEN"), None);
    }

    #[test]
    fn the_token_file_follows_bao_token_path_below_our_own_variable() {
        let file = |pairs: &[(&str, &str)]| {
            let mut all = vec![("VAULT_ADDR", "http://x")];
            all.extend_from_slice(pairs);
            Settings::resolve(&no_config(), &env(&all))
                .unwrap()
                .token_file
        };
        assert_eq!(
            file(&[("VAULT_TOKEN_PATH", "/v/tok")]),
            PathBuf::from("/v/tok")
        );
        assert_eq!(
            file(&[
                ("VAULT_TOKEN_PATH", "/v/tok"),
                ("BAO_TOKEN_PATH", "~/b/tok")
            ]),
            PathBuf::from("/home/alice/b/tok")
        );
        assert_eq!(
            file(&[
                ("BAO_TOKEN_PATH", "/b/tok"),
                ("VAULT_TOKEN_RENEW_TOKEN_FILE", "/own")
            ]),
            PathBuf::from("/own")
        );
        assert_eq!(
            file(&[("BAO_TOKEN_PATH", ""), ("VAULT_TOKEN_PATH", "/v/tok")]),
            PathBuf::from("/home/alice/.vault-token")
        );
    }

    #[test]
    fn required_policies_outside_the_minted_set_are_a_usage_error() {
        let a = GlobalArgs {
            policies: vec!["vault-admin".into()],
            require_policies: vec!["vault-admin".into(), "sops-admin".into()],
            ..Default::default()
        };
        let err = Settings::resolve(&a, &env(&[("VAULT_ADDR", "http://x")])).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("--require-policy"), "{text}");
        assert!(
            text.contains("sops-admin") && text.contains("policies"),
            "{text}"
        );
        let a = GlobalArgs {
            policies: vec!["vault-admin".into()],
            require_policies: vec!["default".into(), "vault-admin".into()],
            ..Default::default()
        };
        assert!(
            Settings::resolve(&a, &env(&[("VAULT_ADDR", "http://x")])).is_ok(),
            "default comes with every mint"
        );
        let e = env(&[
            ("VAULT_ADDR", "http://x"),
            ("VAULT_TOKEN_RENEW_REQUIRE_POLICIES", "root"),
        ]);
        assert!(
            Settings::resolve(&no_config(), &e).is_ok(),
            "nothing minted, nothing to contradict: renew-only setups keep working"
        );
    }

    #[test]
    fn empty_policy_names_are_a_usage_error() {
        for (var, value) in [
            ("VAULT_TOKEN_RENEW_REQUIRE_POLICIES", ",,"),
            ("VAULT_TOKEN_RENEW_POLICIES", "vault-admin,"),
            ("VAULT_TOKEN_RENEW_POLICIES", " "),
        ] {
            let err = Settings::resolve(
                &no_config(),
                &env(&[("VAULT_ADDR", "http://x"), (var, value)]),
            )
            .unwrap_err()
            .to_string();
            assert!(err.starts_with(&format!("${var}")), "{err}");
            assert!(err.contains("empty policy name"), "{err}");
        }
    }

    #[test]
    fn token_role_comes_from_flag_env_or_file_and_must_be_a_name() {
        let e = env(&[
            ("VAULT_ADDR", "http://x"),
            ("VAULT_TOKEN_RENEW_TOKEN_ROLE", "devvm"),
        ]);
        assert_eq!(
            Settings::resolve(&no_config(), &e)
                .unwrap()
                .token_role
                .as_deref(),
            Some("devvm")
        );
        let a = GlobalArgs {
            token_role: Some("a/../b".into()),
            ..Default::default()
        };
        let err = Settings::resolve(&a, &e).unwrap_err().to_string();
        assert!(err.starts_with("--token-role"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "vault_addr = \"http://x\"\ntoken_role = \"from-file\"\n",
        )
        .unwrap();
        let a = GlobalArgs {
            config: Some(path),
            ..Default::default()
        };
        assert_eq!(
            Settings::resolve(&a, &env(&[]))
                .unwrap()
                .token_role
                .as_deref(),
            Some("from-file")
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let err = Settings::resolve(&no_config(), &env(&[("VAULT_ADDR", "ftp://x")])).unwrap_err();
        assert!(err.to_string().starts_with("$VAULT_ADDR"), "{err}");
        let a = GlobalArgs {
            period: Some("forever".into()),
            ..Default::default()
        };
        let err = Settings::resolve(&a, &env(&[("VAULT_ADDR", "http://x")])).unwrap_err();
        assert!(err.to_string().starts_with("--period"), "{err}");
        let err = Settings::resolve(
            &no_config(),
            &env(&[("VAULT_ADDR", "http://x"), ("VAULT_SKIP_VERIFY", "maybe")]),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("$VAULT_SKIP_VERIFY"), "{err}");
    }

    #[test]
    fn explicit_config_file_must_exist() {
        let err = Settings::resolve(&args(), &env(&[("VAULT_ADDR", "http://x")])).unwrap_err();
        assert!(err.to_string().contains("cannot read config file"), "{err}");
    }

    #[test]
    fn precedence_flag_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(
            f,
            "vault_addr = \"http://file:1\"\nperiod = \"32d\"\npolicies = [\"Vault-Admin\", \"sops-admin\"]\ndisplay_name = \"from-file\"\ntoken_file = \"~/tok\""
        )
        .unwrap();
        let a = GlobalArgs {
            config: Some(path.clone()),
            ..Default::default()
        };
        let s = Settings::resolve(&a, &env(&[])).unwrap();
        assert_eq!(s.vault_addr.as_str(), "http://file:1/");
        assert_eq!(s.period, Duration::from_secs(32 * 86400));
        assert_eq!(s.policies, ["vault-admin", "sops-admin"]);
        assert_eq!(
            s.require_policies, s.policies,
            "required defaults to the minted policies"
        );
        assert_eq!(s.token_file, PathBuf::from("/home/alice/tok"));

        let e = env(&[
            ("VAULT_TOKEN_RENEW_DISPLAY_NAME", "from-env"),
            ("VAULT_TOKEN_RENEW_POLICIES", "a, b"),
        ]);
        let s = Settings::resolve(&a, &e).unwrap();
        assert_eq!(s.display_name, "from-env");
        assert_eq!(s.policies, ["a", "b"]);

        let a = GlobalArgs {
            config: Some(path),
            display_name: Some("from-flag".into()),
            require_policies: vec!["a".into()],
            ..Default::default()
        };
        let s = Settings::resolve(&a, &e).unwrap();
        assert_eq!(s.display_name, "from-flag");
        assert_eq!(s.require_policies, ["a"]);
    }

    const TWO_PROFILES: &str = r#"
vault_addr = "https://work.example:8200"
display_name = "devvm-alice"
policies = ["vault-admin"]
state_dir = "~/state"
metrics_file = "/m/vtr.prom"
on_failure = "notify-send top"

[profiles.lab]
vault_addr = "http://lab.example:8200"
token_file = "~/.vault-token-lab"
period = "48h"
"#;

    fn with_config(text: &str, profile: Option<&str>) -> (tempfile::TempDir, GlobalArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let args = GlobalArgs {
            config: Some(path),
            profile: profile.map(str::to_owned),
            ..Default::default()
        };
        (dir, args)
    }

    #[test]
    fn a_profile_takes_its_table_over_the_top_level_and_keeps_its_own_files() {
        let (_dir, a) = with_config(TWO_PROFILES, Some("lab"));
        let s = Settings::resolve(&a, &env(&[])).unwrap();
        assert_eq!(s.profile, "lab");
        assert_eq!(s.vault_addr.as_str(), "http://lab.example:8200/");
        assert_eq!(s.token_file, PathBuf::from("/home/alice/.vault-token-lab"));
        assert_eq!(s.period, Duration::from_secs(48 * 3600));
        // Inherited from the top level.
        assert_eq!(s.display_name, "devvm-alice");
        assert_eq!(s.policies, ["vault-admin"]);
        assert_eq!(s.on_failure.as_deref(), Some("notify-send top"));
        // Never shared: state and metrics of its own, beside the top level's.
        assert_eq!(s.state_dir, PathBuf::from("/home/alice/state/profiles/lab"));
        assert_eq!(s.metrics_file, Some(PathBuf::from("/m/vtr-lab.prom")));
        assert!(matches!(
            s.origins.get("vault_addr"),
            Some(Origin::ProfileKey("vault_addr", p, _)) if p == "lab"
        ));

        let (_dir, a) = with_config(TWO_PROFILES, None);
        let s = Settings::resolve(&a, &env(&[])).unwrap();
        assert_eq!(s.profile, "default");
        assert_eq!(s.vault_addr.as_str(), "https://work.example:8200/");
        assert_eq!(s.token_file, PathBuf::from("/home/alice/.vault-token"));
        assert_eq!(s.state_dir, PathBuf::from("/home/alice/state"));
        assert_eq!(s.metrics_file, Some(PathBuf::from("/m/vtr.prom")));
    }

    #[test]
    fn a_profile_key_outranks_the_environment_which_outranks_the_top_level() {
        let (_dir, a) = with_config(TWO_PROFILES, None);
        let e = env(&[
            ("VAULT_ADDR", "http://from-env:1"),
            ("VAULT_TOKEN_RENEW_PROFILE", "lab"),
            ("VAULT_TOKEN_RENEW_DISPLAY_NAME", "env-name"),
            ("VAULT_TOKEN_PATH", "/tmp/env-token"),
            ("VAULT_TOKEN_RENEW_STATE_DIR", "/tmp/env-state"),
        ]);
        let s = Settings::resolve(&a, &e).unwrap();
        assert_eq!(s.profile, "lab", "the environment selects the profile");
        assert_eq!(s.vault_addr.as_str(), "http://lab.example:8200/");
        assert_eq!(s.display_name, "env-name", "env beats the top level");
        assert_eq!(s.token_file, PathBuf::from("/home/alice/.vault-token-lab"));
        assert_eq!(s.state_dir, PathBuf::from("/home/alice/state/profiles/lab"));
        let flagged = GlobalArgs {
            vault_addr: Some("http://flag:1".into()),
            ..a
        };
        let s = Settings::resolve(&flagged, &e).unwrap();
        assert_eq!(s.vault_addr.as_str(), "http://flag:1/", "a flag beats all");
    }

    #[test]
    fn profile_mistakes_are_usage_errors_that_say_what_to_fix() {
        let (_dir, a) = with_config(TWO_PROFILES, Some("prod"));
        let err = Settings::resolve(&a, &env(&[])).unwrap_err().to_string();
        assert!(err.contains("no profile `prod`"), "{err}");
        assert!(err.contains("default, lab"), "names the known ones: {err}");

        let (_dir, a) = with_config(TWO_PROFILES, Some("Lab/x"));
        let err = Settings::resolve(&a, &env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("--profile") && err.contains("not a profile name"),
            "{err}"
        );

        let no_file = "vault_addr = \"http://x\"\n[profiles.lab]\nperiod = \"48h\"\n";
        let (_dir, a) = with_config(no_file, Some("lab"));
        let err = Settings::resolve(&a, &env(&[("VAULT_TOKEN_PATH", "/t")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[profiles.lab]") && err.contains("token_file"),
            "{err}"
        );

        let shared = "vault_addr = \"http://x\"\n[profiles.lab]\ntoken_file = \"~/.vault-token\"\n";
        for profile in [None, Some("lab")] {
            let (_dir, a) = with_config(shared, profile);
            let err = Settings::resolve(&a, &env(&[])).unwrap_err().to_string();
            assert!(err.contains("same token file"), "{profile:?}: {err}");
        }

        for (text, says) in [
            ("[profiles.lab]\ntoken_fil = \"x\"\n", "token_fil"),
            ("[profiles.Lab]\ntoken_file = \"x\"\n", "not a profile name"),
            (
                "[profiles.lab.profiles.x]\ntoken_file = \"x\"\n",
                "do not nest",
            ),
            (
                "[profiles.default]\ntoken_file = \"x\"\n",
                "put its keys at the top level",
            ),
        ] {
            let (_dir, a) = with_config(text, None);
            let err = Settings::resolve(&a, &env(&[("VAULT_ADDR", "http://x")]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn metrics_file_is_opt_in_and_expands_home() {
        let e = env(&[("VAULT_ADDR", "http://x")]);
        assert_eq!(
            Settings::resolve(&no_config(), &e).unwrap().metrics_file,
            None
        );
        let e = env(&[
            ("VAULT_ADDR", "http://x"),
            ("VAULT_TOKEN_RENEW_METRICS_FILE", "~/m/vtr.prom"),
        ]);
        assert_eq!(
            Settings::resolve(&no_config(), &e).unwrap().metrics_file,
            Some(PathBuf::from("/home/alice/m/vtr.prom"))
        );
        let a = GlobalArgs {
            metrics_file: Some("/flag.prom".into()),
            ..Default::default()
        };
        assert_eq!(
            Settings::resolve(&a, &e).unwrap().metrics_file,
            Some(PathBuf::from("/flag.prom"))
        );
    }

    #[test]
    fn client_cert_needs_key() {
        let a = GlobalArgs {
            client_cert: Some("/c.pem".into()),
            ..Default::default()
        };
        let err = Settings::resolve(&a, &env(&[("VAULT_ADDR", "http://x")])).unwrap_err();
        assert!(err.to_string().contains("--client-key"), "{err}");
    }

    #[test]
    fn policy_names_with_commas_are_rejected() {
        let a = GlobalArgs {
            policies: vec!["a,b".into()],
            ..Default::default()
        };
        let err = Settings::resolve(&a, &env(&[("VAULT_ADDR", "http://x")])).unwrap_err();
        assert!(err.to_string().starts_with("--policy"), "{err}");
    }
}
