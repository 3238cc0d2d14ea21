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
pub mod journal;
pub mod localfile;
pub mod lock;
pub mod manual;
pub mod metrics;
pub mod oidc;
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
        Some(Command::Uninstall(args)) => return Ok(install::cli_uninstall(args)),
        _ => {}
    }
    let settings = match Settings::resolve(&cli.global, &env) {
        Ok(settings) => settings,
        Err(error) => return settings_failed(&cli, &env, error, started),
    };
    if let Some(Command::OnFailure { unit }) = &cli.command {
        let code = hook::run(unit, settings.on_failure.as_deref(), &settings.log_file);
        return Ok(exit_code(code));
    }
    if let Some(Command::Config) = &cli.command {
        print!("{}", commands::show_config::render(&settings));
        return Ok(ExitCode::SUCCESS);
    }
    if settings.vault_addr.scheme() == "http" && !is_loopback(&settings.vault_addr) {
        tracing::warn!(
            "{} is plain http to a non-loopback host: tokens cross the network unencrypted; use https",
            address::shown(&settings.vault_addr)
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ctx = match Context::new(&settings) {
        Ok(ctx) => ctx,
        Err(report) => {
            finish(
                &report,
                &settings.log_file,
                settings.metrics_file.as_deref(),
                started,
            );
            print_result(&report, cli.global.format);
            return Ok(report.outcome.into());
        }
    };
    let report = match cli.command.unwrap_or(Command::Renew) {
        Command::Renew => runtime.block_on(commands::renew(&ctx)),
        Command::Sweep(args) => {
            let opts = commands::SweepOptions {
                dry_run: args.dry_run,
                include_unmarked: args.include_unmarked,
            };
            let (report, plan) = runtime.block_on(commands::sweep_command(&ctx, opts));
            if opts.dry_run {
                // A dry run changes nothing, the log and the metrics included: it only answers.
                print_dry_run(&report, &plan, cli.global.format);
                return Ok(report.outcome.into());
            }
            report
        }
        Command::Mint(args) => runtime.block_on(commands::mint(&ctx, &env, &args)),
        Command::Generate(_) | Command::Completions { .. } => {
            unreachable!("handled before the settings are resolved")
        }
        Command::Status(args) => {
            let code = runtime.block_on(commands::status(&ctx, &args));
            return Ok(ExitCode::from(code));
        }
        Command::Doctor => {
            let code = runtime.block_on(commands::doctor(&ctx, &env));
            return Ok(ExitCode::from(code));
        }
        Command::Install(_)
        | Command::Uninstall(_)
        | Command::OnFailure { .. }
        | Command::Config => {
            unreachable!("handled before the settings are resolved")
        }
    };
    finish(
        &report,
        &settings.log_file,
        settings.metrics_file.as_deref(),
        started,
    );
    print_result(&report, cli.global.format);
    Ok(report.outcome.into())
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// The settings did not resolve (a config typo). The failure hook still runs, with only
/// `on_failure` from the file; a renew, mint or sweep still leaves its log line and metrics, so
/// the timer's failed run is seen. Everything else is a plain usage error.
fn settings_failed(
    cli: &Cli,
    env: &Env,
    error: settings::SettingsError,
    started: std::time::SystemTime,
) -> anyhow::Result<ExitCode> {
    // A config file others may have written is refused whole: nothing in it is obeyed, not even
    // the failure hook's command, and nothing is logged on its say-so.
    if matches!(
        error,
        settings::SettingsError::ConfigFile(config::ConfigFileError::Untrusted { .. })
    ) {
        return Err(error.into());
    }
    let fallback = broken_config::Fallback::read(&cli.global, env);
    let log_file = fallback.log_file.unwrap_or_default();
    let unchanged = match &cli.command {
        Some(Command::OnFailure { unit }) => {
            eprintln!(
                "warning: {error}; the failure hook runs with only `on_failure` from the config file"
            );
            return Ok(exit_code(hook::run(
                unit,
                fallback.on_failure.as_deref(),
                &log_file,
            )));
        }
        None | Some(Command::Renew | Command::Mint(_)) => "the token file is unchanged",
        Some(Command::Sweep(args)) if !args.dry_run => "nothing was revoked",
        _ => return Err(error.into()),
    };
    let report = runlog::Report::new(
        runlog::Outcome::Usage,
        format!("configuration error: {error}; {unchanged}"),
    );
    finish(
        &report,
        &log_file,
        fallback.metrics_file.as_deref(),
        started,
    );
    print_result(&report, cli.global.format);
    Ok(report.outcome.into())
}

/// `--format json`: the run's result as one object on stdout, for scripts (fields only added).
fn print_result(report: &runlog::Report, format: cli::Format) {
    if format != cli::Format::Json {
        return;
    }
    let object = serde_json::json!({
        "result": metrics::result_label(report.outcome),
        "exit_code": report.outcome.exit_code(),
        "line": report.line(std::time::SystemTime::now()),
        "ttl_secs": report.token.map(|t| t.ttl_secs),
        "period_secs": report.token.and_then(|t| t.period_secs),
    });
    println!("{object}");
}

/// `sweep --dry-run`: what it would revoke or keep and why, then its line; or one JSON object.
fn print_dry_run(
    report: &runlog::Report,
    plan: &[commands::sweep_plan::Planned],
    format: cli::Format,
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
            })
        ),
    }
}

/// The end of every renew, mint and sweep run: the log line, then the metrics file if configured.
fn finish(
    report: &runlog::Report,
    log_file: &std::path::Path,
    metrics_file: Option<&std::path::Path>,
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
