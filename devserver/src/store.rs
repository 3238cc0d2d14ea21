//! The in-memory token store: entries indexed by token id and by accessor, policies, entities,
//! userpass users, the clock and the id generator. The endpoint rules live in `token_create.rs`,
//! `token_ops.rs` and `login.rs`; this file holds the data and the primitives they share.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::{Value, json};

use crate::acl::{Acl, Policy};
use crate::clock::{Clock, rfc3339};
use crate::rng::Rng;
use crate::types::{Seeded, TokenSpec, TokenType, TokenView, UserpassUser};

/// The system default and max lease TTL: 32 days = 768h (contract §2.5).
pub(crate) const MAX_TTL: u64 = 32 * 24 * 3600;

/// A token's lease record. Tokens without one (an `operator init` root) do not exist in the double.
#[derive(Clone, Debug)]
pub(crate) struct Lease {
    pub(crate) issue_time: Duration,
    /// None = never expires (a root token made through token create, contract §1 `renewable`).
    pub(crate) expire: Option<Duration>,
    pub(crate) renewable: bool,
    /// The lease's current TTL in seconds (Vault's `le.Auth.TTL`): set at creation, replaced by
    /// each renewal; a renewal without increment starts from it (expiration.go RenewToken).
    pub(crate) ttl: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) accessor: String,
    pub(crate) policies: Vec<String>,
    pub(crate) display_name: String,
    pub(crate) path: String,
    pub(crate) meta: Option<BTreeMap<String, String>>,
    pub(crate) num_uses: u64,
    /// Token id of the parent; None for orphans.
    pub(crate) parent: Option<String>,
    pub(crate) children: Vec<String>,
    pub(crate) created_by: Option<String>,
    pub(crate) creation_time: Duration,
    pub(crate) creation_ttl: u64,
    pub(crate) lease: Lease,
    pub(crate) period: u64,
    pub(crate) explicit_max_ttl: u64,
    pub(crate) entity_id: String,
    pub(crate) token_type: TokenType,
    pub(crate) revoked: bool,
    pub(crate) last_renewal: Option<Duration>,
    pub(crate) renewals: u64,
}

pub(crate) struct Store {
    pub(crate) tokens: HashMap<String, Entry>,
    pub(crate) by_accessor: HashMap<String, String>,
    /// Token ids in creation order (for `state()` and `issued_tokens()`).
    pub(crate) order: Vec<String>,
    pub(crate) policies: HashMap<String, Policy>,
    /// entity id → the policies the entity (and its groups) grant (contract §8).
    pub(crate) entities: HashMap<String, Vec<String>>,
    /// (mount, lower-cased username) → user and its entity id.
    pub(crate) users: HashMap<(String, String), (UserpassUser, String)>,
    pub(crate) rng: Rng,
    pub(crate) clock: Clock,
    /// OIDC roles and logins in progress.
    pub(crate) oidc: crate::oidc::Oidc,
}

/// `policyutil.SanitizePolicies`: trim, lower-case, drop empties, `root` alone wins, optionally add
/// `default`, de-duplicate and sort (contract §1 `policies`, §3.3).
pub(crate) fn sanitize_policies(input: &[String], add_default: bool) -> Vec<String> {
    let mut out: Vec<String> = input
        .iter()
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    if out.iter().any(|p| p == "root") {
        return vec!["root".into()];
    }
    if add_default {
        out.push("default".into());
    }
    out.sort();
    out.dedup();
    out
}

/// Token-store display names: `token-` + value, every char outside `[A-Za-z0-9-]` → `-`, then
/// exactly one trailing `-` stripped; no value → `token` (contract §3 "display_name").
pub(crate) fn sanitize_display_name(given: &str) -> String {
    if given.is_empty() {
        return "token".into();
    }
    let full: String = format!("token-{given}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    full.strip_suffix('-').map(str::to_string).unwrap_or(full)
}

/// Vault subtracts the clock rounded to the second and truncates (openbao expiration.go
/// `leaseEntry.ttl`), so a lookup right after issue can read one second under the TTL.
fn lookup_ttl(expire: Duration, now: Duration) -> u64 {
    let rounded = Duration::from_secs(now.as_secs() + u64::from(now.subsec_nanos() >= 500_000_000));
    expire.saturating_sub(rounded).as_secs()
}

impl Store {
    pub(crate) fn new(seed: u64) -> Self {
        let mut policies = HashMap::new();
        policies.insert("default".to_string(), Policy::builtin_default());
        Store {
            tokens: HashMap::new(),
            by_accessor: HashMap::new(),
            order: Vec::new(),
            policies,
            entities: HashMap::new(),
            users: HashMap::new(),
            rng: Rng::new(seed),
            clock: Clock::default(),
            oidc: Default::default(),
        }
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    pub(crate) fn request_id(&mut self) -> String {
        self.rng.uuid()
    }

    /// Not revoked, lease not run out, and every ancestor alive (a parent's revocation or expiry
    /// takes its children with it).
    pub(crate) fn alive(&self, id: &str) -> bool {
        self.alive_at(id, self.now())
    }

    /// `alive` against a given clock reading: reading the clock can be a real syscall here, so
    /// bulk callers (the 100k-key accessor list) read it once.
    pub(crate) fn alive_at(&self, id: &str, now: Duration) -> bool {
        self.tokens
            .get(id)
            .is_some_and(|e| self.entry_alive_at(e, now))
    }

    /// `alive_at` for an entry in hand (no lookup unless it has a parent).
    pub(crate) fn entry_alive_at(&self, e: &Entry, now: Duration) -> bool {
        let mut cur = Some(e);
        while let Some(e) = cur {
            if e.revoked || e.lease.expire.is_some_and(|x| x <= now) {
                return false;
            }
            cur = e.parent.as_deref().and_then(|p| self.tokens.get(p));
        }
        true
    }

    /// A live token looked up by its value; expired or revoked ones count as unknown (contract §7).
    pub(crate) fn live(&self, token: &str) -> Option<&Entry> {
        self.alive(token).then(|| &self.tokens[token])
    }

    /// A live service token by accessor (revocation removes the accessor index entry, contract §5).
    pub(crate) fn live_by_accessor(&self, accessor: &str) -> Option<&Entry> {
        let id = self.by_accessor.get(accessor)?;
        self.live(id)
    }

    /// Identity policies are re-derived from the entity on every request (contract §8).
    pub(crate) fn identity_policies(&self, e: &Entry) -> Vec<String> {
        if e.entity_id.is_empty() {
            return Vec::new();
        }
        self.entities.get(&e.entity_id).cloned().unwrap_or_default()
    }

    /// The request ACL: token policies plus identity policies (contract §3.0, §3.2, §6).
    pub(crate) fn acl(&self, e: &Entry) -> Acl {
        let ident = self.identity_policies(e);
        Acl::new(
            e.policies.iter().chain(ident.iter()).map(String::as_str),
            &self.policies,
        )
    }

    pub(crate) fn new_entity(&mut self, policies: Vec<String>) -> String {
        let id = self.rng.uuid();
        self.entities.insert(id.clone(), policies);
        id
    }

    pub(crate) fn insert(&mut self, e: Entry) -> Seeded {
        let seeded = Seeded {
            token: e.id.clone(),
            accessor: e.accessor.clone(),
        };
        if let Some(p) = &e.parent
            && let Some(parent) = self.tokens.get_mut(p)
        {
            parent.children.push(e.id.clone());
        }
        // Batch tokens are not in the accessor index (contract §1 `accessor`: "" for batch).
        if e.token_type == TokenType::Service {
            self.by_accessor.insert(e.accessor.clone(), e.id.clone());
        }
        self.order.push(e.id.clone());
        self.tokens.insert(e.id.clone(), e);
        seeded
    }

    /// A fresh token value and accessor of the right shape for the type.
    pub(crate) fn new_ids(&mut self, token_type: TokenType) -> (String, String) {
        match token_type {
            TokenType::Service => (self.rng.service_token(), self.rng.accessor()),
            TokenType::Batch => (self.rng.batch_token(), String::new()),
        }
    }

    /// Seed a token verbatim from a spec (test control; no create rules applied).
    pub(crate) fn seed_token(&mut self, spec: &TokenSpec) -> Result<Seeded, String> {
        let (generated, accessor) = self.new_ids(spec.token_type);
        let id = match &spec.id {
            Some(id) if self.tokens.contains_key(id) => {
                return Err(
                    "a token with the requested id already exists; choose another id".into(),
                );
            }
            Some(id) if id.is_empty() => {
                return Err("id must not be empty; omit it to generate one".into());
            }
            Some(id) => id.clone(),
            None => generated,
        };
        // Every auth-method login makes or fetches an entity (contract §8); token-store tokens
        // have none unless a test gives them identity policies.
        let login = !spec.path.starts_with("auth/token/");
        let entity_id = if spec.identity_policies.is_empty() && !login {
            String::new()
        } else {
            self.new_entity(sanitize_policies(&spec.identity_policies, false))
        };
        let parent = match &spec.parent {
            Some(p) if !self.tokens.contains_key(p) => {
                return Err(
                    "parent token is unknown; seed the parent first and pass its token value"
                        .into(),
                );
            }
            other => other.clone(),
        };
        let now = self.now();
        let ttl = if spec.period > 0 {
            spec.period
        } else {
            spec.ttl
        };
        // The lease never outlives explicit_max_ttl (contract §2.4).
        let ttl = match spec.explicit_max_ttl {
            0 => ttl,
            max if ttl == 0 => max,
            max => ttl.min(max),
        };
        Ok(self.insert(Entry {
            id,
            accessor,
            policies: sanitize_policies(&spec.policies, false),
            display_name: spec.display_name.clone(),
            path: spec.path.clone(),
            meta: spec.meta.clone(),
            num_uses: spec.num_uses,
            parent,
            children: Vec::new(),
            created_by: None,
            creation_time: now,
            creation_ttl: ttl,
            lease: Lease {
                issue_time: now,
                expire: (ttl > 0).then(|| now + Duration::from_secs(ttl)),
                renewable: spec.renewable && ttl > 0,
                ttl,
            },
            period: spec.period,
            explicit_max_ttl: spec.explicit_max_ttl,
            entity_id,
            token_type: spec.token_type,
            revoked: false,
            last_renewal: None,
            renewals: 0,
        }))
    }

    /// Revoke a token and its whole child tree (contract §5 revoke-accessor; revoke-self).
    pub(crate) fn revoke_tree(&mut self, id: &str) {
        let mut stack = vec![id.to_string()];
        while let Some(cur) = stack.pop() {
            if let Some(e) = self.tokens.get_mut(&cur) {
                e.revoked = true;
                stack.extend(e.children.iter().cloned());
                let acc = e.accessor.clone();
                self.by_accessor.remove(&acc);
            }
        }
    }

    /// Seconds left on a token's lease now, as lookups report them; 0 when it never expires or has run out.
    pub(crate) fn ttl_left(&self, e: &Entry) -> u64 {
        e.lease
            .expire
            .map(|x| lookup_ttl(x, self.now()))
            .unwrap_or(0)
    }

    /// lookup-self / lookup / lookup-accessor `data` exactly as contract §1's table.
    pub(crate) fn lookup_data(&self, e: &Entry, shown_id: &str) -> Value {
        let mut d = serde_json::Map::new();
        d.insert("id".into(), json!(shown_id));
        d.insert("accessor".into(), json!(e.accessor));
        d.insert("policies".into(), json!(e.policies));
        d.insert("path".into(), json!(e.path));
        d.insert("meta".into(), json!(e.meta));
        d.insert("display_name".into(), json!(e.display_name));
        d.insert("num_uses".into(), json!(e.num_uses));
        d.insert("orphan".into(), json!(e.parent.is_none()));
        d.insert("creation_time".into(), json!(e.creation_time.as_secs()));
        d.insert("creation_ttl".into(), json!(e.creation_ttl));
        d.insert("expire_time".into(), json!(e.lease.expire.map(rfc3339)));
        d.insert("ttl".into(), json!(self.ttl_left(e)));
        d.insert("explicit_max_ttl".into(), json!(e.explicit_max_ttl));
        d.insert("entity_id".into(), json!(e.entity_id));
        d.insert("type".into(), json!(e.token_type.as_str()));
        // Absent, not 0, for non-periodic tokens (contract §1 `period`).
        if e.period > 0 {
            d.insert("period".into(), json!(e.period));
        }
        if let Some(t) = e.last_renewal {
            d.insert("last_renewal_time".into(), json!(t.as_secs()));
            d.insert("last_renewal".into(), json!(rfc3339(t)));
        }
        // Every double token has a lease record, so both are always present (contract §1).
        d.insert("renewable".into(), json!(e.lease.renewable));
        d.insert("issue_time".into(), json!(rfc3339(e.lease.issue_time)));
        let ident = self.identity_policies(e);
        if !ident.is_empty() {
            d.insert("identity_policies".into(), json!(ident));
            d.insert("external_namespace_policies".into(), json!({}));
        }
        Value::Object(d)
    }

    /// The `auth` block of renew/create/login responses (contract §2 "Response", §3 "Create response").
    /// `policies` is token ∪ identity policies; `identity_policies` is left out when empty.
    pub(crate) fn auth_block(&self, e: &Entry, lease_duration: u64) -> Value {
        let ident = self.identity_policies(e);
        let mut all = e.policies.clone();
        all.extend(ident.iter().cloned());
        all.sort();
        all.dedup();
        let mut a = serde_json::Map::new();
        a.insert("client_token".into(), json!(e.id));
        a.insert("accessor".into(), json!(e.accessor));
        a.insert("policies".into(), json!(all));
        a.insert("token_policies".into(), json!(e.policies));
        if !ident.is_empty() {
            a.insert("identity_policies".into(), json!(ident));
        }
        a.insert("metadata".into(), json!(e.meta));
        a.insert("lease_duration".into(), json!(lease_duration));
        a.insert("renewable".into(), json!(e.lease.renewable));
        a.insert("entity_id".into(), json!(e.entity_id));
        a.insert("token_type".into(), json!(e.token_type.as_str()));
        a.insert("orphan".into(), json!(e.parent.is_none()));
        a.insert("mfa_requirement".into(), Value::Null);
        a.insert("num_uses".into(), json!(e.num_uses));
        Value::Object(a)
    }

    pub(crate) fn view(&self, e: &Entry) -> TokenView {
        self.view_at(e, self.now())
    }

    pub(crate) fn view_at(&self, e: &Entry, now: Duration) -> TokenView {
        let alive = self.entry_alive_at(e, now);
        let ttl = e
            .lease
            .expire
            .map(|x| x.saturating_sub(now).as_secs())
            .unwrap_or(0);
        TokenView {
            accessor: e.accessor.clone(),
            display_name: e.display_name.clone(),
            policies: e.policies.clone(),
            identity_policies: self.identity_policies(e),
            period: e.period,
            ttl: if alive { ttl } else { 0 },
            alive,
            revoked: e.revoked,
            path: e.path.clone(),
            parent: e
                .parent
                .as_ref()
                .and_then(|p| self.tokens.get(p))
                .map(|p| p.accessor.clone()),
            created_by: e.created_by.clone(),
            meta: e.meta.clone(),
            orphan: e.parent.is_none(),
            renewable: e.lease.renewable,
            explicit_max_ttl: e.explicit_max_ttl,
            num_uses: e.num_uses,
            token_type: e.token_type,
            entity_id: e.entity_id.clone(),
            renewals: e.renewals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_sanitising_examples_from_contract_section_3() {
        assert_eq!(sanitize_display_name("devvm-wizard"), "token-devvm-wizard");
        assert_eq!(
            sanitize_display_name("devvm_wizard@host"),
            "token-devvm-wizard-host"
        );
        assert_eq!(sanitize_display_name("foo."), "token-foo");
        assert_eq!(sanitize_display_name("foo.."), "token-foo-");
        assert_eq!(sanitize_display_name("MiXed"), "token-MiXed");
        assert_eq!(sanitize_display_name(""), "token");
    }

    #[test]
    fn lookup_ttl_rounds_the_clock_then_truncates_like_vault() {
        let at = |s: u64, ms: u32| Duration::new(s, ms * 1_000_000);
        // Issued at 100.4 s with a 60 s TTL: looked up at once, the clock rounds down.
        assert_eq!(lookup_ttl(at(160, 400), at(100, 400)), 60);
        // Issued at 100.6 s: the clock rounds up to 101, leaving 59.6 s, reported as 59.
        assert_eq!(lookup_ttl(at(160, 600), at(100, 600)), 59);
        assert_eq!(lookup_ttl(at(160, 0), at(170, 0)), 0, "run out");
    }

    #[test]
    fn policies_sanitised_like_policyutil() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sanitize_policies(&p(&["Vault-Admin", " sops-admin", "vault-admin", ""]), true),
            ["default", "sops-admin", "vault-admin"]
        );
        assert_eq!(sanitize_policies(&p(&["root", "ci"]), true), ["root"]);
        assert_eq!(
            sanitize_policies(&p(&["a,b"]), false),
            ["a,b"],
            "a comma string is one name"
        );
    }
}
