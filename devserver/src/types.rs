//! Public types of the test-control API (Rust and, through serde, the `/_test/…` HTTP API).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `service` or `batch` (contract §3 `type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    #[default]
    Service,
    Batch,
}

impl TokenType {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenType::Service => "service",
            TokenType::Batch => "batch",
        }
    }
}

/// A token to seed directly into the store, bypassing the create rules.
///
/// `display_name` is stored verbatim: login tokens are not sanitised (contract §8), so pass
/// `token-<name>` yourself for a token that should look minted through the token store.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSpec {
    pub display_name: String,
    /// Token policies, sanitised like Vault's (lower-cased, de-duplicated, sorted).
    pub policies: Vec<String>,
    /// When non-empty the token gets an entity carrying these policies (contract §8).
    pub identity_policies: Vec<String>,
    /// Seconds; 0 = not periodic.
    pub period: u64,
    /// Seconds; 0 = never expires (only sensible for root-like tokens). Ignored when `period` is set:
    /// a periodic token's lease is its period.
    pub ttl: u64,
    pub renewable: bool,
    /// Creation path, e.g. `auth/token/create-orphan` or `auth/oidc/oidc/callback`.
    pub path: String,
    pub meta: Option<BTreeMap<String, String>>,
    pub token_type: TokenType,
    pub explicit_max_ttl: u64,
    pub num_uses: u64,
    /// Token value of a parent: the seeded token becomes its child (not an orphan) and is revoked
    /// with it. None = orphan, like every auth-method login and create-orphan token.
    pub parent: Option<String>,
    /// Use this token value instead of a generated one.
    pub id: Option<String>,
}

impl Default for TokenSpec {
    fn default() -> Self {
        TokenSpec {
            display_name: "token".into(),
            policies: vec!["default".into()],
            identity_policies: Vec::new(),
            period: 0,
            ttl: 768 * 3600,
            renewable: true,
            path: "auth/token/create".into(),
            meta: None,
            token_type: TokenType::Service,
            explicit_max_ttl: 0,
            num_uses: 0,
            parent: None,
            id: None,
        }
    }
}

impl TokenSpec {
    /// A login token as an auth method leaves it: `display_name` verbatim (e.g. `oidc-alice`,
    /// `kubernetes-woodpecker-default`), orphan, renewable, `default` added to `policies`.
    pub fn login(display_name: &str, policies: &[&str], identity_policies: &[&str]) -> Self {
        let mount = display_name.split('-').next().unwrap_or("userpass");
        let mut p: Vec<String> = policies.iter().map(|s| s.to_string()).collect();
        p.push("default".into());
        TokenSpec {
            display_name: display_name.into(),
            policies: p,
            identity_policies: identity_policies.iter().map(|s| s.to_string()).collect(),
            ttl: 8 * 3600,
            path: format!("auth/{mount}/login"),
            ..Default::default()
        }
    }

    /// A periodic orphan as `create-orphan` with `display_name = name` would have made it
    /// (display name `token-<name>`, `default` added).
    pub fn periodic(name: &str, policies: &[&str], period_secs: u64) -> Self {
        let mut p: Vec<String> = policies.iter().map(|s| s.to_string()).collect();
        p.push("default".into());
        TokenSpec {
            display_name: crate::store::sanitize_display_name(name),
            policies: p,
            period: period_secs,
            ttl: period_secs,
            path: "auth/token/create-orphan".into(),
            ..Default::default()
        }
    }
}

/// What seeding a token returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeded {
    pub token: String,
    pub accessor: String,
}

/// The store's view of one token, for assertions. Never contains the token value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenView {
    pub accessor: String,
    pub display_name: String,
    pub policies: Vec<String>,
    pub identity_policies: Vec<String>,
    pub period: u64,
    /// Seconds left on the lease now; 0 when it never expires or is dead.
    pub ttl: u64,
    /// Not revoked and not expired (nor under a dead parent).
    pub alive: bool,
    pub revoked: bool,
    pub path: String,
    /// Accessor of the parent token; None for orphans.
    pub parent: Option<String>,
    /// Accessor of the token whose request created this one (None for seeded tokens and logins).
    pub created_by: Option<String>,
    pub meta: Option<BTreeMap<String, String>>,
    pub orphan: bool,
    pub renewable: bool,
    pub explicit_max_ttl: u64,
    pub num_uses: u64,
    pub token_type: TokenType,
    pub entity_id: String,
    /// Number of successful renewals.
    pub renewals: u64,
}

/// Every token ever created, in creation order.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub tokens: Vec<TokenView>,
}

impl State {
    pub fn by_display_name<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a TokenView> + 'a {
        self.tokens.iter().filter(move |t| t.display_name == name)
    }

    pub fn by_accessor(&self, accessor: &str) -> Option<&TokenView> {
        self.tokens.iter().find(|t| t.accessor == accessor)
    }
}

/// A userpass user (contract §8: a userpass mount at `oidc` emulates OIDC logins).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserpassUser {
    pub mount: String,
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub identity_policies: Vec<String>,
    /// Seconds; None = the mount default, 32 days (contract §2.5).
    #[serde(default)]
    pub ttl: Option<u64>,
}

/// One request as the double answered it. `status` is 0 when the connection was dropped without a response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub method: String,
    /// Path without the `/v1/` prefix and without the query string.
    pub path: String,
    pub status: u16,
}

/// What the server is seeded with at start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Seed {
    /// Only the built-in `default` and `root` policies; no tokens.
    #[default]
    Empty,
    /// The demo world: admin/weak policies, a root token, the `oidc` and `kubernetes` userpass users.
    Demo,
}
