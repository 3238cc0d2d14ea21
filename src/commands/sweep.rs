//! The anti-sprawl sweep: revoke every live token with our display name whose accessor is not
//! the one in the file. Candidates are the accessors we recorded when minting and, where the
//! token may list them, every accessor on the server, looked up with bounded concurrency.

use super::{Context, LOCK_WAIT, fail_line};
use crate::decide::{Verdict, allows, is_stale, judge};
use crate::runlog::{Outcome, Report, escape};
use crate::secret::Token;
use futures_util::stream::{self, StreamExt};
use std::collections::BTreeSet;

const ACCESSORS: &str = "auth/token/accessors";
const LOOKUP_ACCESSOR: &str = "auth/token/lookup-accessor";
const REVOKE_ACCESSOR: &str = "auth/token/revoke-accessor";

#[derive(Debug, Default)]
pub struct SweepReport {
    pub revoked: usize,
    pub examined: usize,
    /// Whether the full accessor list was used (else only the recorded accessors).
    pub listed: bool,
    /// Accessors whose lookup or revoke failed.
    pub failed: usize,
    /// Why the sweep could not run, or ran only in part.
    pub problem: Option<String>,
}

impl SweepReport {
    /// The tail of a HEALED/OK line: `revoked 2 stale periodic token(s)` plus any trouble.
    pub fn summary(&self) -> String {
        let mut text = format!("revoked {} stale periodic token(s)", self.revoked);
        if self.failed > 0 {
            text.push_str(&format!(
                "; {} look-up(s) or revoke(s) failed, the next sweep retries",
                self.failed
            ));
        }
        if let Some(problem) = &self.problem {
            text.push_str(&format!("; sweep: {problem}"));
        }
        text
    }
}

/// Sweeps with `token`'s authority, keeping `keep_accessor`. Never fails: trouble is reported.
pub async fn sweep(ctx: &Context<'_>, token: &Token, keep_accessor: &str) -> SweepReport {
    let mut report = SweepReport::default();
    if keep_accessor.is_empty() {
        report.problem =
            Some("the current token's accessor is unknown, so nothing was swept".into());
        return report;
    }
    let recorded = ctx.minted.load();
    let paths = [ACCESSORS, LOOKUP_ACCESSOR, REVOKE_ACCESSOR].map(String::from);
    let caps = match ctx.client.capabilities_self(token, &paths).await {
        Ok(caps) => caps,
        Err(e) => {
            report.problem = Some(format!(
                "cannot check capabilities ({})",
                escape(&e.to_string(), 300)
            ));
            return report;
        }
    };
    let can = |path: &str, needed: &[&str]| caps.get(path).is_some_and(|c| allows(c, needed));
    if !can(LOOKUP_ACCESSOR, &["update"]) || !can(REVOKE_ACCESSOR, &["update"]) {
        report.problem =
            Some("the token may not look up or revoke by accessor, so nothing was swept".into());
        return report;
    }

    let mut candidates: BTreeSet<String> = recorded.clone();
    // Listing needs sudo (contract §4); without it the recorded accessors are the fast path.
    if can(ACCESSORS, &["list", "sudo"]) {
        match ctx.client.list_accessors(token).await {
            Ok(all) => {
                report.listed = true;
                candidates.extend(all);
            }
            Err(e) => {
                report.problem = Some(format!(
                    "cannot list accessors ({})",
                    escape(&e.to_string(), 300)
                ))
            }
        }
    }
    candidates.remove(keep_accessor);

    enum Fate {
        Revoked,
        Unknown,
        NotStale,
        Failed,
    }
    let results: Vec<(String, Fate)> = stream::iter(candidates)
        .map(|accessor| async move {
            let fate = match ctx.client.lookup_accessor(token, &accessor).await {
                Ok(None) => Fate::Unknown,
                Ok(Some(info)) if is_stale(&info, &ctx.our_name, keep_accessor) => {
                    match ctx.client.revoke_accessor(token, &accessor).await {
                        Ok(()) => Fate::Revoked,
                        Err(e) => {
                            tracing::warn!(
                                "revoking a stale token failed: {}",
                                escape(&e.to_string(), 300)
                            );
                            Fate::Failed
                        }
                    }
                }
                Ok(Some(_)) => Fate::NotStale,
                Err(e) => {
                    tracing::debug!("accessor look-up failed: {}", escape(&e.to_string(), 300));
                    Fate::Failed
                }
            };
            (accessor, fate)
        })
        .buffer_unordered(ctx.settings.sweep_concurrency)
        .collect()
        .await;

    let mut forget = BTreeSet::new();
    for (accessor, fate) in results {
        report.examined += 1;
        match fate {
            Fate::Revoked => {
                report.revoked += 1;
                forget.insert(accessor);
            }
            Fate::Unknown => {
                forget.insert(accessor);
            }
            Fate::NotStale => {}
            Fate::Failed => report.failed += 1,
        }
    }
    // Only recorded accessors need forgetting; the rest were never in the record.
    forget.retain(|a| recorded.contains(a));
    if let Err(e) = ctx.minted.remove(&forget) {
        tracing::warn!("{e}");
    }
    report
}

/// `vault-token-renew sweep`: sweep with the file's token, which must be ours.
pub async fn sweep_command(ctx: &Context<'_>) -> Report {
    let _lock = match crate::lock::acquire(&ctx.settings.state_dir, LOCK_WAIT) {
        Ok(lock) => lock,
        Err(e) => return Report::new(Outcome::Fail, e.to_string()),
    };
    let snapshot = match ctx.file.read() {
        Ok(s) => s,
        Err(e) => return Report::new(Outcome::Fail, e.to_string()),
    };
    let info = match ctx.client.lookup_self(&snapshot.token).await {
        Ok(info) => info,
        Err(e) => return fail_line(ctx.settings, "looking up the token in the file failed", &e),
    };
    if judge(&info, &ctx.our_name, &ctx.settings.require_policies) != Verdict::Ours {
        return Report::new(
            Outcome::Drift,
            format!(
                "{} is dn={} — not our token, so no sweep (it would keep the wrong accessor); run `vault-token-renew` to heal first",
                ctx.file.path().display(),
                super::dn(&info.display_name)
            ),
        );
    }
    let report = sweep(ctx, &snapshot.token, &info.accessor).await;
    let outcome = if report.problem.is_some() || report.failed > 0 {
        Outcome::Fail
    } else {
        Outcome::Ok
    };
    let sep = if outcome == Outcome::Ok {
        ""
    } else {
        "sweep incomplete: "
    };
    Report::new(
        outcome,
        format!(
            "{sep}swept (dn={} examined {}): {}",
            super::dn(&info.display_name),
            report.examined,
            report.summary()
        ),
    )
    .with_token(info.ttl, info.period)
}
