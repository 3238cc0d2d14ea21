//! `doctor`: the checks a person runs when the token stopped being renewed — is the server there,
//! is the token file private, will the timer run (enabled, linger), can the period outlast the
//! schedule, does a `VAULT_TOKEN` shadow the file, can `man` find the page. Read-only; each line
//! says what to do. Exit 0 unless a check failed (4).

use super::Context;
use super::mint::period_outlasts_timer;
use crate::settings::Env;
use crate::unit_options::UnitOptions;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
    /// The check could not be made here (no systemctl, no user manager); says so.
    Unknown,
}

#[derive(Debug)]
pub struct Check {
    pub level: Level,
    pub what: &'static str,
    pub detail: String,
}

fn check(level: Level, what: &'static str, detail: impl Into<String>) -> Check {
    Check {
        level,
        what,
        detail: detail.into(),
    }
}

pub async fn doctor(ctx: &Context<'_>, env: &Env) -> u8 {
    let user = env
        .vars
        .get("USER")
        .cloned()
        .unwrap_or_else(|| rustix::process::getuid().as_raw().to_string());
    let checks = vec![
        server(ctx).await,
        token_file(ctx),
        timer(&ctx.settings.profile),
        linger(&user),
        period(ctx, env),
        shadowing(ctx, env),
        man_page(env),
    ];
    let text = render(&checks);
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if checks.iter().any(|c| c.level == Level::Fail) {
        4
    } else {
        0
    }
}

pub fn render(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.what.len()).max().unwrap_or(0);
    checks
        .iter()
        .map(|c| {
            let word = match c.level {
                Level::Ok => "ok",
                Level::Warn => "WARN",
                Level::Fail => "FAIL",
                Level::Unknown => "?",
            };
            format!("{word:<4}  {:<width$}  {}\n", c.what, c.detail)
        })
        .collect()
}

/// `GET sys/health` needs no token: is there a server, initialised, unsealed?
async fn server(ctx: &Context<'_>) -> Check {
    const WHAT: &str = "server";
    let addr = &ctx.settings.vault_addr;
    let Ok(url) = ctx.client.v1_url("sys/health") else {
        return check(
            Level::Fail,
            WHAT,
            format!("cannot form the health address from {addr}"),
        );
    };
    let answer = match ctx.client.http().get(url).send().await {
        Ok(answer) => answer,
        Err(e) => {
            return check(
                Level::Fail,
                WHAT,
                format!(
                    "cannot reach {addr} ({}); check VAULT_ADDR and that the server is up",
                    crate::runlog::escape(&e.to_string(), 300)
                ),
            );
        }
    };
    let status = answer.status().as_u16();
    let version = answer
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v["version"].as_str().map(|s| crate::runlog::escape(s, 40)))
        .unwrap_or_else(|| "unknown".into());
    match status {
        200 => check(
            Level::Ok,
            WHAT,
            format!("{addr} answers: active, unsealed (version {version})"),
        ),
        429 | 472 | 473 => check(
            Level::Ok,
            WHAT,
            format!("{addr} answers: a standby (HTTP {status}, version {version})"),
        ),
        503 => check(
            Level::Fail,
            WHAT,
            format!(
                "{addr} is sealed (HTTP 503): unseal it, or point VAULT_ADDR at an unsealed node"
            ),
        ),
        501 => check(
            Level::Fail,
            WHAT,
            format!("{addr} is not initialised (HTTP 501)"),
        ),
        other => check(
            Level::Warn,
            WHAT,
            format!(
                "{addr} answered sys/health with HTTP {other}: is VAULT_ADDR a Vault or OpenBao server?"
            ),
        ),
    }
}

fn token_file(ctx: &Context<'_>) -> Check {
    const WHAT: &str = "token file";
    let path = ctx.file.path().display();
    match ctx.file.read() {
        Err(e) => check(
            Level::Fail,
            WHAT,
            super::read_failure(&e, &ctx.settings.profile),
        ),
        Ok(snap) => match snap.loose_mode {
            Some(mode) => check(
                Level::Fail,
                WHAT,
                format!("{path} has mode {mode:04o}, readable by others: `chmod 600 {path}`"),
            ),
            None => check(
                Level::Ok,
                WHAT,
                format!(
                    "{path} is private (mode 0600); `{}` checks the token in it",
                    super::command_for(&ctx.settings.profile, "status")
                ),
            ),
        },
    }
}

/// The selected profile's timer (`vault-token-renew@<profile>.timer` for a named one).
fn timer(profile: &str) -> Check {
    const WHAT: &str = "timer";
    let unit = crate::units::Names::of(profile).timer;
    let install = match profile {
        crate::profile::DEFAULT => "vault-token-renew install".to_owned(),
        name => format!("vault-token-renew --profile {name} install"),
    };
    match quick("systemctl", &["--user", "is-enabled", &unit]) {
        None => check(
            Level::Unknown,
            WHAT,
            "cannot tell: systemctl is not installed here",
        ),
        Some((true, out)) => check(Level::Ok, WHAT, format!("{unit} is {}", out.trim())),
        Some((false, out)) if out.trim().is_empty() => check(
            Level::Unknown,
            WHAT,
            "cannot tell: no systemd user manager answered (a container, or ssh without a session?)",
        ),
        Some((false, out)) => check(
            Level::Warn,
            WHAT,
            format!(
                "{unit} is {}: nothing renews the token; run `{install}`",
                out.trim()
            ),
        ),
    }
}

fn linger(user: &str) -> Check {
    const WHAT: &str = "linger";
    let marker = std::path::Path::new("/var/lib/systemd/linger").join(user);
    let enable = format!(
        "without it the timer runs only while {user} is logged in: `sudo loginctl enable-linger {user}`"
    );
    match quick(
        "loginctl",
        &["show-user", user, "--property=Linger", "--value"],
    ) {
        Some((true, out)) if out.trim() == "yes" => {
            check(Level::Ok, WHAT, format!("enabled for {user}"))
        }
        Some((true, out)) if out.trim() == "no" => {
            check(Level::Warn, WHAT, format!("not enabled: {enable}"))
        }
        _ if marker.exists() => check(
            Level::Ok,
            WHAT,
            format!("enabled for {user} ({} exists)", marker.display()),
        ),
        None => check(
            Level::Unknown,
            WHAT,
            "cannot tell: loginctl is not installed here",
        ),
        Some(_) => check(
            Level::Unknown,
            WHAT,
            format!("cannot tell: logind did not answer for {user}; {enable}"),
        ),
    }
}

fn period(ctx: &Context<'_>, env: &Env) -> Check {
    const WHAT: &str = "period";
    let period = crate::schedule::human(ctx.settings.period);
    let names = crate::units::Names::of(&ctx.settings.profile);
    let Some(timer) = env
        .user_unit_dir()
        .and_then(|d| UnitOptions::installed_for(&d, &names))
    else {
        return check(
            Level::Unknown,
            WHAT,
            format!("{period}; no timer unit installed here to compare it with"),
        );
    };
    match (
        period_outlasts_timer(ctx.settings.period, &timer),
        timer.longest_wait(),
    ) {
        (Err(why), _) => check(Level::Fail, WHAT, why),
        (Ok(()), Some(wait)) => check(
            Level::Ok,
            WHAT,
            format!(
                "{period} outlasts the longest wait between runs ({}, OnCalendar={})",
                crate::schedule::human(wait),
                timer.schedule
            ),
        ),
        (Ok(()), None) => check(
            Level::Unknown,
            WHAT,
            format!(
                "{period}; cannot tell the gaps of OnCalendar={} without systemd-analyze",
                timer.schedule
            ),
        ),
    }
}

fn shadowing(ctx: &Context<'_>, env: &Env) -> Check {
    const WHAT: &str = "environment";
    match env.cli_var("TOKEN") {
        Some((var, _)) => check(
            Level::Warn,
            WHAT,
            format!(
                "${var} is set: the vault/bao CLI uses it instead of {}, and `mint` takes it as its authority; unset it when you are done",
                ctx.file.path().display()
            ),
        ),
        None => check(
            Level::Ok,
            WHAT,
            "no VAULT_TOKEN or BAO_TOKEN shadows the token file",
        ),
    }
}

fn man_page(env: &Env) -> Check {
    const WHAT: &str = "man page";
    let fix = "run `vault-token-renew install` (it writes ~/.local/share/man) or add its man directory to MANPATH";
    match quick("man", &["-w", "vault-token-renew"]) {
        Some((true, out)) => check(Level::Ok, WHAT, format!("man finds {}", out.trim())),
        Some((false, _)) => check(
            Level::Warn,
            WHAT,
            format!("man cannot find vault-token-renew(1): {fix}"),
        ),
        None => {
            let page = env
                .xdg_dir("XDG_DATA_HOME", ".local/share")
                .map(|d| d.join("man/man1/vault-token-renew.1"));
            match page.filter(|p| p.exists()) {
                Some(p) => check(
                    Level::Ok,
                    WHAT,
                    format!("{} is installed (no `man` here to ask)", p.display()),
                ),
                None => check(
                    Level::Unknown,
                    WHAT,
                    format!("no `man` here to ask; if you want the page, {fix}"),
                ),
            }
        }
    }
}

/// Runs a short command; (success, stdout), or None when it is not installed. Gives up after
/// two seconds: a hung user bus must not hang the doctor.
fn quick(program: &str, args: &[&str]) -> Option<(bool, String)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Some((false, String::new()));
            }
        }
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    Some((status.success(), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_is_one_aligned_line() {
        let text = render(&[
            check(Level::Ok, "server", "up"),
            check(Level::Fail, "token file", "mode 0644"),
            check(Level::Unknown, "timer", "cannot tell"),
        ]);
        assert_eq!(
            text,
            "ok    server      up\nFAIL  token file  mode 0644\n?     timer       cannot tell\n"
        );
    }
}
