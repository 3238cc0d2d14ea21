//! The anti-sprawl sweep: revoke every live token with our display name whose accessor is not
//! the one in the file. The accessors we recorded when minting are ours by construction and are
//! revoked straight away, one request each; where the token may list accessors, every other
//! accessor on the server is looked up and revoked if stale. The list is streamed through a
//! bounded number of concurrent requests, so memory stays flat however many tokens the server holds.

use super::{Context, LOCK_WAIT, fail_line};
use crate::decide::{Verdict, allows, is_stale, judge};
use crate::runlog::{Outcome, Report, escape};
use crate::secret::Token;
use crate::vault::{AccessorList, Revoked, VaultError};
use futures_util::stream::{self, StreamExt};
use std::cell::RefCell;
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

/// One unit of sweep work.
enum Job {
    /// A recorded accessor: minted by us and not the one in the file, so stale by definition.
    Recorded(String),
    /// A listed accessor: stale only if the server says it carries our name.
    Listed(String),
}

enum Fate {
    Revoked,
    /// Already gone: unknown to the server, or revoked by someone else meanwhile.
    Gone,
    NotStale,
    Failed,
}

/// Sweeps with `token`'s authority, keeping `keep_accessor`. Never fails: trouble is reported.
pub async fn sweep(ctx: &Context<'_>, token: &Token, keep_accessor: &str) -> SweepReport {
    let mut report = SweepReport::default();
    if keep_accessor.is_empty() {
        report.problem =
            Some("the current token's accessor is unknown, so nothing was swept".into());
        return report;
    }
    let mut recorded = ctx.minted.load();
    recorded.remove(keep_accessor);
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
    if !can(REVOKE_ACCESSOR, &["update"]) {
        report.problem = Some("the token may not revoke by accessor, so nothing was swept".into());
        return report;
    }

    // Listing needs sudo (contract §4); without it the recorded accessors are the fast path.
    let mut listed = None;
    if can(ACCESSORS, &["list", "sudo"]) && can(LOOKUP_ACCESSOR, &["update"]) {
        match ctx.client.list_accessors(token).await {
            Ok(list) => {
                report.listed = true;
                listed = Some(list);
            }
            Err(e) => {
                report.problem = Some(format!(
                    "cannot list accessors ({})",
                    escape(&e.to_string(), 300)
                ))
            }
        }
    }

    // The listed accessors, as the answer arrives; a list that breaks off ends the stream and
    // leaves its error here.
    let list_error: RefCell<Option<VaultError>> = RefCell::new(None);
    let listed_jobs = stream::unfold(listed, |list| async {
        let mut list: AccessorList = list?;
        loop {
            match list.next().await {
                Ok(Some(accessor)) if accessor == keep_accessor || recorded.contains(&accessor) => {
                }
                Ok(Some(accessor)) => return Some((Job::Listed(accessor), Some(list))),
                Ok(None) => return None,
                Err(e) => {
                    *list_error.borrow_mut() = Some(e);
                    return None;
                }
            }
        }
    });
    let jobs = stream::iter(recorded.iter().cloned().map(Job::Recorded)).chain(listed_jobs);

    let mut forget = BTreeSet::new();
    jobs.map(|job| run(ctx, token, keep_accessor, job))
        .buffer_unordered(ctx.settings.sweep_concurrency.max(1))
        .for_each(|(job, fate)| {
            report.examined += 1;
            match fate {
                Fate::Revoked => report.revoked += 1,
                Fate::Failed => report.failed += 1,
                Fate::Gone | Fate::NotStale => {}
            }
            // A recorded accessor that is gone for good need not be tried again.
            if let (Job::Recorded(accessor), Fate::Revoked | Fate::Gone) = (job, fate) {
                forget.insert(accessor);
            }
            async {}
        })
        .await;

    if let Some(e) = list_error.into_inner() {
        report.problem = Some(format!(
            "the accessor list broke off after {} accessor(s) ({})",
            report.examined,
            escape(&e.to_string(), 300)
        ));
    }
    if let Err(e) = ctx.minted.remove(&forget) {
        tracing::warn!("{e}");
    }
    report
}

async fn run(ctx: &Context<'_>, token: &Token, keep_accessor: &str, job: Job) -> (Job, Fate) {
    let fate = match &job {
        Job::Recorded(accessor) => revoke(ctx, token, accessor).await,
        Job::Listed(accessor) => match ctx.client.lookup_accessor(token, accessor).await {
            Ok(None) => Fate::Gone,
            Ok(Some(info)) if is_stale(&info, &ctx.our_name, keep_accessor) => {
                revoke(ctx, token, accessor).await
            }
            Ok(Some(_)) => Fate::NotStale,
            Err(e) => {
                tracing::debug!("accessor look-up failed: {}", escape(&e.to_string(), 300));
                Fate::Failed
            }
        },
    };
    (job, fate)
}

async fn revoke(ctx: &Context<'_>, token: &Token, accessor: &str) -> Fate {
    match ctx.client.revoke_accessor(token, accessor).await {
        Ok(Revoked::Now) => Fate::Revoked,
        Ok(Revoked::AlreadyGone) => Fate::Gone,
        Err(e) => {
            tracing::warn!(
                "revoking a stale token failed: {}",
                escape(&e.to_string(), 300)
            );
            Fate::Failed
        }
    }
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
    if judge(
        &info,
        &ctx.our_name,
        &ctx.settings.require_policies,
        ctx.settings.token_role.as_deref(),
    ) != Verdict::Ours
    {
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
