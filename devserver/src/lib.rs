//! `vault-devserver`: an in-memory Vault/OpenBao token-store double that follows
//! `docs/vault-api-contract.md` rule for rule (each rule cites its section), with test
//! controls (seeding, faults, a clock, request records) both in-process and over HTTP.
//!
//! ```no_run
//! let server = vault_devserver::DevServer::start().unwrap();
//! let admin = server.add_token(vault_devserver::TokenSpec::login("oidc-alice", &[], &["vault-admin"]));
//! println!("{} {}", server.url(), admin.accessor);
//! ```

mod acl;
mod clock;
mod control;
mod fault;
mod fields;
mod health;
mod inject;
mod jws;
mod login;
mod oidc;
pub mod openbao;
pub mod openbao_logins;
pub mod provider;
mod proxy;
mod reply;
mod rng;
mod router;
mod seed;
mod server;
mod store;
mod tls;
mod token_create;
mod token_ops;
pub mod tokenreview;
mod ttl;
mod types;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The HTTP method type used by [`Fault`] and [`DevServer::requests`].
pub use axum::http::Method;
pub use fault::{Fault, FaultKind};
pub use oidc::OidcRole;
pub use proxy::FaultProxy;
pub use types::{
    RequestRecord, Seed, Seeded, State, TokenSpec, TokenType, TokenView, UserpassUser,
};

use server::{Running, Shared};
use store::Store;

/// Sanitised the way the token store stores display names: `token-` + `[^A-Za-z0-9-]`→`-`, one
/// trailing `-` stripped (contract §3 "display_name"). Exposed so tests can compute expected names.
pub fn token_display_name(given: &str) -> String {
    store::sanitize_display_name(given)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not wedge the server for every later request.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn state_of(store: &Store) -> State {
    let now = store.now();
    State {
        tokens: store
            .order
            .iter()
            .map(|id| store.view_at(&store.tokens[id], now))
            .collect(),
    }
}

pub(crate) fn issued_of(store: &Store) -> Vec<String> {
    store.order.clone()
}

/// Configures and starts a [`DevServer`].
pub struct Builder {
    addr: SocketAddr,
    seed: Seed,
    root_token: String,
    rng_seed: u64,
    bench_tokens: usize,
    bench_display_name: String,
    test_controls: bool,
    tls: Option<(Vec<u8>, Vec<u8>)>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Seed::Empty,
            root_token: "root".into(),
            rng_seed: 0x5eed_2026,
            bench_tokens: 0,
            bench_display_name: "devvm-wizard".into(),
            test_controls: true,
            tls: None,
        }
    }
}

impl Builder {
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }
    pub fn seed(mut self, seed: Seed) -> Self {
        self.seed = seed;
        self
    }
    /// The demo root token's value (default `root`, like `-dev-root-token-id=root`).
    pub fn root_token(mut self, id: &str) -> Self {
        self.root_token = id.into();
        self
    }
    /// Seed of the id generator: same seed + same requests = same tokens and accessors.
    pub fn rng_seed(mut self, seed: u64) -> Self {
        self.rng_seed = seed;
        self
    }
    /// `n` unrelated login tokens plus three stale periodic copies named `token-<display_name>`.
    pub fn bench_tokens(mut self, n: usize, display_name: &str) -> Self {
        self.bench_tokens = n;
        self.bench_display_name = display_name.into();
        self
    }
    /// Serve the `/_test/…` HTTP API (on by default in-process; the binary needs `--test-controls`).
    pub fn test_controls(mut self, on: bool) -> Self {
        self.test_controls = on;
        self
    }

    /// Serve https with this PEM certificate chain (leaf first) and PEM private key.
    pub fn tls_pem(mut self, cert_chain_pem: &[u8], key_pem: &[u8]) -> Self {
        self.tls = Some((cert_chain_pem.to_vec(), key_pem.to_vec()));
        self
    }

    pub fn start(self) -> std::io::Result<DevServer> {
        let acceptor = match &self.tls {
            Some((cert, key)) => Some(tls::acceptor(cert, key)?),
            None => None,
        };
        let tls = acceptor.is_some();
        let mut store = Store::new(self.rng_seed);
        if self.seed == Seed::Demo {
            seed::demo(&mut store, &self.root_token);
        }
        if self.bench_tokens > 0 {
            seed::bench(&mut store, self.bench_tokens, &self.bench_display_name);
        }
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            injector: Default::default(),
            test_controls: self.test_controls,
        });
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(shared.clone());
        let listener = std::net::TcpListener::bind(self.addr)?;
        let running = Running::start("vault-devserver", listener, app, acceptor)?;
        Ok(DevServer {
            shared,
            tls,
            running,
        })
    }
}

/// A running double on its own thread and tokio runtime; dropping it stops the server.
pub struct DevServer {
    shared: Arc<Shared>,
    tls: bool,
    running: Running,
}

impl DevServer {
    /// An empty server on 127.0.0.1 with a free port.
    pub fn start() -> std::io::Result<Self> {
        Builder::default().start()
    }

    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `http://127.0.0.1:PORT`, or `https://…` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.running.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.running.addr
    }

    /// Define (or replace) a policy: path pattern (exact, or a trailing `*` glob) → capabilities.
    ///
    /// # Panics
    /// On an unknown capability name: a typo in a test's fixture.
    pub fn add_policy(&self, name: &str, rules: &[(&str, &[&str])]) {
        let policy =
            acl::Policy::from_rules(rules).unwrap_or_else(|e| panic!("policy {name}: {e}"));
        lock(&self.shared.store)
            .policies
            .insert(name.to_lowercase(), policy);
    }

    /// Seed a token verbatim (display name unsanitised). Panics if `spec.id` is taken.
    pub fn add_token(&self, spec: TokenSpec) -> Seeded {
        lock(&self.shared.store)
            .seed_token(&spec)
            .unwrap_or_else(|e| panic!("add_token: {e}"))
    }

    /// A root token with this value (policy `root`, no expiry).
    pub fn add_root_token(&self, id: &str) {
        seed::root(&mut lock(&self.shared.store), id);
    }

    pub fn add_userpass_user(
        &self,
        mount: &str,
        username: &str,
        password: &str,
        policies: &[&str],
        identity_policies: &[&str],
    ) {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        lock(&self.shared.store).add_user(UserpassUser {
            mount: mount.into(),
            username: username.into(),
            password: password.into(),
            policies: owned(policies),
            identity_policies: owned(identity_policies),
            ttl: None,
        });
    }

    /// Add an OIDC role whose user the built-in fake provider signs in at once (contract §9 flow:
    /// `auth/<mount>/oidc/auth_url`, the provider's redirect, `auth/<mount>/oidc/callback`).
    pub fn add_oidc_role(&self, role: OidcRole) {
        lock(&self.shared.store).add_oidc_role(role);
    }

    /// Replace the policies of a token's entity (identity policies are re-read on every request,
    /// contract §8). Returns false if the token has no entity.
    pub fn set_identity_policies(&self, token: &str, policies: &[&str]) -> bool {
        let mut s = lock(&self.shared.store);
        let Some(entity) = s.tokens.get(token).map(|e| e.entity_id.clone()) else {
            return false;
        };
        if entity.is_empty() {
            return false;
        }
        let p = policies.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        s.entities
            .insert(entity, store::sanitize_policies(&p, false));
        true
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.shared.injector.inject(fault, 0);
    }

    /// Like [`DevServer::inject_fault`], but the first `skip` matching requests pass untouched:
    /// a heal's second `lookup-self` is the minted token's verification, say.
    pub fn inject_fault_after(&self, fault: Fault, skip: u32) {
        self.shared.injector.inject(fault, skip);
    }

    pub fn clear_faults(&self) {
        self.shared.injector.clear();
    }

    /// Every token ever created, in creation order, without token values.
    pub fn state(&self) -> State {
        state_of(&lock(&self.shared.store))
    }

    pub fn token_alive(&self, token: &str) -> bool {
        lock(&self.shared.store).alive(token)
    }

    /// Revokes a token and its children, as `auth/token/revoke` would.
    pub fn revoke(&self, token: &str) {
        lock(&self.shared.store).revoke_tree(token)
    }

    pub fn lookup(&self, token: &str) -> Option<TokenView> {
        let s = lock(&self.shared.store);
        s.tokens.get(token).map(|e| s.view(e))
    }

    pub fn lookup_accessor(&self, accessor: &str) -> Option<TokenView> {
        let s = lock(&self.shared.store);
        s.order
            .iter()
            .map(|id| &s.tokens[id])
            .find(|e| e.accessor == accessor)
            .map(|e| s.view(e))
    }

    /// Every token value ever issued or seeded, for secret-hygiene assertions.
    pub fn issued_tokens(&self) -> Vec<String> {
        issued_of(&lock(&self.shared.store))
    }

    /// `(method, path without /v1/, status)`; status 0 = connection dropped without a response.
    pub fn requests(&self) -> Vec<(Method, String, u16)> {
        self.shared.injector.requests()
    }

    /// Requests with this verb and path (a trailing slash is ignored).
    pub fn request_count(&self, method: Method, path: &str) -> usize {
        self.shared.injector.request_count(method, path)
    }

    pub fn reset_requests(&self) {
        self.shared.injector.reset_requests();
    }

    /// Move the double's clock forward: TTLs count down, expired tokens answer 403.
    pub fn advance_clock(&self, by: Duration) {
        lock(&self.shared.store).clock.advance(by);
    }
}
