//! The server a scenario runs against: the in-repo double, or a real OpenBao. One interface, so a
//! scenario is written once and run against both (see `scenarios!`).

use std::net::SocketAddr;
use std::time::Duration;

use vault_devserver::openbao::OpenBao;
use vault_devserver::openbao_logins::GenuineLogins;
use vault_devserver::{
    DevServer, Fault, FaultProxy, Method, Seed, Seeded, State, TokenSpec, TokenView,
};

/// Which server a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Double,
    OpenBao,
}

pub enum Server {
    Double(DevServer),
    OpenBao(Box<Real>),
}

/// A real OpenBao with genuine OIDC and kubernetes logins, reached through a fault-injecting
/// proxy (the binary talks to the proxy; the harness's own calls go straight to the server).
pub struct Real {
    pub proxy: FaultProxy,
    pub logins: GenuineLogins,
    pub bao: OpenBao,
}

impl Server {
    /// The demo world on either server: policies `vault-admin`, `sops-admin`, `ci`,
    /// `terraform-state`; root token `root`.
    pub fn start(kind: Kind) -> Server {
        Server::start_with_root(kind, "root")
    }

    /// The same with another root token (an unguessable one, for leak checks).
    pub fn start_with_root(kind: Kind, root: &str) -> Server {
        match kind {
            Kind::Double => Server::Double(
                DevServer::builder()
                    .seed(Seed::Demo)
                    .root_token(root)
                    .start()
                    .expect("start the double"),
            ),
            Kind::OpenBao => {
                let bao =
                    OpenBao::start_with_root(root).unwrap_or_else(|e| panic!("start OpenBao: {e}"));
                bao.seed_demo();
                let logins = GenuineLogins::mount(&bao).expect("start the OIDC provider");
                let proxy = FaultProxy::start(&bao.url()).expect("start the fault proxy");
                Server::OpenBao(Box::new(Real { proxy, logins, bao }))
            }
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Server::Double(_) => Kind::Double,
            Server::OpenBao(_) => Kind::OpenBao,
        }
    }

    /// The double, for what only it can stage (its clock, its fault injection); panics on the
    /// real server, so a scenario that needs it must be declared double-only.
    pub fn double(&self) -> &DevServer {
        match self {
            Server::Double(d) => d,
            Server::OpenBao(_) => {
                panic!("this step needs the double; declare the scenario `double_only`")
            }
        }
    }

    /// The real server's handle, for what only it has (token roles); panics on the double, so a
    /// scenario that needs it must be declared `openbao_only`.
    pub fn openbao(&self) -> &OpenBao {
        match self {
            Server::OpenBao(r) => &r.bao,
            Server::Double(_) => {
                panic!("this step needs real OpenBao; declare the scenario `openbao_only`")
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Server::Double(d) => d.url(),
            Server::OpenBao(r) => r.proxy.url(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Double(d) => d.addr(),
            Server::OpenBao(r) => r.proxy.addr(),
        }
    }

    pub fn add_policy(&self, name: &str, rules: &[(&str, &[&str])]) {
        match self {
            Server::Double(d) => d.add_policy(name, rules),
            Server::OpenBao(r) => r.bao.add_policy(name, rules),
        }
    }

    /// A token like the spec (on OpenBao made through the server's own create and login rules).
    pub fn add_token(&self, spec: TokenSpec) -> Seeded {
        match self {
            Server::Double(d) => d.add_token(spec),
            Server::OpenBao(r) => match r.logins.login(&r.bao, &spec) {
                Some(login) => login,
                None => r.bao.add_token(spec),
            },
        }
    }

    pub fn revoke(&self, token: &str) {
        match self {
            Server::Double(d) => d.revoke(token),
            Server::OpenBao(r) => r.bao.revoke(token),
        }
    }

    /// Gives the token's entity these identity policies (a login's authority, granted later).
    pub fn set_identity_policies(&self, token: &str, policies: &[&str]) {
        match self {
            Server::Double(d) => assert!(d.set_identity_policies(token, policies)),
            Server::OpenBao(r) => {
                let entity = r.bao.lookup(token).expect("a live token").entity_id;
                assert!(!entity.is_empty(), "the token has no entity");
                r.bao.root(
                    "POST",
                    &format!("identity/entity/id/{entity}"),
                    Some(serde_json::json!({ "policies": policies })),
                );
            }
        }
    }

    pub fn token_alive(&self, token: &str) -> bool {
        match self {
            Server::Double(d) => d.token_alive(token),
            Server::OpenBao(r) => r.bao.token_alive(token),
        }
    }

    /// The server's view of a live token. On OpenBao a revoked token is simply unknown (None);
    /// `renewals` is 0 or 1 there (the API only says whether it was ever renewed).
    pub fn lookup(&self, token: &str) -> Option<TokenView> {
        match self {
            Server::Double(d) => d.lookup(token).filter(|v| v.alive),
            Server::OpenBao(r) => r.bao.lookup(token),
        }
    }

    pub fn lookup_accessor(&self, accessor: &str) -> Option<TokenView> {
        match self {
            Server::Double(d) => d.lookup_accessor(accessor).filter(|v| v.alive),
            Server::OpenBao(r) => r.bao.lookup_accessor(accessor),
        }
    }

    /// Every live token, oldest first.
    pub fn alive_tokens(&self) -> Vec<TokenView> {
        match self {
            Server::Double(d) => d.state().tokens.into_iter().filter(|t| t.alive).collect(),
            Server::OpenBao(r) => r.bao.alive_tokens(),
        }
    }

    /// Live tokens carrying this display name.
    pub fn alive_named(&self, name: &str) -> Vec<TokenView> {
        match self {
            Server::Double(d) => d
                .state()
                .by_display_name(name)
                .filter(|t| t.alive)
                .cloned()
                .collect(),
            Server::OpenBao(r) => r.bao.alive_by_display_name(name),
        }
    }

    /// Every token created by a request to `path` (e.g. an OIDC callback), revoked ones included.
    pub fn created_at(&self, path: &str) -> Vec<TokenView> {
        match self {
            Server::Double(d) => d
                .state()
                .tokens
                .into_iter()
                .filter(|t| t.path == path)
                .collect(),
            Server::OpenBao(r) => r.bao.created_at(path),
        }
    }

    /// Every token value the server ever issued: what the leak checks look for.
    pub fn issued_tokens(&self) -> Vec<String> {
        match self {
            Server::Double(d) => d.issued_tokens(),
            Server::OpenBao(r) => {
                let mut all = r.bao.issued_tokens();
                all.extend(r.proxy.issued_tokens());
                all
            }
        }
    }

    /// Only the double has a clock to advance (double-only scenarios).
    pub fn advance_clock(&self, by: Duration) {
        self.double().advance_clock(by)
    }

    pub fn state(&self) -> State {
        self.double().state()
    }

    /// Faults: the double's own, or the proxy's in front of OpenBao (same kinds, same meaning).
    pub fn inject_fault(&self, fault: Fault) {
        match self {
            Server::Double(d) => d.inject_fault(fault),
            Server::OpenBao(r) => r.proxy.inject_fault(fault),
        }
    }

    pub fn inject_fault_after(&self, fault: Fault, skip: u32) {
        match self {
            Server::Double(d) => d.inject_fault_after(fault, skip),
            Server::OpenBao(r) => r.proxy.inject_fault_after(fault, skip),
        }
    }

    pub fn clear_faults(&self) {
        match self {
            Server::Double(d) => d.clear_faults(),
            Server::OpenBao(r) => r.proxy.clear_faults(),
        }
    }

    /// The binary's requests as the server (or the proxy in front of it) saw them.
    pub fn requests(&self) -> Vec<(Method, String, u16)> {
        match self {
            Server::Double(d) => d.requests(),
            Server::OpenBao(r) => r.proxy.requests(),
        }
    }

    pub fn request_count(&self, method: Method, path: &str) -> usize {
        match self {
            Server::Double(d) => d.request_count(method, path),
            Server::OpenBao(r) => r.proxy.request_count(method, path),
        }
    }

    pub fn reset_requests(&self) {
        match self {
            Server::Double(d) => d.reset_requests(),
            Server::OpenBao(r) => r.proxy.reset_requests(),
        }
    }

    /// Requests received and not yet answered (parked by a delay fault).
    pub fn in_flight(&self) -> usize {
        match self {
            Server::Double(_) => 0,
            Server::OpenBao(r) => r.proxy.in_flight(),
        }
    }
}
