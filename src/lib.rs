//! vault-token-renew: keep our periodic Vault/OpenBao token in `~/.vault-token` alive, heal an
//! admin-capable clobber, refuse a weak one. `run` is the whole program; `main.rs` only calls it.

pub mod address;
pub mod cli;
pub mod commands;
pub mod config;
pub mod decide;
pub mod generate;
pub mod hook;
pub mod identity;
pub mod install;
pub mod journal;
pub mod localfile;
pub mod lock;
pub mod metrics;
pub mod oidc;
pub mod runlog;
pub mod secret;
pub mod settings;
pub mod state;
pub mod tokenfile;
pub mod trust;
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
    init_tracing(cli.global.verbose);
    // Needs no settings: packagers run it in a build sandbox with no VAULT_ADDR.
    if let Some(Command::Generate(args)) = &cli.command {
        generate::run(args)?;
        return Ok(ExitCode::SUCCESS);
    }
    let env = Env::from_process();
    // Deploy commands need no server and write the settings rather than read them.
    match &cli.command {
        Some(Command::Install(args)) => return Ok(install::cli_install(args, &cli.global)),
        Some(Command::Uninstall(args)) => return Ok(install::cli_uninstall(args)),
        _ => {}
    }
    let settings = Settings::resolve(&cli.global, &env)?;
    if let Some(Command::OnFailure { unit }) = &cli.command {
        let code = hook::run(unit, settings.on_failure.as_deref(), &settings.log_file);
        return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
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
            finish(&report, &settings, started);
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
            let report = runtime.block_on(commands::sweep_command(&ctx, opts));
            if opts.dry_run {
                // A dry run changes nothing, the log and the metrics included: it only answers.
                println!("{}", report.line(std::time::SystemTime::now()));
                return Ok(report.outcome.into());
            }
            report
        }
        Command::Mint(args) => runtime.block_on(commands::mint(&ctx, &env, &args)),
        Command::Generate(_) => unreachable!("handled before the settings are resolved"),
        Command::Status(args) => {
            let code = runtime.block_on(commands::status(&ctx, &args.check_paths, args.json));
            return Ok(ExitCode::from(code));
        }
        Command::Install(_) | Command::Uninstall(_) | Command::OnFailure { .. } => {
            unreachable!("handled before the settings are resolved")
        }
    };
    finish(&report, &settings, started);
    Ok(report.outcome.into())
}

/// The end of every renew, mint and sweep run: the log line, then the metrics file if configured.
fn finish(report: &runlog::Report, settings: &Settings, started: std::time::SystemTime) {
    runlog::emit(report, &settings.log_file);
    if let Some(path) = &settings.metrics_file {
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
fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!("warn,vault_token_renew={level}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .try_init();
}
