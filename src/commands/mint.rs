//! `mint`: first-time setup and manual recovery. The authority is an OIDC login done in-process
//! (`--oidc`: the login token never leaves memory and is revoked afterwards), else `VAULT_TOKEN`
//! (or `BAO_TOKEN`) when set — e.g. a login with `-token-only`, which never touches the file —
//! else the file's token.

use super::Context;
use super::heal::{MintError, mint_and_install};
use crate::cli::MintArgs;
use crate::oidc::{self, OidcOptions};
use crate::runlog::{Outcome, Report, escape};
use crate::secret::Token;
use crate::settings::Env;
use crate::tokenfile::parse_token;
use crate::unit_options::UnitOptions;
use std::time::Duration;

/// A period the timer cannot keep up with is refused: the token would expire between two runs,
/// and `status` would later blame the timer. Less than two runs' worth is only a warning: one
/// missed run (a laptop off for the night) would expire it.
pub(crate) fn period_outlasts_timer(period: Duration, timer: &UnitOptions) -> Result<(), String> {
    let Some(wait) = timer.longest_wait() else {
        return Ok(());
    };
    let human = crate::schedule::human;
    let schedule = format!(
        "the timer (OnCalendar={}, RandomizedDelaySec={}) may wait {} between runs",
        timer.schedule,
        timer.randomized_delay,
        human(wait)
    );
    if period <= wait {
        return Err(format!(
            "--period {} is not longer than the gap between renewals: {schedule}, so the token would expire first; \
             pass a longer --period (e.g. 768h), or reinstall with a tighter --schedule (`install --schedule hourly --force`)",
            human(period)
        ));
    }
    if period < wait * 2 {
        tracing::warn!(
            "--period {} leaves no room for a missed run: {schedule}",
            human(period)
        );
    }
    Ok(())
}

pub async fn mint(ctx: &Context<'_>, env: &Env, args: &MintArgs) -> Report {
    // The selected profile's timer is the one that has to keep this token alive.
    let names = crate::units::Names::of(&ctx.settings.profile);
    let timer = env
        .user_unit_dir()
        .and_then(|d| UnitOptions::installed_for(&d, &names));
    if let Some(timer) = &timer
        && let Err(why) = period_outlasts_timer(ctx.settings.period, timer)
    {
        return Report::new(
            Outcome::Usage,
            format!("mint refused: {why}; nothing was minted"),
        );
    }
    if !args.oidc {
        return mint_with(ctx, env, None).await;
    }
    let opts = OidcOptions {
        mount: args.oidc_mount.trim_matches('/').to_owned(),
        role: args.oidc_role.clone(),
        port: args.oidc_port,
        open_browser: !args.no_browser,
        wait: args.oidc_timeout,
    };
    // The login happens before the lock: a person may take minutes in the browser, and the
    // timer's renew must not wait on them.
    let login = match oidc::login(&ctx.client, &opts).await {
        Ok(login) => login,
        Err(e) => {
            return Report::new(
                Outcome::Fail,
                format!(
                    "OIDC login failed: {} — the token file is unchanged",
                    escape(&e.to_string(), 600)
                ),
            );
        }
    };
    // The client's run deadline (about a minute) started before the person opened the browser;
    // the unattended part gets a fresh client, and so a full deadline, of its own.
    let fresh = match Context::new(ctx.settings) {
        Ok(fresh) => fresh,
        Err(report) => return report,
    };
    let ctx = &fresh;
    let source = format!("an OIDC login on auth/{}", opts.mount);
    let report = mint_with(ctx, env, Some((&login.token, source))).await;
    // The login token was only ever in memory; revoke it so no admin-capable login outlives the mint.
    let revoked = match ctx.client.revoke_self(&login.token).await {
        Ok(()) => "; the login token was revoked".to_owned(),
        Err(e) => format!(
            "; revoking the login token failed ({}), it expires on its own (accessor {})",
            escape(&e.to_string(), 200),
            escape(&login.accessor, 100)
        ),
    };
    drop(login);
    Report {
        message: format!("{}{revoked}", report.message),
        ..report
    }
}

/// Mints with `given` as the authority, else `VAULT_TOKEN`/`BAO_TOKEN`, else the file's token.
async fn mint_with(ctx: &Context<'_>, env: &Env, given: Option<(&Token, String)>) -> Report {
    let _lock = match super::take_run_lock(ctx) {
        Ok(lock) => lock,
        Err(report) => return report,
    };
    ctx.file.remove_stale_temp_files();
    let (current, _) = match ctx.file.read_current() {
        Ok(c) => c,
        Err(e) => return Report::new(Outcome::Fail, e.to_string()),
    };
    let from_env = env
        .cli_var("TOKEN")
        .map(|(var, v)| (var, v.trim()))
        .filter(|(_, v)| !v.is_empty());
    let (authority, source): (Token, String) = match given {
        Some((token, source)) => (token.clone(), source),
        None => match from_env {
            Some((var, value)) => match parse_token(value.as_bytes()) {
                Ok(token) => (token, format!("${var}")),
                Err(_) => {
                    return Report::new(
                        Outcome::Fail,
                        format!(
                            "${var} does not hold a token (non-printable characters); set it to a token"
                        ),
                    );
                }
            },
            None => match ctx.file.read() {
                Ok(snapshot) => (snapshot.token, ctx.file.path().display().to_string()),
                Err(e) => {
                    return Report::new(
                        Outcome::Fail,
                        format!("no authority to mint with: VAULT_TOKEN is unset and {e}"),
                    );
                }
            },
        },
    };
    // The authority is often a login made moments ago (this command's own OIDC login, or
    // `VAULT_TOKEN=$(vault login …)`), which an HA standby may not show in full yet.
    match mint_and_install(ctx, &authority, &current, crate::vault::NEW_TOKEN_GRACE).await {
        Ok(installed) => Report::new(
            Outcome::Ok,
            format!(
                "minted periodic token (dn={} period={}s) into {} with the authority of {source} ({})",
                escape(&ctx.our_name, 200),
                ctx.settings.period.as_secs(),
                ctx.file.path().display(),
                installed.sweep.summary()
            ),
        )
        .with_token(installed.ttl_secs, installed.period_secs),
        Err(MintError::NoPolicies) => Report::new(
            Outcome::Fail,
            format!(
                "mint refused: no policies to mint are configured; set `policies` in {} or pass --policy (e.g. --policy vault-admin)",
                ctx.settings.config_file.display()
            ),
        ),
        Err(MintError::Denied(e)) => Report::new(
            Outcome::Fail,
            format!(
                "mint denied: the token from {source} may not create a periodic orphan token with these policies ({}); use a token with update+sudo on auth/token/create-orphan or auth/token/create, or set token_role",
                escape(&e.server_reason(), 300)
            ),
        ),
        Err(MintError::NoAuthority(asked)) => Report::new(
            Outcome::Fail,
            format!(
                "mint refused: the token from {source} may mint through no path ({asked}); use a token with update+sudo on auth/token/create-orphan or auth/token/create, or set token_role to a role with orphan=true and a token_period"
            ),
        ),
        Err(MintError::Failed(why)) => Report::new(Outcome::Fail, format!("mint failed: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_shorter_than_the_schedule_is_refused() {
        let daily = UnitOptions::default();
        let hour = Duration::from_secs(3600);
        let refused = period_outlasts_timer(hour, &daily).unwrap_err();
        assert!(refused.contains("OnCalendar=daily"), "{refused}");
        assert!(
            period_outlasts_timer(24 * hour, &daily).is_err(),
            "a day plus the delay"
        );
        assert!(
            period_outlasts_timer(30 * hour, &daily).is_ok(),
            "warned, not refused"
        );
        assert!(period_outlasts_timer(768 * hour, &daily).is_ok());
    }
}
