//! `vault-token-renew install` / `uninstall`: the deploy for people without Nix. Writes the config
//! file and the units rendered from `units/units.json` (the same data the home-manager module uses),
//! then asks the user manager to load and start them and enables linger so they run with nobody
//! logged in. Every step converges on the requested state, so running it twice changes nothing.
//!
//! Config policy (src/install_config.rs): the config file is the user's. Keys the flags do not
//! mention are kept as written (and when only new keys are added, they are inserted as lines, so
//! comments survive). A flag that would change a key the file already sets is refused (exit 2,
//! naming the key and both values) unless `--force`, which rewrites the file from the merged keys.
//!
//! `--profile NAME` does the same for a named profile (src/install_profile.rs): its keys go to
//! `[profiles.NAME]`, its units are `vault-token-renew@NAME.*`, and the other profiles' are left
//! alone.

use crate::cli::{GlobalArgs, InstallArgs, UninstallArgs};
use crate::install_config::ConfigPlan;
use crate::install_profile;
use crate::settings::Settings;
use crate::unit_options::{self, UnitOptions};
use crate::units::{self, Params};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The outside world `install` acts on; `from_process` in production, built by hand in tests.
#[derive(Debug, Clone)]
pub struct Env {
    pub home: PathBuf,
    pub xdg_config_home: Option<PathBuf>,
    pub xdg_runtime_dir: Option<PathBuf>,
    pub user: String,
    pub uid: u32,
    /// Absolute path of this binary, for `ExecStart=`.
    pub bin: PathBuf,
    /// `PATH` for finding `systemctl` and `loginctl` (`None`: inherit).
    pub path: Option<OsString>,
    /// Where logind keeps its linger markers.
    pub linger_dir: PathBuf,
    /// `VAULT_ADDR`/`BAO_ADDR`: the service does not inherit the shell, so install records it.
    pub vault_addr: Option<String>,
    pub cwd: PathBuf,
}

impl Env {
    pub fn from_process() -> Result<Env, InstallError> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from).ok_or_else(|| {
            InstallError::Usage(
                "HOME is not set; run install as the user who owns the token".into(),
            )
        })?;
        let user = var("USER")
            .or_else(|| var("LOGNAME"))
            .and_then(|u| u.into_string().ok())
            .or_else(|| {
                let out = Command::new("id").arg("-un").output().ok()?;
                let name = String::from_utf8(out.stdout).ok()?.trim().to_owned();
                (out.status.success() && !name.is_empty()).then_some(name)
            })
            .ok_or_else(|| InstallError::Usage("cannot tell the user name: set USER".into()))?;
        let bin = std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .map_err(|e| {
                InstallError::Io(format!(
                    "cannot find this binary's own path ({e}); run it by absolute path"
                ))
            })?;
        Ok(Env {
            home,
            xdg_config_home: var("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute()),
            xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
            user,
            uid: rustix::process::getuid().as_raw(),
            bin,
            path: None,
            linger_dir: PathBuf::from("/var/lib/systemd/linger"),
            // The same choice as the settings: BAO_ADDR when present, else VAULT_ADDR.
            vault_addr: var(&crate::settings::cli_var_name("ADDR", |n| {
                std::env::var_os(n).is_some()
            }))
            .and_then(|v| v.into_string().ok())
            .filter(|v| !v.is_empty()),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        })
    }

    fn config_home(&self) -> PathBuf {
        self.xdg_config_home
            .clone()
            .unwrap_or_else(|| self.home.join(".config"))
    }

    pub fn unit_dir(&self) -> PathBuf {
        self.config_home().join("systemd/user")
    }

    /// The config file the service reads: it runs without `--config`, so this is the only one.
    pub fn config_path(&self) -> PathBuf {
        self.config_home().join("vault-token-renew/config.toml")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// Bad flags or a config conflict: nothing was changed.
    #[error("{0}")]
    Usage(String),
    /// A file could not be written or a command failed.
    #[error("{0}")]
    Io(String),
}

impl InstallError {
    pub fn exit_code(&self) -> i32 {
        match self {
            InstallError::Usage(_) => 2,
            InstallError::Io(_) => 4,
        }
    }
}

/// Keys whose values are paths: a relative one is made absolute, since the service runs elsewhere.
const PATH_KEYS: [&str; 8] = [
    "token_file",
    "log_file",
    "state_dir",
    "metrics_file",
    "ca_cert",
    "ca_path",
    "client_cert",
    "client_key",
];

/// Settings given as flags, as config-file keys. Built by the CLI from its global flags.
pub type Requested = toml::Table;

/// The settings flags given on the command line, as config-file keys (unset flags are absent).
pub fn requested_from(global: &GlobalArgs) -> Requested {
    let mut t = Requested::new();
    let mut put = |key: &str, value: Option<toml::Value>| {
        if let Some(v) = value {
            t.insert(key.to_owned(), v);
        }
    };
    let s = |v: &Option<String>| v.clone().map(toml::Value::String);
    let p = |v: &Option<PathBuf>| {
        v.as_ref()
            .map(|p| toml::Value::String(p.to_string_lossy().into_owned()))
    };
    let list = |v: &Vec<String>| {
        (!v.is_empty())
            .then(|| toml::Value::Array(v.iter().cloned().map(toml::Value::String).collect()))
    };
    put("vault_addr", s(&global.vault_addr));
    put("token_file", p(&global.token_file));
    put("display_name", s(&global.display_name));
    put("policies", list(&global.policies));
    put("require_policies", list(&global.require_policies));
    put("token_role", s(&global.token_role));
    put("period", s(&global.period));
    put("log_file", p(&global.log_file));
    put("state_dir", p(&global.state_dir));
    put("ca_cert", p(&global.ca_cert));
    put("ca_path", p(&global.ca_path));
    put("client_cert", p(&global.client_cert));
    put("client_key", p(&global.client_key));
    put("tls_server_name", s(&global.tls_server_name));
    put(
        "tls_skip_verify",
        global.tls_skip_verify.then_some(toml::Value::Boolean(true)),
    );
    put("namespace", s(&global.namespace));
    put("timeout", s(&global.timeout));
    put(
        "retries",
        global.retries.map(|n| toml::Value::Integer(n.into())),
    );
    put("metrics_file", p(&global.metrics_file));
    put(
        "sweep_concurrency",
        global
            .sweep_concurrency
            .map(|n| toml::Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))),
    );
    t
}

/// Client settings a shell often exports that the service will not see; install names them.
const UNSEEN_ENV: [(&str, &str); 7] = [
    ("VAULT_CACERT", "--ca-cert"),
    ("VAULT_CAPATH", "--ca-path"),
    ("VAULT_CLIENT_CERT", "--client-cert"),
    ("VAULT_CLIENT_KEY", "--client-key"),
    ("VAULT_TLS_SERVER_NAME", "--tls-server-name"),
    ("VAULT_SKIP_VERIFY", "--tls-skip-verify"),
    ("VAULT_NAMESPACE", "--namespace"),
];

/// `vault-token-renew install` as the CLI runs it: the real environment, output on stdout.
pub fn cli_install(args: &InstallArgs, global: &GlobalArgs) -> ExitCode {
    let result = Env::from_process().and_then(|env| {
        if let Some(config) = &global.config
            && *config != env.config_path()
        {
            return Err(InstallError::Usage(format!(
                "install writes the config the service reads, {}; the service runs without --config, so \
                 --config {} would not be seen. Drop --config",
                env.config_path().display(),
                config.display()
            )));
        }
        let requested = requested_from(global);
        for (var, flag) in UNSEEN_ENV {
            let bao = var.replacen("VAULT_", "BAO_", 1);
            if std::env::var_os(var).is_some() || std::env::var_os(&bao).is_some() {
                println!("note: {var} is set in this shell, but the service will not see it; pass {flag} to record it");
            }
        }
        let profile = selected_profile(global)?;
        install(args, &requested, &profile, &env, &mut std::io::stdout())
    });
    finish(result)
}

/// `vault-token-renew uninstall` as the CLI runs it.
pub fn cli_uninstall(args: &UninstallArgs, global: &GlobalArgs) -> ExitCode {
    finish(Env::from_process().and_then(|env| {
        let profile = selected_profile(global)?;
        uninstall(args, &profile, &env, &mut std::io::stdout())
    }))
}

/// `--profile`, else `VAULT_TOKEN_RENEW_PROFILE`, else the default profile, as for every command.
fn selected_profile(global: &GlobalArgs) -> Result<String, InstallError> {
    crate::settings::selected_profile(global, &crate::settings::Env::from_process())
        .map_err(|e| InstallError::Usage(e.to_string()))
}

fn finish(result: Result<(), InstallError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vault-token-renew: {e}");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

/// Checks that the service can resolve its settings from `text` alone (it sees HOME, not the
/// shell's VAULT_* variables), so install never leaves a config the timer would trip over.
fn validate_config(
    text: &str,
    profile: &str,
    home: &Path,
    path: &Path,
) -> Result<(), InstallError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let candidate = std::env::temp_dir().join(format!(
        "vault-token-renew-config-{}-{nanos}.toml",
        std::process::id()
    ));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&candidate)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&candidate);
        return Err(InstallError::Io(format!(
            "cannot write a temporary file in {}: {e}",
            std::env::temp_dir().display()
        )));
    }
    let args = GlobalArgs {
        config: Some(candidate.clone()),
        profile: Some(profile.to_owned()),
        ..Default::default()
    };
    let env = crate::settings::Env {
        vars: [("HOME".to_owned(), home.to_string_lossy().into_owned())].into(),
        hostname: "localhost".into(),
    };
    let result = Settings::resolve(&args, &env);
    let _ = std::fs::remove_file(&candidate);
    result.map(drop).map_err(|e| {
        InstallError::Usage(format!(
            "the config install would write to {} is not usable: {}; nothing was changed",
            path.display(),
            e.to_string()
                .replace(&candidate.display().to_string(), "it")
        ))
    })
}

/// Runs a command or, on a dry run, says it would.
struct Runner<'a> {
    env: &'a Env,
    dry_run: bool,
}

impl Runner<'_> {
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args);
        if let Some(path) = &self.env.path {
            cmd.env("PATH", path);
        }
        // `systemctl --user` finds the manager through XDG_RUNTIME_DIR, which `su`/`runuser` and
        // some SSH setups leave unset; this is the path logind gives it.
        if self.env.xdg_runtime_dir.is_none() {
            cmd.env("XDG_RUNTIME_DIR", format!("/run/user/{}", self.env.uid));
        }
        cmd
    }

    /// Runs `program args`, returning its stderr (trimmed) as the error when it fails.
    fn run(&self, out: &mut dyn Write, program: &str, args: &[&str]) -> Result<(), String> {
        let shown = format!("{program} {}", args.join(" "));
        if self.dry_run {
            let _ = writeln!(out, "would run: {shown}");
            return Ok(());
        }
        let _ = writeln!(out, "running: {shown}");
        let output = self
            .command(program, args)
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            Err(format!("`{shown}` failed ({}): {stderr}", output.status))
        }
    }
}

/// Writes `text` to `path` atomically (temp file in the same directory, fsync, rename), so a
/// crash never leaves a half-written unit or config behind.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        // Fresh, never through a planted link, 0644 whatever the umask (the config check refuses
        // a group-writable config).
        let mut f = crate::localfile::create_temp(&tmp, 0o644)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Everything `install` decided before it changes anything, so a refusal leaves no half-install.
struct Plan {
    config: ConfigPlan,
    /// The config file's text now, for the dry run's diff.
    config_before: Option<String>,
    options: UnitOptions,
    /// The profile's unit names.
    names: units::Names,
    units: Vec<units::Unit>,
    /// Installed with --watch before, not now: the path unit goes.
    stale_path_unit: bool,
}

/// `vault-token-renew install`.
pub fn install(
    args: &InstallArgs,
    requested: &Requested,
    profile: &str,
    env: &Env,
    out: &mut dyn Write,
) -> Result<(), InstallError> {
    let plan = plan(args, requested, profile, env, out)?;
    note_xdg_config_home(env, out);
    let changed = write_files(&plan, args, env, out)?;
    install_docs(env, args.dry_run, out)?;
    let runner = Runner {
        env,
        dry_run: args.dry_run,
    };
    enable_linger(&runner, args, env, out);
    start_units(&runner, &plan, &changed, args.dry_run, env, out)?;
    let status = match profile {
        crate::profile::DEFAULT => "vault-token-renew status".to_owned(),
        name => format!("vault-token-renew --profile {name} status"),
    };
    let _ = writeln!(
        out,
        "{}: check with `systemctl --user list-timers {}` and `{status}`",
        if args.dry_run {
            "dry run, nothing changed"
        } else {
            "installed"
        },
        plan.names.timer
    );
    Ok(())
}

fn plan(
    args: &InstallArgs,
    requested: &Requested,
    profile: &str,
    env: &Env,
    out: &mut dyn Write,
) -> Result<Plan, InstallError> {
    let config_path = env.config_path();
    let unit_dir = env.unit_dir();
    let names = units::Names::of(profile);
    refuse_foreign_units(&unit_dir, &names)?;
    let installed = UnitOptions::installed_for(&unit_dir, &names);
    let options = unit_options::merge(installed.as_ref(), &args.units, args.force)
        .map_err(InstallError::Usage)?;

    let mut requested = absolute_paths(requested, &env.cwd);
    if let Some(cmd) = &args.on_failure {
        requested.insert("on_failure".into(), toml::Value::String(cmd.clone()));
    }
    let existing = read_config(&config_path)?;
    let existing_table: toml::Table = existing
        .as_deref()
        .and_then(|t| toml::from_str(t).ok())
        .unwrap_or_default();
    if !requested.contains_key("vault_addr")
        && !install_profile::has_vault_addr(profile, &existing_table)
    {
        requested.insert("vault_addr".into(), address_from_shell(env, out)?);
    }
    let token_file = install_profile::token_file(profile, &requested, &existing_table, &env.home)
        .map_err(InstallError::Usage)?;
    let config = crate::install_config::plan(
        existing.as_deref(),
        &requested,
        profile,
        args.force,
        &config_path,
    )
    .map_err(InstallError::Usage)?;
    let final_text = match &config {
        ConfigPlan::Unchanged => existing.as_deref().unwrap_or_default(),
        ConfigPlan::Write(text, _) => text.as_str(),
    };
    validate_config(final_text, profile, &env.home, &config_path)?;

    let params = Params {
        bin: env.bin.clone(),
        schedule: options.schedule.clone(),
        randomized_delay: options.randomized_delay.clone(),
        persistent: options.persistent,
        token_file,
        profile: profile.to_owned(),
    };
    let units: Vec<_> = units::render(&params)
        .map_err(|e| InstallError::Usage(e.to_string()))?
        .into_iter()
        .filter(|u| options.watch || u.name != names.path)
        .collect();
    Ok(Plan {
        config,
        config_before: existing,
        stale_path_unit: !options.watch && unit_dir.join(&names.path).exists(),
        options,
        names,
        units,
    })
}

/// The config file's text, None when there is none yet.
fn read_config(path: &Path) -> Result<Option<String>, InstallError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(InstallError::Io(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The shell's VAULT_ADDR/BAO_ADDR, recorded because the service does not see the shell.
fn address_from_shell(env: &Env, out: &mut dyn Write) -> Result<toml::Value, InstallError> {
    let addr = env.vault_addr.clone().ok_or_else(|| InstallError::Usage(
        "install needs the server address for the service: pass --vault-addr URL (or set VAULT_ADDR)".into(),
    ))?;
    let _ = writeln!(
        out,
        "recording the server address from VAULT_ADDR/BAO_ADDR ({addr}): the service does not see your shell's environment"
    );
    Ok(toml::Value::String(addr))
}

/// A relative path flag is made absolute: the service runs elsewhere.
fn absolute_paths(requested: &Requested, cwd: &Path) -> Requested {
    let mut requested = requested.clone();
    for key in PATH_KEYS {
        if let Some(toml::Value::String(v)) = requested.get(key)
            && !v.starts_with('~')
            && Path::new(v).is_relative()
        {
            let abs = cwd.join(v).to_string_lossy().into_owned();
            requested.insert(key.to_owned(), toml::Value::String(abs));
        }
    }
    requested
}

fn refuse_foreign_units(unit_dir: &Path, names: &units::Names) -> Result<(), InstallError> {
    for name in [
        &names.service,
        &names.timer,
        &names.path,
        units::FAILURE_TEMPLATE,
    ] {
        let path = unit_dir.join(name);
        if path
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(InstallError::Usage(format!(
                "{} is a symlink, so something else manages it (home-manager's module?); use one deploy, not both: \
                 remove that configuration first, or keep using it instead of install",
                path.display()
            )));
        }
    }
    Ok(())
}

fn note_xdg_config_home(env: &Env, out: &mut dyn Write) {
    if let Some(dir) = &env.xdg_config_home
        && *dir != env.home.join(".config")
    {
        let _ = writeln!(
            out,
            "note: XDG_CONFIG_HOME is {}; the user manager looks for units there (and the service for its \
             config) only if its own environment has it: check `systemctl --user show-environment`",
            dir.display()
        );
    }
}

fn io_error(what: &Path, e: std::io::Error) -> InstallError {
    InstallError::Io(format!("cannot write {}: {e}", what.display()))
}

/// Writes the config and the units (a dry run shows a diff of each); returns the names of the
/// units that existed and changed.
fn write_files(
    plan: &Plan,
    args: &InstallArgs,
    env: &Env,
    out: &mut dyn Write,
) -> Result<Vec<String>, InstallError> {
    let config_path = env.config_path();
    match &plan.config {
        ConfigPlan::Unchanged => {
            let _ = writeln!(out, "unchanged: {}", config_path.display());
        }
        ConfigPlan::Write(text, why) if args.dry_run => {
            let _ = writeln!(out, "would write {} ({why}):", config_path.display());
            let _ = write!(
                out,
                "{}",
                crate::textdiff::unified(plan.config_before.as_deref().unwrap_or_default(), text)
            );
        }
        ConfigPlan::Write(text, why) => {
            // A symlinked config (dotfiles) is written through, so the link survives.
            let target = std::fs::canonicalize(&config_path).unwrap_or(config_path.clone());
            write_atomic(&target, text).map_err(|e| io_error(&target, e))?;
            let _ = writeln!(out, "wrote {} ({why})", config_path.display());
        }
    }
    let mut changed = Vec::new();
    for unit in &plan.units {
        let path = env.unit_dir().join(&unit.name);
        let before = std::fs::read_to_string(&path).ok();
        if before.as_deref() == Some(unit.text.as_str()) {
            let _ = writeln!(out, "unchanged: {}", path.display());
            continue;
        }
        if args.dry_run {
            let _ = writeln!(out, "would write {}:", path.display());
            let _ = write!(
                out,
                "{}",
                crate::textdiff::unified(before.as_deref().unwrap_or_default(), &unit.text)
            );
        } else {
            write_atomic(&path, &unit.text).map_err(|e| io_error(&path, e))?;
            let _ = writeln!(out, "wrote {}", path.display());
        }
        if before.is_some() {
            changed.push(unit.name.clone());
        }
    }
    Ok(changed)
}

/// Linger first: it starts the user manager if this is not a login session (e.g. `sudo -iu`).
fn enable_linger(runner: &Runner, args: &InstallArgs, env: &Env, out: &mut dyn Write) {
    if args.no_linger {
        let _ = writeln!(
            out,
            "linger not enabled (--no-linger): the timer runs only while {} is logged in",
            env.user
        );
    } else if env.linger_dir.join(&env.user).exists() {
        let _ = writeln!(out, "linger already enabled for {}", env.user);
    } else {
        match runner.run(out, "loginctl", &["enable-linger", &env.user]) {
            // logind starts the user manager asynchronously; outside a login session it is not
            // there yet, and systemctl would fail with "Failed to connect to bus".
            Ok(()) if !args.dry_run => wait_for_manager(env, out),
            Ok(()) => {}
            Err(e) => {
                let _ = writeln!(
                    out,
                    "warning: could not enable linger ({e}).\n  Without it the timer runs only while {user} is logged in. Ask an admin to run:\n    sudo loginctl enable-linger {user}",
                    user = env.user
                );
            }
        }
    }
}

/// The user manager: drop a stale path unit, reload, enable, restart what changed.
fn start_units(
    runner: &Runner,
    plan: &Plan,
    changed: &[String],
    dry_run: bool,
    env: &Env,
    out: &mut dyn Write,
) -> Result<(), InstallError> {
    let systemctl = |args: &[&str], out: &mut dyn Write| -> Result<(), InstallError> {
        let mut full = vec!["--user"];
        full.extend_from_slice(args);
        runner.run(out, "systemctl", &full).map_err(|e| {
            InstallError::Io(format!(
                "{e}\nThe files are in place; the user manager did not take them. If it is not running (no \
                 login session, no linger), log in or enable linger, then rerun `vault-token-renew install`."
            ))
        })
    };
    if plan.stale_path_unit {
        // Installed with --watch before, and --no-watch --force now: stop watching, drop the file.
        systemctl(&["disable", "--now", &plan.names.path], out)?;
        let path = env.unit_dir().join(&plan.names.path);
        if dry_run {
            let _ = writeln!(out, "would remove {}", path.display());
        } else {
            std::fs::remove_file(&path).map_err(|e| io_error(&path, e))?;
            let _ = writeln!(out, "removed {} (--no-watch)", path.display());
        }
    }
    systemctl(&["daemon-reload"], out)?;
    let mut enable = vec!["enable", "--now", plan.names.timer.as_str()];
    if plan.options.watch {
        enable.push(&plan.names.path);
    }
    systemctl(&enable, out)?;
    // A changed timer or path unit that was already running keeps its old schedule/watch until restarted.
    let restart: Vec<&str> = changed
        .iter()
        .map(String::as_str)
        .filter(|n| *n == plan.names.timer || *n == plan.names.path)
        .collect();
    if !restart.is_empty() {
        let mut args = vec!["restart"];
        args.extend(restart);
        systemctl(&args, out)?;
    }
    Ok(())
}

/// Where man-db (through `~/.local/bin` on PATH) and the shells look for a user's own man pages
/// and completions.
fn doc_dirs(env: &Env) -> [(PathBuf, Option<crate::generate::Shell>); 4] {
    let data = env.home.join(".local/share");
    [
        (data.join("man/man1"), None),
        (
            data.join("bash-completion/completions"),
            Some(crate::generate::Shell::Bash),
        ),
        (
            data.join("fish/vendor_completions.d"),
            Some(crate::generate::Shell::Fish),
        ),
        // Not on zsh's default fpath: install says how to add it.
        (
            data.join("zsh/site-functions"),
            Some(crate::generate::Shell::Zsh),
        ),
    ]
}

/// The man pages and shell completions, generated from the same clap definition as `--help`.
/// Generated into a scratch directory first, so an identical reinstall writes nothing.
fn install_docs(env: &Env, dry_run: bool, out: &mut dyn Write) -> Result<(), InstallError> {
    let io = |what: &Path, e: std::io::Error| {
        InstallError::Io(format!("cannot write {}: {e}", what.display()))
    };
    let scratch = std::env::temp_dir().join(format!(
        "vault-token-renew-docs-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let result = (|| {
        for (dir, shell) in doc_dirs(env) {
            let _ = std::fs::remove_dir_all(&scratch);
            let generated = match shell {
                None => crate::generate::write_man_pages(&scratch).map(drop),
                Some(shell) => crate::generate::write_completions(shell, &scratch).map(drop),
            };
            generated.map_err(|e| InstallError::Io(format!("{e:#}")))?;
            let mut written = 0;
            for file in std::fs::read_dir(&scratch).map_err(|e| io(&scratch, e))? {
                let file = file.map_err(|e| io(&scratch, e))?.path();
                let target = dir.join(file.file_name().unwrap_or_default());
                let text = std::fs::read_to_string(&file).map_err(|e| io(&file, e))?;
                if std::fs::read_to_string(&target).is_ok_and(|t| t == text) {
                    continue;
                }
                written += 1;
                if !dry_run {
                    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
                    write_atomic(&target, &text).map_err(|e| io(&target, e))?;
                }
            }
            let what = shell.map_or("man pages".to_owned(), |s| format!("{s} completion"));
            let _ = match (written, dry_run) {
                (0, _) => writeln!(out, "{what} up to date in {}", dir.display()),
                (n, true) => writeln!(out, "would write {n} {what} file(s) to {}", dir.display()),
                (n, false) => writeln!(out, "wrote {n} {what} file(s) to {}", dir.display()),
            };
            if shell == Some(crate::generate::Shell::Zsh) {
                let _ = writeln!(
                    out,
                    "  zsh: add `fpath+=({})` to ~/.zshrc before compinit",
                    dir.display()
                );
            }
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Removes what `install_docs` wrote: files in those directories named after the binary.
fn uninstall_docs(env: &Env, dry_run: bool, out: &mut dyn Write) {
    for (dir, _) in doc_dirs(env) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            // `_vault-token-renew` is zsh's name for it.
            if !name
                .trim_start_matches('_')
                .starts_with(crate::generate::BIN)
            {
                continue;
            }
            if dry_run {
                let _ = writeln!(out, "would remove {}", entry.path().display());
            } else if std::fs::remove_file(entry.path()).is_ok() {
                let _ = writeln!(out, "removed {}", entry.path().display());
            }
        }
    }
}

/// Waits (up to 10 s) for the user manager's private socket, which linger has just asked for.
fn wait_for_manager(env: &Env, out: &mut dyn Write) {
    let runtime = env
        .xdg_runtime_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/run/user/{}", env.uid)));
    let socket = runtime.join("systemd/private");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !socket.exists() {
        if std::time::Instant::now() > deadline {
            let _ = writeln!(
                out,
                "note: the user manager has not appeared at {} yet",
                socket.display()
            );
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `vault-token-renew uninstall`: stops and removes the profile's units install wrote. The
/// token file, the config, the log and linger are left alone (linger may serve other units);
/// so are the other profiles' units, and with them what all profiles share (the failure hook
/// template, man pages, completions), which goes with the last profile.
pub fn uninstall(
    args: &UninstallArgs,
    profile: &str,
    env: &Env,
    out: &mut dyn Write,
) -> Result<(), InstallError> {
    let runner = Runner {
        env,
        dry_run: args.dry_run,
    };
    let unit_dir = env.unit_dir();
    let others = install_profile::other_installed_profiles(&unit_dir, profile);
    let mut candidates = install_profile::own_units(profile).to_vec();
    if others.is_empty() {
        candidates.push(units::FAILURE_TEMPLATE.to_owned());
    }
    let ours = removable(&unit_dir, &candidates, out);
    if ours.is_empty() {
        let _ = writeln!(
            out,
            "nothing to uninstall: no units of profile {profile} in {}",
            unit_dir.display()
        );
        return Ok(());
    }
    let names = units::Names::of(profile);
    let manager_ok = disable_units(&runner, &names, &ours, &unit_dir, args.dry_run, out);
    if manager_ok {
        // Forget a failed state, so `systemctl --user --failed` stops listing units that are gone.
        let mut reset = vec!["--user", "reset-failed", names.service.as_str()];
        if others.is_empty() {
            reset.push("vault-token-renew-failure@*");
        }
        let _ = runner.run(out, "systemctl", &reset);
    }
    for name in &ours {
        let path = unit_dir.join(name);
        if args.dry_run {
            let _ = writeln!(out, "would remove {}", path.display());
        } else {
            std::fs::remove_file(&path)
                .map_err(|e| InstallError::Io(format!("cannot remove {}: {e}", path.display())))?;
            let _ = writeln!(out, "removed {}", path.display());
        }
    }
    if others.is_empty() {
        uninstall_docs(env, args.dry_run, out);
    } else {
        let _ = writeln!(
            out,
            "kept the units of profile(s) {}, and what they share with this one (the failure hook, man pages, completions)",
            others.join(", ")
        );
    }
    if manager_ok {
        runner
            .run(out, "systemctl", &["--user", "daemon-reload"])
            .map_err(InstallError::Io)?;
    }
    let _ = writeln!(
        out,
        "{}; kept the token file, {} and the log. Linger is left as it is (`loginctl disable-linger {}` to turn it off).",
        if args.dry_run {
            "dry run, nothing changed"
        } else {
            "uninstalled"
        },
        env.config_path().display(),
        env.user
    );
    Ok(())
}

/// The `candidates` present in `unit_dir` as files of ours; a symlink belongs to something else.
fn removable(unit_dir: &Path, candidates: &[String], out: &mut dyn Write) -> Vec<String> {
    let mut ours = Vec::new();
    for name in candidates {
        let path = unit_dir.join(name);
        match path.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() => {
                let _ = writeln!(
                    out,
                    "left alone: {} is a symlink, managed by something else (home-manager?)",
                    path.display()
                );
            }
            Ok(_) => ours.push(name.clone()),
            Err(_) => {}
        }
    }
    ours
}

/// Stops and disables the profile's timer and path unit; when the user manager cannot be
/// reached, removes their enablement links by hand. Returns whether the manager answered.
fn disable_units(
    runner: &Runner,
    names: &units::Names,
    ours: &[String],
    unit_dir: &Path,
    dry_run: bool,
    out: &mut dyn Write,
) -> bool {
    let active: Vec<&str> = ours
        .iter()
        .map(String::as_str)
        .filter(|n| *n == names.timer || *n == names.path)
        .collect();
    if active.is_empty() {
        return true;
    }
    let mut a = vec!["--user", "disable", "--now"];
    a.extend(&active);
    let Err(e) = runner.run(out, "systemctl", &a) else {
        return true;
    };
    let _ = writeln!(
        out,
        "warning: {e}; removing the units' enablement links by hand instead"
    );
    for (name, target) in [
        (&names.timer, "timers.target.wants"),
        (&names.path, "paths.target.wants"),
    ] {
        let link = unit_dir.join(target).join(name);
        if link.symlink_metadata().is_ok() && !dry_run {
            let _ = std::fs::remove_file(&link);
        }
    }
    false
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
