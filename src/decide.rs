//! The pure decisions: is this token ours, which accessors are stale, what a server error means.

use crate::identity::{Identity, Mark};
use crate::vault::types::TokenInfo;

/// How the server stores a display name given at create time (contract §3 "display_name"):
/// `token-` + the name with every character outside `[A-Za-z0-9-]` turned into `-`, then one
/// trailing `-` stripped.
pub fn stored_display_name(name: &str) -> String {
    let mut stored: String = "token-"
        .chars()
        .chain(name.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        }))
        .collect();
    if stored.ends_with('-') {
        stored.pop();
    }
    stored
}

/// Who a looked-up token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ours,
    Foreign(ForeignReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForeignReason {
    /// The display name is not the one we mint.
    WrongName,
    /// Our name, but the token lacks policies we require (e.g. a same-named read-only token).
    MissingPolicies(Vec<String>),
}

/// The drift guard: ours only if the display name is exactly our stored name **and** token plus
/// identity policies contain every required policy, compared as whole names.
pub fn judge(info: &TokenInfo, our_stored_name: &str, required: &[String]) -> Verdict {
    if info.display_name != our_stored_name {
        return Verdict::Foreign(ForeignReason::WrongName);
    }
    let held = |p: &String| info.policies.contains(p) || info.identity_policies.contains(p);
    let missing: Vec<String> = required.iter().filter(|p| !held(p)).cloned().collect();
    if missing.is_empty() {
        Verdict::Ours
    } else {
        Verdict::Foreign(ForeignReason::MissingPolicies(missing))
    }
}

/// What a freshly minted token must look like before it may replace the file: ours, periodic
/// with the period we asked for, and an orphan (so revoking its creator cannot take it down).
pub fn verify_minted(
    info: &TokenInfo,
    our_stored_name: &str,
    required: &[String],
    period_secs: u64,
) -> Result<(), String> {
    if let Verdict::Foreign(reason) = judge(info, our_stored_name, required) {
        return Err(match reason {
            ForeignReason::WrongName => "it does not carry our display name".to_owned(),
            ForeignReason::MissingPolicies(p) => {
                format!("it lacks required policies {}", p.join(","))
            }
        });
    }
    match info.period {
        Some(p) if p == period_secs as i64 => {}
        Some(p) => {
            return Err(format!(
                "its period is {p}s, not the {period_secs}s requested"
            ));
        }
        None => return Err("it is not periodic".to_owned()),
    }
    if !info.orphan {
        return Err("it is not an orphan".to_owned());
    }
    Ok(())
}

/// What the sweep makes of a looked-up token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    /// Never touched: the token we keep, or an accessor we do not know.
    Keep,
    /// Another display name: not a copy of ours at all.
    NotOurs,
    /// Our display name and this configuration's mark: a stale copy, revoked.
    Stale,
    /// Our display name without this configuration's mark (another machine or configuration, or
    /// an older mint): reported, and revoked only when the person asks for it.
    Unmarked(Mark),
}

/// The stale filter of the sweep: a live token is a stale copy only if it carries our display
/// name **and** our identity mark, and is not the one we keep. An unknown (empty) keep-accessor
/// or a token without an accessor is never swept.
pub fn classify(
    info: &TokenInfo,
    our_stored_name: &str,
    keep_accessor: &str,
    us: &Identity,
) -> Candidate {
    if keep_accessor.is_empty() || info.accessor.is_empty() || info.accessor == keep_accessor {
        return Candidate::Keep;
    }
    if info.display_name != our_stored_name {
        return Candidate::NotOurs;
    }
    match us.mark_of(&info.meta) {
        Mark::Ours => Candidate::Stale,
        other => Candidate::Unmarked(other),
    }
}

/// Can this capability list (from `sys/capabilities-self`) do `needed` on the path?
pub fn allows(capabilities: &[String], needed: &[&str]) -> bool {
    capabilities.iter().any(|c| c == "root")
        || (!capabilities.iter().any(|c| c == "deny")
            && needed.iter().all(|n| capabilities.iter().any(|c| c == n)))
}

/// What a non-success answer from the server means for us (contract §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerErrorKind {
    /// 403: ACL denial, or an unknown/expired/revoked token.
    PermissionDenied,
    /// 400: the request was refused as invalid (e.g. "child policies must be subset of parent").
    Refused,
    /// 404: no such path (or an empty LIST).
    NotFound,
    /// 429, 5xx (but 501): may succeed if tried again later.
    Transient,
    /// 412 `required index state not present`: this node (an HA standby) has not yet caught up
    /// with a write the request depends on; it will, so an idempotent request may be repeated.
    NotCaughtUp,
    /// Anything else (405, 501, redirects we do not follow …).
    Unexpected,
}

pub fn classify_status(status: u16) -> ServerErrorKind {
    match status {
        403 => ServerErrorKind::PermissionDenied,
        400 => ServerErrorKind::Refused,
        404 => ServerErrorKind::NotFound,
        429 => ServerErrorKind::Transient,
        412 => ServerErrorKind::NotCaughtUp,
        501 => ServerErrorKind::Unexpected,
        500..=599 => ServerErrorKind::Transient,
        _ => ServerErrorKind::Unexpected,
    }
}

/// May this answer about a token created moments ago only mean that the node has not seen the
/// token yet? An HA standby that has not caught up with the mint answers 403 (an unknown token is
/// a denied one) or 412; both go away once replication catches up.
pub fn maybe_not_yet_visible(status: u16) -> bool {
    matches!(
        classify_status(status),
        ServerErrorKind::PermissionDenied | ServerErrorKind::NotCaughtUp
    )
}

/// A refused mint (contract §3): 403 when the token may not write create-orphan at all, 400 when
/// it may but lacks sudo (subset or periodic rule). Either way nothing was created.
pub fn mint_denied(status: u16) -> bool {
    matches!(
        classify_status(status),
        ServerErrorKind::PermissionDenied | ServerErrorKind::Refused
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(dn: &str, policies: &[&str], identity: &[&str]) -> TokenInfo {
        TokenInfo {
            accessor: "acc-current".into(),
            display_name: dn.into(),
            policies: policies.iter().map(|s| s.to_string()).collect(),
            identity_policies: identity.iter().map(|s| s.to_string()).collect(),
            period: Some(2764800),
            orphan: true,
            ..Default::default()
        }
    }

    fn req(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    const OURS: &str = "token-devvm-wizard";

    #[test]
    fn display_name_sanitising_matches_the_contract_examples() {
        assert_eq!(stored_display_name("devvm-wizard"), "token-devvm-wizard");
        assert_eq!(
            stored_display_name("devvm_wizard@host"),
            "token-devvm-wizard-host"
        );
        assert_eq!(stored_display_name("foo."), "token-foo");
        assert_eq!(stored_display_name("foo.."), "token-foo-");
        assert_eq!(
            stored_display_name("Dev.VM"),
            "token-Dev-VM",
            "case is kept"
        );
        assert_eq!(stored_display_name(""), "token");
    }

    #[test]
    fn our_token_is_ours() {
        let t = token(OURS, &["default", "sops-admin", "vault-admin"], &[]);
        assert_eq!(judge(&t, OURS, &req(&["vault-admin"])), Verdict::Ours);
    }

    #[test]
    fn required_policy_may_be_anywhere_in_the_list_and_order_is_irrelevant() {
        for list in [
            ["vault-admin", "a", "b"],
            ["a", "vault-admin", "b"],
            ["a", "b", "vault-admin"],
        ] {
            assert_eq!(
                judge(&token(OURS, &list, &[]), OURS, &req(&["vault-admin"])),
                Verdict::Ours
            );
        }
        let t = token(OURS, &["sops-admin", "vault-admin"], &[]);
        assert_eq!(
            judge(&t, OURS, &req(&["vault-admin", "sops-admin"])),
            Verdict::Ours
        );
    }

    #[test]
    fn required_policy_through_identity_counts() {
        let t = token(OURS, &["default"], &["vault-admin"]);
        assert_eq!(judge(&t, OURS, &req(&["vault-admin"])), Verdict::Ours);
    }

    #[test]
    fn woodpecker_clobber_is_foreign() {
        let t = token(
            "kubernetes-woodpecker-default",
            &["ci", "default", "terraform-state"],
            &[],
        );
        assert_eq!(
            judge(&t, OURS, &req(&["vault-admin"])),
            Verdict::Foreign(ForeignReason::WrongName)
        );
    }

    #[test]
    fn oidc_admin_token_with_the_wrong_name_is_foreign() {
        let t = token("oidc-alice@example.com", &["default"], &["vault-admin"]);
        assert_eq!(
            judge(&t, OURS, &req(&["vault-admin"])),
            Verdict::Foreign(ForeignReason::WrongName)
        );
    }

    #[test]
    fn right_name_without_the_required_policy_is_foreign() {
        let t = token(OURS, &["default", "sops-admin"], &[]);
        assert_eq!(
            judge(&t, OURS, &req(&["vault-admin"])),
            Verdict::Foreign(ForeignReason::MissingPolicies(req(&["vault-admin"])))
        );
    }

    #[test]
    fn empty_name_and_empty_policies_are_foreign() {
        assert_eq!(
            judge(
                &token("", &["vault-admin"], &[]),
                OURS,
                &req(&["vault-admin"])
            ),
            Verdict::Foreign(ForeignReason::WrongName)
        );
        assert!(matches!(
            judge(&token(OURS, &[], &[]), OURS, &req(&["vault-admin"])),
            Verdict::Foreign(_)
        ));
    }

    #[test]
    fn policy_names_match_whole_never_by_prefix() {
        let t = token(OURS, &["default", "vault-admin-ro"], &["xvault-admin"]);
        assert!(matches!(
            judge(&t, OURS, &req(&["vault-admin"])),
            Verdict::Foreign(_)
        ));
    }

    #[test]
    fn name_match_is_exact() {
        assert!(matches!(
            judge(
                &token("token-devvm-wizard2", &["vault-admin"], &[]),
                OURS,
                &req(&["vault-admin"])
            ),
            Verdict::Foreign(_)
        ));
        assert!(matches!(
            judge(
                &token("Token-devvm-wizard", &["vault-admin"], &[]),
                OURS,
                &req(&["vault-admin"])
            ),
            Verdict::Foreign(_)
        ));
    }

    #[test]
    fn no_required_policies_means_the_name_decides() {
        assert_eq!(
            judge(&token(OURS, &["default"], &[]), OURS, &[]),
            Verdict::Ours
        );
    }

    #[test]
    fn minted_token_must_be_periodic_with_our_period_and_an_orphan() {
        let good = token(OURS, &["default", "vault-admin"], &[]);
        assert!(verify_minted(&good, OURS, &req(&["vault-admin"]), 2764800).is_ok());
        let mut t = good.clone();
        t.period = None;
        assert!(
            verify_minted(&t, OURS, &req(&["vault-admin"]), 2764800)
                .unwrap_err()
                .contains("not periodic")
        );
        let mut t = good.clone();
        t.period = Some(3600);
        assert!(verify_minted(&t, OURS, &req(&["vault-admin"]), 2764800).is_err());
        let mut t = good.clone();
        t.orphan = false;
        assert!(verify_minted(&t, OURS, &req(&["vault-admin"]), 2764800).is_err());
        let t = token(OURS, &["default"], &[]);
        assert!(
            verify_minted(&t, OURS, &req(&["vault-admin"]), 2764800)
                .unwrap_err()
                .contains("vault-admin")
        );
    }

    fn us() -> Identity {
        Identity {
            machine: "m1".into(),
            machine_source: crate::identity::MachineSource::MachineId,
            user: "alice".into(),
            config: "c1".into(),
        }
    }

    #[test]
    fn stale_filter() {
        let marked = |acc: &str| {
            let mut t = token(OURS, &["vault-admin"], &[]);
            t.accessor = acc.into();
            t.meta = us().mint_meta("devvm-wizard", "devvm", "n");
            t
        };
        let older = marked("acc-older");
        assert_eq!(
            classify(&older, OURS, "acc-current", &us()),
            Candidate::Stale,
            "an older copy with our mark is stale"
        );
        assert_eq!(
            classify(&marked("acc-current"), OURS, "acc-current", &us()),
            Candidate::Keep,
            "the current one is kept"
        );
        let mut foreign = token("oidc-alice", &["default"], &["vault-admin"]);
        foreign.accessor = "acc-foreign".into();
        foreign.meta = older.meta.clone();
        assert_eq!(
            classify(&foreign, OURS, "acc-current", &us()),
            Candidate::NotOurs,
            "another name is never swept, mark or not"
        );
        let mut no_accessor = older.clone();
        no_accessor.accessor = String::new();
        assert_eq!(
            classify(&no_accessor, OURS, "acc-current", &us()),
            Candidate::Keep
        );
        assert_eq!(
            classify(&older, OURS, "", &us()),
            Candidate::Keep,
            "an empty keep-accessor sweeps nothing"
        );
    }

    #[test]
    fn our_name_without_our_mark_is_unmarked_not_stale() {
        let mut t = token(OURS, &["vault-admin"], &[]);
        t.accessor = "acc-other".into();
        assert_eq!(
            classify(&t, OURS, "acc-current", &us()),
            Candidate::Unmarked(Mark::Missing),
            "an older mint"
        );
        let mut elsewhere = us();
        elsewhere.machine = "m2".into();
        t.meta = elsewhere.mint_meta("devvm-wizard", "devvm", "n");
        assert_eq!(
            classify(&t, OURS, "acc-current", &us()),
            Candidate::Unmarked(Mark::Other(crate::identity::Field::Machine)),
            "another machine sharing the config"
        );
        let mut other_config = us();
        other_config.config = "c2".into();
        t.meta = other_config.mint_meta("devvm-wizard", "devvm", "n");
        assert_eq!(
            classify(&t, OURS, "acc-current", &us()),
            Candidate::Unmarked(Mark::Other(crate::identity::Field::Config)),
            "another configuration sharing the state dir"
        );
    }

    #[test]
    fn capabilities() {
        let caps = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(allows(&caps(&["root"]), &["list", "sudo"]));
        assert!(allows(&caps(&["list", "sudo"]), &["list", "sudo"]));
        assert!(!allows(&caps(&["list"]), &["list", "sudo"]));
        assert!(!allows(&caps(&["deny"]), &["list"]));
        assert!(!allows(&caps(&[]), &["update"]));
    }

    #[test]
    fn server_errors() {
        assert_eq!(classify_status(403), ServerErrorKind::PermissionDenied);
        assert_eq!(classify_status(400), ServerErrorKind::Refused);
        assert_eq!(classify_status(404), ServerErrorKind::NotFound);
        for s in [429, 500, 502, 503, 504] {
            assert_eq!(classify_status(s), ServerErrorKind::Transient, "{s}");
        }
        assert_eq!(classify_status(501), ServerErrorKind::Unexpected);
        assert_eq!(classify_status(412), ServerErrorKind::NotCaughtUp);
        assert_eq!(classify_status(405), ServerErrorKind::Unexpected);
        assert!(mint_denied(403) && mint_denied(400));
        assert!(!mint_denied(412), "a lagging standby refused nothing");
        assert!(!mint_denied(500) && !mint_denied(503) && !mint_denied(429));
    }

    #[test]
    fn a_new_token_may_be_unknown_to_a_standby_for_a_moment() {
        assert!(maybe_not_yet_visible(403) && maybe_not_yet_visible(412));
        for s in [400, 404, 429, 500, 503] {
            assert!(!maybe_not_yet_visible(s), "{s}");
        }
    }
}
