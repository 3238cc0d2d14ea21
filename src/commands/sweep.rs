//! The anti-sprawl sweep: revoke every live *stale copy* of our token — our display name **and**
//! this configuration's identity mark (`identity.rs`) — whose accessor is not the one we keep.
//! Every candidate is looked up before it is revoked, recorded ones included: neither the record
//! nor the display name proves a token is ours (two machines may share a config, two
//! configurations a state dir). A same-named token without our mark is reported and left alive
//! unless the person asks (`sweep --include-unmarked`); the heal's automatic sweep never does.
//! Candidates come from this configuration's record of minted accessors and, where the token may
//! list accessors, from the full list, streamed through a bounded number of concurrent requests
//! so memory stays flat however many tokens the server holds.

use super::sweep_plan::{Planned, Rule};
use super::{Context, fail_line};
use crate::decide::{Candidate, Verdict, allows, classify, judge};
use crate::identity::Mark;
use crate::runlog::{Outcome, Report, escape};
use crate::secret::Token;
use crate::vault::{AccessorList, Revoked, VaultError};
use crate::wire::TokenInfo;
use futures_util::stream::{self, StreamExt};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};

pub const ACCESSORS: &str = "auth/token/accessors";
/// The list path as the server sees it (it adds the slash); a policy may grant either form.
pub const ACCESSORS_DIR: &str = "auth/token/accessors/";
pub const LOOKUP_ACCESSOR: &str = "auth/token/lookup-accessor";
pub const REVOKE_ACCESSOR: &str = "auth/token/revoke-accessor";

/// The capability paths a sweep (or a search for a lost mint) asks about, in one request.
pub fn capability_paths() -> Vec<String> {
    [ACCESSORS, ACCESSORS_DIR, LOOKUP_ACCESSOR, REVOKE_ACCESSOR]
        .map(String::from)
        .to_vec()
}

/// May list every accessor and look each up (contract §4: list needs sudo).
pub fn may_list(caps: &BTreeMap<String, Vec<String>>) -> bool {
    let can = |path: &str, needed: &[&str]| caps.get(path).is_some_and(|c| allows(c, needed));
    (can(ACCESSORS, &["list", "sudo"]) || can(ACCESSORS_DIR, &["list", "sudo"]))
        && can(LOOKUP_ACCESSOR, &["update"])
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SweepOptions {
    /// Look everything up; revoke nothing and forget nothing.
    pub dry_run: bool,
    /// Also revoke same-named tokens without our mark. Only on a person's request.
    pub include_unmarked: bool,
}

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
    /// A dry run: the accessors it would revoke.
    pub would_revoke: Vec<String>,
    /// Same-named tokens left alive because they lack this configuration's mark.
    pub unmarked: Vec<(String, Mark)>,
    /// A dry run: every same-named token it would revoke or keep, with the rule that decided.
    pub plan: Vec<Planned>,
    pub dry_run: bool,
    /// The named profile swept (None: the default), for the commands the summary suggests.
    pub profile: Option<String>,
}

/// At most this many accessors are named in a line.
const NAMED: usize = 10;

impl SweepReport {
    /// The tail of a HEALED/OK line: `revoked 2 stale periodic token(s)` plus any trouble.
    pub fn summary(&self) -> String {
        let mut text = if self.dry_run {
            format!(
                "would revoke {} stale periodic token(s){}",
                self.would_revoke.len(),
                named(self.would_revoke.iter().map(|a| escape(a, 100)))
            )
        } else {
            format!("revoked {} stale periodic token(s)", self.revoked)
        };
        if !self.unmarked.is_empty() {
            text.push_str(&format!(
                "; left {} token(s) with our display name but not this configuration's mark{} (`{}` revokes them)",
                self.unmarked.len(),
                named(
                    self.unmarked
                        .iter()
                        .map(|(a, m)| format!("{} {}", escape(a, 100), m.describe()))
                ),
                super::command_for(
                    self.profile.as_deref().unwrap_or(crate::profile::DEFAULT),
                    "sweep --include-unmarked"
                )
            ));
        }
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

/// `: a1, a2, … and 3 more`, or nothing for none.
fn named(items: impl ExactSizeIterator<Item = String>) -> String {
    let total = items.len();
    if total == 0 {
        return String::new();
    }
    let shown: Vec<String> = items.take(NAMED).collect();
    let more = total - shown.len();
    let tail = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(" ({}{tail})", shown.join(", "))
}

/// One accessor to look up; `recorded` ones are forgotten once settled.
struct Job {
    accessor: String,
    recorded: bool,
}

enum Fate {
    Revoked,
    /// A dry run, and the rule that would revoke it.
    WouldRevoke(Rule),
    /// Already gone: unknown to the server, or revoked by someone else meanwhile.
    Gone,
    /// The one we keep, or another display name.
    NotStale,
    /// Our name, not our mark: left alive.
    Unmarked(Mark),
    Failed,
}

/// Sweeps with `token`'s authority, keeping `keep_accessor`. Never fails: trouble is reported.
pub async fn sweep(
    ctx: &Context<'_>,
    token: &Token,
    keep_accessor: &str,
    opts: SweepOptions,
) -> SweepReport {
    let profile = &ctx.settings.profile;
    let mut report = SweepReport {
        dry_run: opts.dry_run,
        profile: (profile != crate::profile::DEFAULT).then(|| profile.clone()),
        ..SweepReport::default()
    };
    if keep_accessor.is_empty() {
        report.problem =
            Some("the current token's accessor is unknown, so nothing was swept".into());
        return report;
    }
    let mut recorded = ctx.minted.load();
    recorded.remove(keep_accessor);
    let caps = match ctx
        .client
        .capabilities_self(token, &capability_paths())
        .await
    {
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
    if !can(LOOKUP_ACCESSOR, &["update"]) {
        report.problem = Some(
            "the token may not look up accessors, so no copy could be proven ours and nothing was swept".into(),
        );
        return report;
    }
    if !opts.dry_run && !can(REVOKE_ACCESSOR, &["update"]) {
        report.problem = Some("the token may not revoke by accessor, so nothing was swept".into());
        return report;
    }

    // Listing needs sudo (contract §4); without it the recorded accessors are all we can find.
    let mut listed = None;
    if may_list(&caps) {
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
    // For the progress line: accessors handed out so far, and whether that is all of them.
    let queued = Cell::new(recorded.len());
    let listed_all = Cell::new(listed.is_none());
    let listed_jobs = stream::unfold(listed, |list| async {
        let mut list: AccessorList = list?;
        loop {
            match list.next().await {
                Ok(Some(accessor)) if accessor == keep_accessor || recorded.contains(&accessor) => {
                }
                Ok(Some(accessor)) => {
                    queued.set(queued.get() + 1);
                    let job = Job {
                        accessor,
                        recorded: false,
                    };
                    return Some((job, Some(list)));
                }
                Ok(None) => {
                    listed_all.set(true);
                    return None;
                }
                Err(e) => {
                    *list_error.borrow_mut() = Some(e);
                    listed_all.set(true);
                    return None;
                }
            }
        }
    });
    let recorded_jobs = recorded.iter().map(|a| Job {
        accessor: a.clone(),
        recorded: true,
    });
    let jobs = stream::iter(recorded_jobs).chain(listed_jobs);

    let mut forget = BTreeSet::new();
    let mut progress = crate::progress::Progress::on_stderr("sweep");
    jobs.map(|job| run(ctx, token, keep_accessor, opts, job))
        .buffer_unordered(ctx.settings.sweep_concurrency.max(1))
        .for_each(|(job, fate)| {
            report.examined += 1;
            progress.update(report.examined, listed_all.get().then(|| queued.get()));
            // A recorded accessor that is settled (gone, or proven not a stale copy of ours) need
            // not be looked up again; a failure is retried next time.
            let settled = !matches!(fate, Fate::Failed | Fate::WouldRevoke(_));
            match fate {
                Fate::Revoked => report.revoked += 1,
                Fate::WouldRevoke(rule) => {
                    report.would_revoke.push(job.accessor.clone());
                    report.plan.push(Planned {
                        accessor: job.accessor.clone(),
                        rule,
                    });
                }
                Fate::Failed => report.failed += 1,
                Fate::Unmarked(mark) => {
                    report.unmarked.push((job.accessor.clone(), mark));
                    if opts.dry_run {
                        report.plan.push(Planned {
                            accessor: job.accessor.clone(),
                            rule: Rule::Unmarked {
                                mark,
                                included: false,
                            },
                        });
                    }
                }
                Fate::Gone | Fate::NotStale => {}
            }
            if job.recorded && settled && !opts.dry_run {
                forget.insert(job.accessor);
            }
            async {}
        })
        .await;
    progress.finish();

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
    report.would_revoke.sort();
    report.unmarked.sort_by(|a, b| a.0.cmp(&b.0));
    report
}

/// Looks the accessor up, and revokes it only if it is a stale copy of ours (or, on request, a
/// same-named token without our mark).
async fn run(
    ctx: &Context<'_>,
    token: &Token,
    keep_accessor: &str,
    opts: SweepOptions,
    job: Job,
) -> (Job, Fate) {
    let fate = match ctx.client.lookup_accessor(token, &job.accessor).await {
        Ok(None) => Fate::Gone,
        Ok(Some(info)) => match classify(&info, &ctx.our_name, keep_accessor, &ctx.identity) {
            Candidate::Stale => {
                let rule = Rule::MarkedCopy {
                    recorded: job.recorded,
                };
                revoke(ctx, token, &job.accessor, opts, rule).await
            }
            Candidate::Unmarked(mark) if opts.include_unmarked => {
                let rule = Rule::Unmarked {
                    mark,
                    included: true,
                };
                revoke(ctx, token, &job.accessor, opts, rule).await
            }
            Candidate::Unmarked(mark) => Fate::Unmarked(mark),
            Candidate::Keep | Candidate::NotOurs => Fate::NotStale,
        },
        Err(e) => {
            tracing::debug!("accessor look-up failed: {}", escape(&e.to_string(), 300));
            Fate::Failed
        }
    };
    (job, fate)
}

async fn revoke(
    ctx: &Context<'_>,
    token: &Token,
    accessor: &str,
    opts: SweepOptions,
    rule: Rule,
) -> Fate {
    if opts.dry_run {
        return Fate::WouldRevoke(rule);
    }
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

/// `vault-token-renew sweep`: sweep with the file's token, which must be ours. Also returns a
/// dry run's plan (what it would revoke or keep, and why); empty otherwise.
pub async fn sweep_command(ctx: &Context<'_>, opts: SweepOptions) -> (Report, Vec<Planned>) {
    match sweep_with_file_token(ctx, opts).await {
        Ok((mut report, info)) => {
            let plan = std::mem::take(&mut report.plan);
            (command_report(&report, &info, opts), plan)
        }
        Err(report) => (report, vec![]),
    }
}

async fn sweep_with_file_token(
    ctx: &Context<'_>,
    opts: SweepOptions,
) -> Result<(SweepReport, TokenInfo), Report> {
    let _lock = super::take_run_lock(ctx)?;
    let snapshot = ctx.file.read().map_err(|e| {
        Report::new(
            Outcome::Fail,
            super::read_failure(&e, &ctx.settings.profile),
        )
    })?;
    let info = ctx
        .client
        .lookup_self(&snapshot.token)
        .await
        .map_err(|e| fail_line(ctx.settings, "looking up the token in the file failed", &e))?;
    if judge(
        &info,
        &ctx.our_name,
        &ctx.settings.require_policies,
        ctx.settings.token_role.as_deref(),
    ) != Verdict::Ours
    {
        return Err(Report::new(
            Outcome::Drift,
            format!(
                "{} is dn={} — not our token, so no sweep (it would keep the wrong accessor); run `{}` to heal first",
                ctx.file.path().display(),
                super::dn(&info.display_name),
                super::command_for(&ctx.settings.profile, "")
            ),
        ));
    }
    let report = sweep(ctx, &snapshot.token, &info.accessor, opts).await;
    Ok((report, info))
}

/// The sweep command's log line.
fn command_report(report: &SweepReport, info: &TokenInfo, opts: SweepOptions) -> Report {
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
    let what = if opts.dry_run {
        "dry run, nothing changed"
    } else {
        "swept"
    };
    Report::new(
        outcome,
        format!(
            "{sep}{what} (dn={} examined {}): {}",
            super::dn(&info.display_name),
            report.examined,
            report.summary()
        ),
    )
    .with_token(info.ttl, info.period)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Field;

    #[test]
    fn summary_names_what_is_left_and_why_but_bounded() {
        let report = SweepReport {
            revoked: 1,
            unmarked: (0..12)
                .map(|i| (format!("acc{i:02}"), Mark::Other(Field::Machine)))
                .collect(),
            ..SweepReport::default()
        };
        let text = report.summary();
        assert!(
            text.starts_with("revoked 1 stale periodic token(s); left 12 token(s) with our display name but not this configuration's mark (acc00 another machine's, "),
            "{text}"
        );
        assert!(
            text.contains("acc09 another machine's and 2 more)"),
            "{text}"
        );
        assert!(!text.contains("acc10"), "{text}");
        assert!(text.ends_with("`vault-token-renew sweep --include-unmarked` revokes them)"));
        let clean = SweepReport::default().summary();
        assert_eq!(clean, "revoked 0 stale periodic token(s)");
        let dry = SweepReport {
            dry_run: true,
            would_revoke: vec!["a1".into()],
            ..SweepReport::default()
        };
        assert_eq!(dry.summary(), "would revoke 1 stale periodic token(s) (a1)");
    }
}
