//! The pure decisions: is this token ours, which accessors are stale, what a server error means.

use crate::identity::{Identity, Mark};
use crate::wire::TokenInfo;
use std::collections::BTreeMap;

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
    /// Our name and policies, but not a token we would mint: it cannot live on by renewals alone.
    NotPeriodic(&'static str),
}

/// The drift guard: ours only if the display name is exactly our stored name, token plus
/// identity policies contain every required policy (compared as whole names), and it is a
/// renewable periodic token without an explicit max TTL — what we mint. `token_role` is the
/// configured role: a token minted through it shows no `period` (the role holds it).
pub fn judge(
    info: &TokenInfo,
    our_stored_name: &str,
    required: &[String],
    token_role: Option<&str>,
) -> Verdict {
    if info.display_name != our_stored_name {
        return Verdict::Foreign(ForeignReason::WrongName);
    }
    let held = |p: &String| info.policies.contains(p) || info.identity_policies.contains(p);
    let missing: Vec<String> = required.iter().filter(|p| !held(p)).cloned().collect();
    if !missing.is_empty() {
        return Verdict::Foreign(ForeignReason::MissingPolicies(missing));
    }
    match not_periodic(info, token_role) {
        Some(why) => Verdict::Foreign(ForeignReason::NotPeriodic(why)),
        None => Verdict::Ours,
    }
}

/// Why a token is not one that lives on by renewals alone, if it is not.
fn not_periodic(info: &TokenInfo, token_role: Option<&str>) -> Option<&'static str> {
    let by_our_role = token_role.is_some() && info.role.as_deref() == token_role;
    if info.period.is_none_or(|p| p <= 0) && !by_our_role {
        Some("it has no period")
    } else if info.renewable != Some(true) {
        Some("it is not renewable")
    } else if info.explicit_max_ttl != 0 {
        Some("it has an explicit max TTL")
    } else {
        None
    }
}

/// Words for a log line: why a same-named or foreign token is not ours.
pub fn foreign_words(reason: &ForeignReason) -> String {
    match reason {
        ForeignReason::WrongName => "it does not carry our display name".to_owned(),
        ForeignReason::MissingPolicies(p) => format!("it lacks required policies {}", p.join(",")),
        ForeignReason::NotPeriodic(why) => (*why).to_owned(),
    }
}

/// What a freshly minted token must look like before it may replace the file: ours (periodic,
/// renewable, no max TTL) with the period we asked for, an orphan (so revoking its creator
/// cannot take it down), made by the path we sent the mint to.
pub fn verify_minted(
    info: &TokenInfo,
    our_stored_name: &str,
    required: &[String],
    period_secs: u64,
    path: &MintPath,
) -> Result<(), String> {
    let role = match path {
        MintPath::Role(role) => Some(role.as_str()),
        _ => None,
    };
    if let Verdict::Foreign(reason) = judge(info, our_stored_name, required, role) {
        return Err(match reason {
            ForeignReason::NotPeriodic("it has no period") => "it is not periodic".to_owned(),
            reason => foreign_words(&reason),
        });
    }
    // Through a role the period is the role's, and the lookup does not show it.
    match info.period {
        Some(p) if p == period_secs as i64 || role.is_some() => {}
        Some(p) => {
            return Err(format!(
                "its period is {p}s, not the {period_secs}s requested"
            ));
        }
        None if role.is_some() => {}
        None => return Err("it is not periodic".to_owned()),
    }
    if !info.orphan {
        return Err("it is not an orphan".to_owned());
    }
    let made_here = info.path == path.api_path()
        || (role.is_some() && info.path.starts_with(&format!("{}/", path.api_path())));
    if !made_here {
        return Err(format!(
            "it was made by {:?}, not by {}",
            info.path,
            path.api_path()
        ));
    }
    Ok(())
}

/// Where a periodic orphan is minted (contract §3). Each needs a different authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MintPath {
    /// `auth/token/create/<role>`: `update` is enough when the role has `orphan=true` and a
    /// `token_period`; the role sets the period, so none is sent.
    Role(String),
    /// `auth/token/create-orphan`: `update` and `sudo` (sudo for the period and any policies).
    CreateOrphan,
    /// `auth/token/create` with `no_parent=true` (what `vault token create -orphan` sends):
    /// `update` and `sudo` on that path.
    CreateNoParent,
}

impl MintPath {
    pub fn api_path(&self) -> String {
        match self {
            MintPath::Role(role) => format!("auth/token/create/{role}"),
            MintPath::CreateOrphan => "auth/token/create-orphan".to_owned(),
            MintPath::CreateNoParent => "auth/token/create".to_owned(),
        }
    }

    fn needs(&self) -> &'static [&'static str] {
        match self {
            MintPath::Role(_) => &["update"],
            _ => &["update", "sudo"],
        }
    }
}

/// The mint paths worth asking about, best first: the configured role, then create-orphan,
/// then create with `no_parent`.
pub fn mint_candidates(token_role: Option<&str>) -> Vec<MintPath> {
    token_role
        .map(|r| MintPath::Role(r.to_owned()))
        .into_iter()
        .chain([MintPath::CreateOrphan, MintPath::CreateNoParent])
        .collect()
}

/// The first candidate the capabilities (of one `sys/capabilities-self` answer) allow; None
/// when none does, so no mint is sent that would only be denied. Unknown capabilities (the
/// token may not ask) leave the decision to the server: the best candidate is tried.
pub fn choose_mint_path(
    token_role: Option<&str>,
    capabilities: Option<&BTreeMap<String, Vec<String>>>,
) -> Option<MintPath> {
    let mut candidates = mint_candidates(token_role).into_iter();
    let Some(caps) = capabilities else {
        return candidates.next();
    };
    candidates.find(|c| {
        caps.get(&c.api_path())
            .is_some_and(|have| allows(have, c.needs()))
    })
}

/// What a 403 says about the token that was sent (contract §7, checked on OpenBao 2.7.2): an
/// ACL denial is multierror-wrapped (`1 error occurred:\n\t* permission denied\n\n`), while a
/// missing, expired or revoked token gets a bare `permission denied` (OpenBao, Vault before
/// 1.17) or a text naming `invalid token` (Vault 1.17+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The server does not know the token (expired, revoked, never valid).
    InvalidToken,
    /// The token is valid, but its policies do not allow this request; or a text we cannot
    /// place, which says nothing certain about the token either.
    NotAllowed,
}

pub fn classify_denial(errors: &[String]) -> Denial {
    let bare = |e: &String| e.trim() == "permission denied";
    if errors
        .iter()
        .any(|e| e.contains("invalid token") || bare(e))
    {
        Denial::InvalidToken
    } else {
        Denial::NotAllowed
    }
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
            renewable: Some(true),
            path: "auth/token/create-orphan".into(),
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
        assert_eq!(judge(&t, OURS, &req(&["vault-admin"]), None), Verdict::Ours);
    }

    #[test]
    fn required_policy_may_be_anywhere_in_the_list_and_order_is_irrelevant() {
        for list in [
            ["vault-admin", "a", "b"],
            ["a", "vault-admin", "b"],
            ["a", "b", "vault-admin"],
        ] {
            assert_eq!(
                judge(&token(OURS, &list, &[]), OURS, &req(&["vault-admin"]), None),
                Verdict::Ours
            );
        }
        let t = token(OURS, &["sops-admin", "vault-admin"], &[]);
        assert_eq!(
            judge(&t, OURS, &req(&["vault-admin", "sops-admin"]), None),
            Verdict::Ours
        );
    }

    #[test]
    fn required_policy_through_identity_counts() {
        let t = token(OURS, &["default"], &["vault-admin"]);
        assert_eq!(judge(&t, OURS, &req(&["vault-admin"]), None), Verdict::Ours);
    }

    #[test]
    fn woodpecker_clobber_is_foreign() {
        let t = token(
            "kubernetes-woodpecker-default",
            &["ci", "default", "terraform-state"],
            &[],
        );
        assert_eq!(
            judge(&t, OURS, &req(&["vault-admin"]), None),
            Verdict::Foreign(ForeignReason::WrongName)
        );
    }

    #[test]
    fn oidc_admin_token_with_the_wrong_name_is_foreign() {
        let t = token("oidc-alice@example.com", &["default"], &["vault-admin"]);
        assert_eq!(
            judge(&t, OURS, &req(&["vault-admin"]), None),
            Verdict::Foreign(ForeignReason::WrongName)
        );
    }

    #[test]
    fn right_name_without_the_required_policy_is_foreign() {
        let t = token(OURS, &["default", "sops-admin"], &[]);
        assert_eq!(
            judge(&t, OURS, &req(&["vault-admin"]), None),
            Verdict::Foreign(ForeignReason::MissingPolicies(req(&["vault-admin"])))
        );
    }

    #[test]
    fn empty_name_and_empty_policies_are_foreign() {
        assert_eq!(
            judge(
                &token("", &["vault-admin"], &[]),
                OURS,
                &req(&["vault-admin"]),
                None
            ),
            Verdict::Foreign(ForeignReason::WrongName)
        );
        assert!(matches!(
            judge(&token(OURS, &[], &[]), OURS, &req(&["vault-admin"]), None),
            Verdict::Foreign(_)
        ));
    }

    #[test]
    fn policy_names_match_whole_never_by_prefix() {
        let t = token(OURS, &["default", "vault-admin-ro"], &["xvault-admin"]);
        assert!(matches!(
            judge(&t, OURS, &req(&["vault-admin"]), None),
            Verdict::Foreign(_)
        ));
    }

    #[test]
    fn name_match_is_exact() {
        assert!(matches!(
            judge(
                &token("token-devvm-wizard2", &["vault-admin"], &[]),
                OURS,
                &req(&["vault-admin"]),
                None
            ),
            Verdict::Foreign(_)
        ));
        assert!(matches!(
            judge(
                &token("Token-devvm-wizard", &["vault-admin"], &[]),
                OURS,
                &req(&["vault-admin"]),
                None
            ),
            Verdict::Foreign(_)
        ));
    }

    #[test]
    fn no_required_policies_means_the_name_decides() {
        assert_eq!(
            judge(&token(OURS, &["default"], &[]), OURS, &[], None),
            Verdict::Ours
        );
    }

    #[test]
    fn minted_token_must_be_periodic_with_our_period_and_an_orphan() {
        let good = token(OURS, &["default", "vault-admin"], &[]);
        assert!(
            verify_minted(
                &good,
                OURS,
                &req(&["vault-admin"]),
                2764800,
                &MintPath::CreateOrphan
            )
            .is_ok()
        );
        let mut t = good.clone();
        t.period = None;
        assert!(
            verify_minted(
                &t,
                OURS,
                &req(&["vault-admin"]),
                2764800,
                &MintPath::CreateOrphan
            )
            .unwrap_err()
            .contains("not periodic")
        );
        let mut t = good.clone();
        t.period = Some(3600);
        assert!(
            verify_minted(
                &t,
                OURS,
                &req(&["vault-admin"]),
                2764800,
                &MintPath::CreateOrphan
            )
            .is_err()
        );
        let mut t = good.clone();
        t.orphan = false;
        assert!(
            verify_minted(
                &t,
                OURS,
                &req(&["vault-admin"]),
                2764800,
                &MintPath::CreateOrphan
            )
            .is_err()
        );
        let t = token(OURS, &["default"], &[]);
        assert!(
            verify_minted(
                &t,
                OURS,
                &req(&["vault-admin"]),
                2764800,
                &MintPath::CreateOrphan
            )
            .unwrap_err()
            .contains("vault-admin")
        );
    }

    #[test]
    fn ours_means_periodic_renewable_and_without_max_ttl() {
        let good = token(OURS, &["vault-admin"], &[]);
        let required = req(&["vault-admin"]);
        let mut t = good.clone();
        t.period = None;
        assert_eq!(
            judge(&t, OURS, &required, None),
            Verdict::Foreign(ForeignReason::NotPeriodic("it has no period"))
        );
        t.period = Some(0);
        assert!(matches!(
            judge(&t, OURS, &required, None),
            Verdict::Foreign(_)
        ));
        let mut t = good.clone();
        t.renewable = Some(false);
        assert_eq!(
            judge(&t, OURS, &required, None),
            Verdict::Foreign(ForeignReason::NotPeriodic("it is not renewable"))
        );
        t.renewable = None;
        assert!(matches!(
            judge(&t, OURS, &required, None),
            Verdict::Foreign(_)
        ));
        let mut t = good.clone();
        t.explicit_max_ttl = 3600;
        assert_eq!(
            judge(&t, OURS, &required, None),
            Verdict::Foreign(ForeignReason::NotPeriodic("it has an explicit max TTL"))
        );
    }

    #[test]
    fn a_token_of_our_role_is_periodic_without_a_period_field() {
        let mut t = token(OURS, &["vault-admin"], &[]);
        t.period = None;
        t.role = Some("devvm".into());
        t.path = "auth/token/create/devvm".into();
        let required = req(&["vault-admin"]);
        assert_eq!(judge(&t, OURS, &required, Some("devvm")), Verdict::Ours);
        assert!(
            matches!(
                judge(&t, OURS, &required, Some("other")),
                Verdict::Foreign(_)
            ),
            "another role's period is unknown"
        );
        assert!(matches!(
            judge(&t, OURS, &required, None),
            Verdict::Foreign(_)
        ));
        let role = MintPath::Role("devvm".into());
        assert!(verify_minted(&t, OURS, &required, 2764800, &role).is_ok());
        t.path = "auth/token/create/devvm/v2".into();
        assert!(
            verify_minted(&t, OURS, &required, 2764800, &role).is_ok(),
            "path_suffix"
        );
        t.orphan = false;
        assert!(verify_minted(&t, OURS, &required, 2764800, &role).is_err());
    }

    #[test]
    fn minted_token_is_verified_against_the_path_it_was_minted_by() {
        let required = req(&["vault-admin"]);
        let mut t = token(OURS, &["vault-admin"], &[]);
        t.path = "auth/token/create".into();
        assert!(verify_minted(&t, OURS, &required, 2764800, &MintPath::CreateNoParent).is_ok());
        let err = verify_minted(&t, OURS, &required, 2764800, &MintPath::CreateOrphan).unwrap_err();
        assert!(err.contains("auth/token/create-orphan"), "{err}");
        t.orphan = false;
        assert!(verify_minted(&t, OURS, &required, 2764800, &MintPath::CreateNoParent).is_err());
    }

    #[test]
    fn a_token_made_through_a_role_is_not_one_made_by_create() {
        let required = req(&["vault-admin"]);
        let mut t = token(OURS, &["vault-admin"], &[]);
        t.path = "auth/token/create/someone-elses-role".into();
        let err =
            verify_minted(&t, OURS, &required, 2764800, &MintPath::CreateNoParent).unwrap_err();
        assert!(err.contains("someone-elses-role"), "{err}");
    }

    fn caps(entries: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        entries
            .iter()
            .map(|(p, c)| (p.to_string(), c.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn mint_path_is_the_first_the_capabilities_allow() {
        let orphan = "auth/token/create-orphan";
        let create = "auth/token/create";
        let role = "auth/token/create/devvm";
        let all = caps(&[
            (role, &["update"]),
            (orphan, &["sudo", "update"]),
            (create, &["sudo", "update"]),
        ]);
        assert_eq!(
            choose_mint_path(Some("devvm"), Some(&all)),
            Some(MintPath::Role("devvm".into()))
        );
        assert_eq!(
            choose_mint_path(None, Some(&all)),
            Some(MintPath::CreateOrphan)
        );
        let create_only = caps(&[(orphan, &["deny"]), (create, &["sudo", "update"])]);
        assert_eq!(
            choose_mint_path(None, Some(&create_only)),
            Some(MintPath::CreateNoParent)
        );
        let no_sudo = caps(&[(orphan, &["update"]), (create, &["create", "update"])]);
        assert_eq!(choose_mint_path(None, Some(&no_sudo)), None);
        let role_denied = caps(&[
            (role, &["deny"]),
            (orphan, &["update"]),
            (create, &["deny"]),
        ]);
        assert_eq!(choose_mint_path(Some("devvm"), Some(&role_denied)), None);
        let root = caps(&[(orphan, &["root"]), (create, &["root"])]);
        assert_eq!(
            choose_mint_path(None, Some(&root)),
            Some(MintPath::CreateOrphan)
        );
        assert_eq!(
            choose_mint_path(None, Some(&caps(&[]))),
            None,
            "a path missing from the answer is not allowed"
        );
    }

    #[test]
    fn unknown_capabilities_leave_the_answer_to_the_server() {
        assert_eq!(choose_mint_path(None, None), Some(MintPath::CreateOrphan));
        assert_eq!(
            choose_mint_path(Some("devvm"), None),
            Some(MintPath::Role("devvm".into()))
        );
        assert_eq!(
            mint_candidates(Some("r"))
                .iter()
                .map(MintPath::api_path)
                .collect::<Vec<_>>(),
            [
                "auth/token/create/r",
                "auth/token/create-orphan",
                "auth/token/create"
            ]
        );
    }

    #[test]
    fn a_403_names_an_invalid_token_only_in_the_servers_invalid_token_words() {
        let e = |s: &str| vec![s.to_owned()];
        assert_eq!(
            classify_denial(&e("permission denied")),
            Denial::InvalidToken
        );
        assert_eq!(
            classify_denial(&e(
                "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"
            )),
            Denial::InvalidToken
        );
        assert_eq!(
            classify_denial(&e("1 error occurred:\n\t* permission denied\n\n")),
            Denial::NotAllowed
        );
        assert_eq!(classify_denial(&[]), Denial::NotAllowed);
        assert_eq!(
            classify_denial(&e("<html>Forbidden</html>")),
            Denial::NotAllowed
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
