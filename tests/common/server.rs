//! The server a scenario runs against: the in-repo double, or a real OpenBao. One interface, so a
//! scenario is written once and run against both (see `scenarios!`).

use std::net::SocketAddr;
use std::time::Duration;

use vault_devserver::openbao::OpenBao;
use vault_devserver::{DevServer, Fault, Method, Seed, Seeded, State, TokenSpec, TokenView};

/// Which server a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Double,
    OpenBao,
}

pub enum Server {
    Double(DevServer),
    OpenBao(Box<OpenBao>),
}

impl Server {
    /// The demo world on either server: policies `vault-admin`, `sops-admin`, `ci`,
    /// `terraform-state`; root token `root`.
    pub fn start(kind: Kind) -> Server {
        match kind {
            Kind::Double => Server::Double(
                DevServer::builder()
                    .seed(Seed::Demo)
                    .start()
                    .expect("start the double"),
            ),
            Kind::OpenBao => {
                let bao = OpenBao::start().unwrap_or_else(|e| panic!("start OpenBao: {e}"));
                bao.seed_demo();
                Server::OpenBao(Box::new(bao))
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

    pub fn url(&self) -> String {
        match self {
            Server::Double(d) => d.url(),
            Server::OpenBao(b) => b.url(),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Double(d) => d.addr(),
            Server::OpenBao(b) => b.addr(),
        }
    }

    pub fn add_policy(&self, name: &str, rules: &[(&str, &[&str])]) {
        match self {
            Server::Double(d) => d.add_policy(name, rules),
            Server::OpenBao(b) => b.add_policy(name, rules),
        }
    }

    /// A token like the spec (on OpenBao made through the server's own create and login rules).
    pub fn add_token(&self, spec: TokenSpec) -> Seeded {
        match self {
            Server::Double(d) => d.add_token(spec),
            Server::OpenBao(b) => b.add_token(spec),
        }
    }

    pub fn revoke(&self, token: &str) {
        match self {
            Server::Double(d) => d.revoke(token),
            Server::OpenBao(b) => b.revoke(token),
        }
    }

    pub fn token_alive(&self, token: &str) -> bool {
        match self {
            Server::Double(d) => d.token_alive(token),
            Server::OpenBao(b) => b.token_alive(token),
        }
    }

    /// The server's view of a live token. On OpenBao a revoked token is simply unknown (None);
    /// `renewals` is 0 or 1 there (the API only says whether it was ever renewed).
    pub fn lookup(&self, token: &str) -> Option<TokenView> {
        match self {
            Server::Double(d) => d.lookup(token).filter(|v| v.alive),
            Server::OpenBao(b) => b.lookup(token),
        }
    }

    pub fn lookup_accessor(&self, accessor: &str) -> Option<TokenView> {
        match self {
            Server::Double(d) => d.lookup_accessor(accessor).filter(|v| v.alive),
            Server::OpenBao(b) => b.lookup_accessor(accessor),
        }
    }

    /// Every live token, oldest first.
    pub fn alive_tokens(&self) -> Vec<TokenView> {
        match self {
            Server::Double(d) => d.state().tokens.into_iter().filter(|t| t.alive).collect(),
            Server::OpenBao(b) => b.alive_tokens(),
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
            Server::OpenBao(b) => b.alive_by_display_name(name),
        }
    }

    /// Every token value the server ever issued: what the leak checks look for.
    pub fn issued_tokens(&self) -> Vec<String> {
        match self {
            Server::Double(d) => d.issued_tokens(),
            Server::OpenBao(b) => b.issued_tokens(),
        }
    }

    /// Only the double has a clock to advance (double-only scenarios).
    pub fn advance_clock(&self, by: Duration) {
        self.double().advance_clock(by)
    }

    pub fn state(&self) -> State {
        self.double().state()
    }

    pub fn inject_fault(&self, fault: Fault) {
        self.double().inject_fault(fault)
    }

    pub fn inject_fault_after(&self, fault: Fault, skip: u32) {
        self.double().inject_fault_after(fault, skip)
    }

    pub fn clear_faults(&self) {
        if let Server::Double(d) = self {
            d.clear_faults()
        }
    }

    pub fn requests(&self) -> Vec<(Method, String, u16)> {
        self.double().requests()
    }

    pub fn request_count(&self, method: Method, path: &str) -> usize {
        self.double().request_count(method, path)
    }

    pub fn reset_requests(&self) {
        self.double().reset_requests()
    }
}
