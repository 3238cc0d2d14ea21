//! vault-token-renew: keep our periodic Vault/OpenBao token in `~/.vault-token` alive, heal an
//! admin-capable clobber, refuse a weak one. `run` is the whole program; `main.rs` only calls it.

pub mod address;
pub mod broken_config;
pub mod cli;
pub mod commands;
pub mod config;
pub mod decide;
pub mod diagnostic;
pub mod generate;
pub mod hook;
pub mod identity;
pub mod install;
pub mod install_config;
pub mod install_profile;
pub mod journal;
pub mod localfile;
pub mod lock;
pub mod manual;
pub mod metrics;
pub mod oidc;
pub mod profile;
pub mod progress;
pub mod runlog;
pub mod schedule;
pub mod secret;
pub mod settings;
pub mod state;
pub mod textdiff;
pub mod tokenfile;
pub mod trust;
pub mod unit_options;
pub mod units;
pub mod vault;
pub mod wire;

use clap::Parser;
use cli::{Cli, Command};
use commands::Context;
use settings::{Env, Settings};
use std::process::ExitCode;

/// Exit code for usage and configuration errors (nothing was changed).
pub const EXIT_USAGE: u8 = 2;

pub fn run() -> anyhow::Result<ExitCode> {
    let started = std::time::SystemTime::now();
    let cli = Cli::parse();
    init_tracing(cli.global.verbose, cli.global.quiet);
    runlog::set_quiet(cli.global.quiet);
    progress::set_quiet(cli.global.quiet);
    // Needs no settings: packagers run it in a build sandbox with no VAULT_ADDR.
    if let Some(Command::Generate(args)) = &cli.command {
        generate::run(args)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(Command::Completions { shell }) = &cli.command {
        generate::print_completions(*shell);
        return Ok(ExitCode::SUCCESS);
    }
    let env = Env::from_process();
    // Deploy commands need no server and write the settings rather than read them.
    match &cli.command {
        Some(Command::Install(args)) => return Ok(install::cli_install(args, &cli.global)),
        Some(Command::Uninstall(args)) => return Ok(install::cli_uninstall(args, &cli.global)),
        _ => {}
    }
    match every_profile(&cli, &env) {
        Ok(Some(profiles)) => run_profiles(&cli, &env, &profiles, started),
        Ok(None) => Ok(ExitCode::from(run_profile(
            &cli,
            &env,
            &cli.global,
            started,
        )?)),
        Err(usage) => {
            eprintln!("vault-token-renew: {usage}");
            Ok(ExitCode::from(EXIT_USAGE))
        }
    }
}

/// The profiles a command covers when it runs for several: `renew --all-profiles`, and `status`
/// with no profile named when the config file has `[profiles.*]`. None: one profile, as selected.
fn every_profile(cli: &Cli, env: &Env) -> Result<Option<Vec<String>>, String> {
    let named = cli.global.profile.is_some() || env.own("PROFILE").is_some();
    let all = match &cli.command {
        Some(Command::Renew(args)) if args.all_profiles => {
            let g = &cli.global;
            let per_profile = [
                ("--profile", g.profile.is_some()),
                ("--token-file", g.token_file.is_some()),
                ("--state-dir", g.state_dir.is_some()),
                ("--metrics-file", g.metrics_file.is_some()),
                ("--vault-addr", g.vault_addr.is_some()),
                ("--display-name", g.display_name.is_some()),
            ];
            if let Some((flag, _)) = per_profile.iter().find(|(_, given)| *given) {
                return Err(format!(
                    "--all-profiles runs each profile with its own settings, so {flag} would apply to all of them; drop {flag}, or renew one profile with --profile NAME {flag} …"
                ));
            }
            true
        }
        Some(Command::Status(_)) => !named,
        _ => false,
    };
    if !all {
        return Ok(None);
    }
    // A file that does not load is reported by the single-profile path, with its usual error.
    let Ok((path, required)) = settings::config_path(&cli.global, env) else {
        return Ok(None);
    };
    match config::ConfigFile::load(&path, required) {
        Ok(Some(file)) if !file.profiles.is_empty() => Ok(Some(file.configured_profiles())),
        _ => Ok(None),
    }
}

/// `renew --all-profiles` and `status` over every profile: each profile on its own settings, one
/// after another; the highest exit code wins (`status` ranks monitoring-plugin codes itself).
fn run_profiles(
    cli: &Cli,
    env: &Env,
    profiles: &[String],
    started: std::time::SystemTime,
) -> anyhow::Result<ExitCode> {
    let for_profile = |name: &String| cli::GlobalArgs {
        profile: Some(name.clone()),
        ..cli.global.clone()
    };
    if let Some(Command::Status(args)) = &cli.command {
        let mut each = Vec::new();
        for name in profiles {
            match Settings::resolve(&for_profile(name), env) {
                Ok(settings) => each.push(settings),
                Err(error) => {
                    eprintln!("vault-token-renew: profile `{name}`: {error}");
                    return Ok(ExitCode::from(EXIT_USAGE));
                }
            }
        }
        let runtime = runtime()?;
        let code = runtime.block_on(commands::status_of_profiles(&each, args));
        return Ok(ExitCode::from(code));
    }
    let mut worst = 0;
    for name in profiles {
        worst = worst.max(run_profile(cli, env, &for_profile(name), started)?);
    }
    Ok(ExitCode::from(worst))
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// One command for one profile; returns its exit code.
fn run_profile(
    cli: &Cli,
    env: &Env,
    args: &cli::GlobalArgs,
    started: std::time::SystemTime,
) -> anyhow::Result<u8> {
    let mut args = args.clone();
    // The failure template unit passes the failed unit's name; its instance is the profile.
    if let Some(Command::OnFailure { unit }) = &cli.command
        && args.profile.is_none()
        && env.own("PROFILE").is_none()
    {
        args.profile = profile::of_unit(unit).map(str::to_owned);
    }
    if let Ok(name) = settings::selected_profile(&args, env) {
        runlog::set_profile(&name);
    }
    let settings = match Settings::resolve(&args, env) {
        Ok(settings) => settings,
        Err(error) => return settings_failed(cli, &args, env, error, started),
    };
    if let Some(Command::OnFailure { unit }) = &cli.command {
        let code = hook::run(
            unit,
            settings.on_failure.as_deref(),
            &settings.log_file,
            &settings.profile,
        );
        return Ok(u8::try_from(code).unwrap_or(1));
    }
    if let Some(Command::Config) = &cli.command {
        print!("{}", commands::show_config::render(&settings));
        return Ok(0);
    }
    if settings.vault_addr.scheme() == "http" && !is_loopback(&settings.vault_addr) {
        tracing::warn!(
            "{} is plain http to a non-loopback host: tokens cross the network unencrypted; use https",
            address::shown(&settings.vault_addr)
        );
    }
    let runtime = runtime()?;
    let ctx = match Context::new(&settings) {
        Ok(ctx) => ctx,
        Err(report) => {
            finish(&report, &settings, started);
            print_result(&report, cli.global.format, &settings.profile);
            return Ok(report.outcome.exit_code());
        }
    };
    let command = match &cli.command {
        None => &Command::Renew(cli::RenewArgs::default()),
        Some(command) => command,
    };
    let report = match command {
        Command::Renew(_) => runtime.block_on(commands::renew(&ctx)),
        Command::Sweep(args) => {
            let opts = commands::SweepOptions {
                dry_run: args.dry_run,
                include_unmarked: args.include_unmarked,
            };
            let (report, plan) = runtime.block_on(commands::sweep_command(&ctx, opts));
            if opts.dry_run {
                // A dry run changes nothing, the log and the metrics included: it only answers.
                print_dry_run(&report, &plan, cli.global.format, &settings.profile);
                return Ok(report.outcome.exit_code());
            }
            report
        }
        Command::Mint(args) => runtime.block_on(commands::mint(&ctx, env, args)),
        Command::Status(args) => return Ok(runtime.block_on(commands::status(&ctx, args))),
        Command::Doctor => return Ok(runtime.block_on(commands::doctor(&ctx, env))),
        Command::Generate(_)
        | Command::Completions { .. }
        | Command::Install(_)
        | Command::Uninstall(_)
        | Command::OnFailure { .. }
        | Command::Config => {
            unreachable!("handled before the settings are resolved")
        }
    };
    finish(&report, &settings, started);
    print_result(&report, cli.global.format, &settings.profile);
    Ok(report.outcome.exit_code())
}

/// The settings did not resolve (a config typo). The failure hook still runs, with only
/// `on_failure` from the file; a renew, mint or sweep still leaves its log line and metrics, so
/// the timer's failed run is seen. Everything else is a plain usage error.
fn settings_failed(
    cli: &Cli,
    args: &cli::GlobalArgs,
    env: &Env,
    error: settings::SettingsError,
    started: std::time::SystemTime,
) -> anyhow::Result<u8> {
    // A config file others may have written is refused whole: nothing in it is obeyed, not even
    // the failure hook's command, and nothing is logged on its say-so.
    if matches!(
        error,
        settings::SettingsError::ConfigFile(config::ConfigFileError::Untrusted { .. })
    ) {
        return Err(error.into());
    }
    let profile = settings::selected_profile(args, env).unwrap_or_else(|_| profile::DEFAULT.into());
    let fallback = broken_config::Fallback::read(args, env);
    let log_file = fallback.log_file.unwrap_or_default();
    // A named profile never writes the default's metrics file; its own sits beside it.
    let metrics_file = match profile.as_str() {
        profile::DEFAULT => fallback.metrics_file,
        name => fallback
            .metrics_file
            .map(|m| profile::metrics_file(&m, name)),
    };
    let unchanged = match &cli.command {
        Some(Command::OnFailure { unit }) => {
            eprintln!(
                "warning: {error}; the failure hook runs with only `on_failure` from the config file"
            );
            let code = hook::run(unit, fallback.on_failure.as_deref(), &log_file, &profile);
            return Ok(u8::try_from(code).unwrap_or(1));
        }
        None | Some(Command::Renew(_) | Command::Mint(_)) => "the token file is unchanged",
        Some(Command::Sweep(args)) if !args.dry_run => "nothing was revoked",
        _ => return Err(error.into()),
    };
    let report = runlog::Report::new(
        runlog::Outcome::Usage,
        format!("configuration error: {error}; {unchanged}"),
    );
    record(
        &report,
        &log_file,
        metrics_file.as_deref(),
        &profile,
        started,
    );
    print_result(&report, cli.global.format, &profile);
    Ok(report.outcome.exit_code())
}

/// `--format json`: the run's result as one object on stdout, for scripts (fields only added).
fn print_result(report: &runlog::Report, format: cli::Format, profile: &str) {
    if format != cli::Format::Json {
        return;
    }
    let object = serde_json::json!({
        "result": metrics::result_label(report.outcome),
        "exit_code": report.outcome.exit_code(),
        "line": report.line(std::time::SystemTime::now()),
        "ttl_secs": report.token.map(|t| t.ttl_secs),
        "period_secs": report.token.and_then(|t| t.period_secs),
        "profile": profile,
    });
    println!("{object}");
}

/// `sweep --dry-run`: what it would revoke or keep and why, then its line; or one JSON object.
fn print_dry_run(
    report: &runlog::Report,
    plan: &[commands::sweep_plan::Planned],
    format: cli::Format,
    profile: &str,
) {
    let line = report.line(std::time::SystemTime::now());
    match format {
        cli::Format::Text => println!("{}{line}", commands::sweep_plan::text(plan)),
        cli::Format::Json => println!(
            "{}",
            serde_json::json!({
                "result": metrics::result_label(report.outcome),
                "exit_code": report.outcome.exit_code(),
                "line": line,
                "dry_run": true,
                "plan": commands::sweep_plan::json(plan),
                "profile": profile,
            })
        ),
    }
}

/// The end of every renew, mint and sweep run: the log line, then the metrics file if configured.
fn finish(report: &runlog::Report, settings: &Settings, started: std::time::SystemTime) {
    record(
        report,
        &settings.log_file,
        settings.metrics_file.as_deref(),
        &settings.profile,
        started,
    );
}

fn record(
    report: &runlog::Report,
    log_file: &std::path::Path,
    metrics_file: Option<&std::path::Path>,
    profile: &str,
    started: std::time::SystemTime,
) {
    runlog::emit(report, log_file);
    if let Some(path) = metrics_file {
        let user = metrics::user_label();
        let run = metrics::Run {
            report,
            started,
            finished: std::time::SystemTime::now(),
            user: &user,
            profile,
        };
        if let Err(e) = metrics::record(path, &run) {
            eprintln!("warning: {e}");
        }
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Diagnostics on stderr, from this crate only: dependencies' trace output is never enabled, so
/// no library can print a request header. `-v` debug, `-vv` trace; warnings by default.
fn init_tracing(verbose: u8, quiet: bool) {
    let level = match verbose {
        _ if quiet => "error",
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "{},vault_token_renew={level}",
        if quiet { "error" } else { "warn" }
    ));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(diagnostic::Plain)
        .try_init();
}
