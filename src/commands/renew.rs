//! `renew`, what the timer runs: renew our token; heal a foreign admin-capable one; refuse a weak one.

use super::heal::{MintError, mint_and_install};
use super::sweep::{SweepOptions, sweep};
use super::{Context, dn, fail_line, manual_mint, read_failure};
use crate::decide::{ForeignReason, Verdict, foreign_words, judge};
use crate::runlog::{Outcome, Report, escape};
use crate::tokenfile::Snapshot;
use crate::vault::NEW_TOKEN_GRACE;
use crate::wire::TokenInfo;
use std::time::Duration;

pub async fn renew(ctx: &Context<'_>) -> Report {
    let _lock = match super::take_run_lock(ctx) {
        Ok(lock) => lock,
        Err(report) => return report,
    };
    let removed = ctx.file.remove_stale_temp_files();
    if removed > 0 {
        tracing::warn!("removed {removed} temp file(s) left by an interrupted run");
    }
    let snapshot = match ctx.file.read() {
        Ok(s) => s,
        Err(e) => return Report::new(Outcome::Fail, read_failure(&e, &ctx.settings.profile)),
    };
    if let Some(mode) = snapshot.loose_mode {
        tracing::warn!(
            "{} is readable by others (mode {mode:o}); run `chmod 600 {}` — a healed file is always written 0600",
            ctx.file.path().display(),
            ctx.file.path().display()
        );
    }
    let grace = new_token_grace(&snapshot);
    let looked_up = ctx
        .client
        .settling(grace, async || {
            ctx.client.lookup_self(&snapshot.token).await
        })
        .await;
    let info = match looked_up {
        Ok(info) => info,
        Err(e) if e.is_invalid_token() => {
            return Report::new(
                Outcome::Fail,
                format!(
                    "the token in {} is not valid ({}) — it expired or was revoked; mint a new one: {}",
                    ctx.file.path().display(),
                    escape(&e.server_reason(), 200),
                    manual_mint(&ctx.settings.profile)
                ),
            );
        }
        // A valid token the ACL does not let look itself up (no `default` policy): not ours,
        // since we mint with `default`, but it may still hold the authority to heal.
        Err(e) if e.is_permission_denied() => {
            let who = format!(
                "a token that may not look itself up ({})",
                escape(&e.server_reason(), 200)
            );
            return heal_outcome(ctx, &snapshot, &who).await;
        }
        Err(e) => return fail_line(ctx.settings, "looking up the token in the file failed", &e),
    };
    let role = ctx.settings.token_role.as_deref();
    match judge(&info, &ctx.our_name, &ctx.settings.require_policies, role) {
        Verdict::Ours => renew_ours(ctx, &snapshot, &info, grace).await,
        Verdict::Foreign(reason) => heal(ctx, &snapshot, &info, reason).await,
    }
}

/// A token file written this recently may hold a token that an HA standby has not seen yet: the
/// first renew after an install (or a `vault login`) then retries a 403/412 for a few seconds.
const FRESH_FILE: Duration = Duration::from_secs(120);

fn new_token_grace(snapshot: &Snapshot) -> Duration {
    if snapshot.written_within(FRESH_FILE) {
        NEW_TOKEN_GRACE
    } else {
        Duration::ZERO
    }
}

async fn renew_ours(
    ctx: &Context<'_>,
    snapshot: &Snapshot,
    info: &TokenInfo,
    grace: Duration,
) -> Report {
    let renewed = ctx
        .client
        .settling(grace, async || ctx.client.renew_self(&snapshot.token).await)
        .await;
    match renewed {
        Ok(renewed) => {
            let mut line = format!(
                "renewed (dn={} ttl={}s)",
                dn(&info.display_name),
                renewed.ttl
            );
            // The token's own period: the configured one may have changed since it was minted.
            if let Some(period) = info.period.filter(|p| renewed.ttl < *p) {
                line.push_str(&format!(
                    " — note: the server capped the TTL below the {period}s period (its max TTL is lower); tune auth/token max_lease_ttl"
                ));
            }
            for w in renewed.warnings.iter().take(3) {
                line.push_str(&format!(" — server warning: {}", escape(w, 200)));
            }
            // Other minted accessors on record: a heal was interrupted after its install (killed,
            // or its sweep failed). Sweep now rather than at the next heal, which may never come.
            if ctx.minted.load().iter().any(|a| *a != info.accessor) {
                let swept = sweep(
                    ctx,
                    &snapshot.token,
                    &info.accessor,
                    SweepOptions::default(),
                )
                .await;
                line.push_str(&format!(" — leftover mints: {}", swept.summary()));
            }
            Report::new(Outcome::Ok, line).with_token(renewed.ttl, info.period)
        }
        Err(e) => fail_line(ctx.settings, "renewing our token failed", &e),
    }
}

async fn heal(
    ctx: &Context<'_>,
    snapshot: &Snapshot,
    info: &TokenInfo,
    reason: ForeignReason,
) -> Report {
    let who = match reason {
        ForeignReason::WrongName => format!("dn={}", dn(&info.display_name)),
        ForeignReason::MissingPolicies(missing) => format!(
            "dn={} without required polic{} {}",
            dn(&info.display_name),
            if missing.len() == 1 { "y" } else { "ies" },
            escape(&missing.join(","), 200)
        ),
        reason @ ForeignReason::NotPeriodic(_) => format!(
            "dn={} with our policies, but {}",
            dn(&info.display_name),
            foreign_words(&reason)
        ),
    };
    let report = heal_outcome(ctx, snapshot, &who).await;
    match report.outcome {
        Outcome::Healed => report,
        // The file still holds the foreign token, so its expiry is the file's expiry.
        _ => report.with_token(info.ttl, info.period),
    }
}

async fn heal_outcome(ctx: &Context<'_>, snapshot: &Snapshot, who: &str) -> Report {
    let file = ctx.file.path().display();
    let remint = manual_mint(&ctx.settings.profile);
    match mint_and_install(
        ctx,
        &snapshot.token,
        &snapshot.current,
        new_token_grace(snapshot),
    )
    .await
    {
        Ok(installed) => {
            for w in installed.warnings.iter().take(3) {
                tracing::warn!("server warning on mint: {}", escape(w, 200));
            }
            Report::new(
                Outcome::Healed,
                format!(
                    "re-minted periodic token from foreign {who} ({})",
                    installed.sweep.summary()
                ),
            )
            .with_token(installed.ttl_secs, installed.period_secs)
        }
        Err(MintError::NoPolicies) => Report::new(
            Outcome::Drift,
            format!(
                "{file} is {who} — cannot heal: no policies to mint are configured (set `policies` in {} or pass --policy); investigate what wrote it. Manual re-mint: {remint}",
                ctx.settings.config_file.display()
            ),
        ),
        Err(MintError::NoAuthority(asked)) => Report::new(
            Outcome::Drift,
            format!(
                "{file} is {who} — cannot heal: its capabilities allow no mint path, so no mint was sent ({asked}); a heal needs update+sudo on auth/token/create-orphan or auth/token/create, or update on auth/token/create/<token_role>; investigate what wrote it. Manual re-mint: {remint}"
            ),
        ),
        Err(MintError::Denied(e)) => Report::new(
            Outcome::Drift,
            format!(
                "{file} is {who} — heal denied, foreign token lacks create authority ({}); investigate what wrote it. Manual re-mint: {remint}",
                escape(&e.server_reason(), 300)
            ),
        ),
        Err(MintError::Failed(why)) => Report::new(
            Outcome::Fail,
            format!(
                "healing {file} (foreign {who}) failed: {why}; this run did not write the token file"
            ),
        ),
    }
}
