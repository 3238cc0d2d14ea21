//! Differential runs: each rule's requests go to the double and to a real OpenBao 2.7.2 that
//! start from the same state (set up through each server's own API), and the two answers are
//! compared: status, error text with Vault's multierror wrapping taken off (the wrapping itself is
//! compared on its own), and every body field by name and JSON type — and by value, except where
//! the value is naturally different (ids, accessors, times). A difference fails the run unless
//! `devserver/README.md` lists it under "Known divergences from OpenBao 2.7.2" — the one list.
#![allow(dead_code)]

use serde_json::{Value, json};
use vault_devserver::openbao::OpenBao;
use vault_devserver::{DevServer, Seeded};

use super::{Resp, req};

pub const ROOT: &str = "root";
/// Seconds a differential login lasts.
pub const LOGIN_TTL: u64 = 8 * 3600;

/// Keys whose values differ between any two servers; only their presence and type are compared.
const VOLATILE: &[&str] = &[
    "request_id",
    "id",
    "accessor",
    "client_token",
    "entity_id",
    "creation_time",
    "expire_time",
    "issue_time",
    "last_renewal",
    "last_renewal_time",
    "ttl",
    "keys",
    "cluster_name",
    "cluster_id",
    "server_time_utc",
    "auth_url",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Double,
    Bao,
}

/// A token that exists on both servers.
#[derive(Clone, Debug)]
pub struct Both {
    pub double: Seeded,
    pub bao: Seeded,
}

impl Both {
    pub fn on(&self, side: Side) -> &Seeded {
        match side {
            Side::Double => &self.double,
            Side::Bao => &self.bao,
        }
    }
}

/// Who sends a request: nobody, a token on both servers, or the same literal on both.
#[derive(Clone, Copy)]
pub enum Caller<'a> {
    Nobody,
    Token(&'a Both),
    Raw(&'a str),
}

impl Caller<'_> {
    fn on(&self, side: Side) -> Option<&str> {
        match self {
            Caller::Nobody => None,
            Caller::Token(t) => Some(t.on(side).token.as_str()),
            Caller::Raw(t) => Some(t),
        }
    }
}

/// The two answers to one request.
pub struct Pair {
    pub double: Resp,
    pub bao: Resp,
}

impl Pair {
    pub fn on(&self, side: Side) -> &Resp {
        match side {
            Side::Double => &self.double,
            Side::Bao => &self.bao,
        }
    }
}

/// One difference between the answers: `aspect` names what differs (`status`, `error`,
/// `data.meta.a`, …) and is what the README's allow-list matches on.
#[derive(Clone, Debug)]
pub struct Difference {
    pub request: String,
    pub aspect: String,
    pub detail: String,
}

struct Rule {
    name: String,
    requests: usize,
    differences: Vec<Difference>,
}

/// The double and a real OpenBao side by side, for one contract file.
pub struct Differential {
    pub double: DevServer,
    pub bao: OpenBao,
    file: &'static str,
    rules: Vec<Rule>,
}

impl Differential {
    /// Both servers, each with the root token `root`. `file` prefixes the rule names.
    pub fn start(file: &'static str) -> Differential {
        let double = DevServer::start().expect("start the double");
        double.add_root_token(ROOT);
        let bao = OpenBao::start().expect("start OpenBao (scripts/fetch-openbao gets the binary)");
        let mut d = Differential {
            double,
            bao,
            file,
            rules: Vec::new(),
        };
        // Requests before the first rule (shared fixtures) are compared as the file's setup.
        d.rule("setup");
        d
    }

    /// Starts a rule: the requests that follow are counted and compared under its name.
    pub fn rule(&mut self, name: &str) {
        self.rules.push(Rule {
            name: format!("{}/{name}", self.file),
            requests: 0,
            differences: Vec::new(),
        });
    }

    pub fn add_policy(&self, name: &str, rules: &[(&str, &[&str])]) {
        self.double.add_policy(name, rules);
        self.bao.add_policy(name, rules);
    }

    /// A request with the same JSON body (or none) on both sides.
    pub fn call(&mut self, method: &str, path: &str, who: Caller, body: Option<Value>) -> Pair {
        let text = body.map(|b| b.to_string());
        self.exchange(method, path, who, |_| text.clone())
    }

    /// A request whose JSON body names something that differs per side (a token, an accessor).
    pub fn call_each(
        &mut self,
        method: &str,
        path: &str,
        who: Caller,
        body: impl Fn(Side) -> Value,
    ) -> Pair {
        self.exchange(method, path, who, |side| Some(body(side).to_string()))
    }

    /// A request with a literal (possibly malformed) body.
    pub fn call_raw(&mut self, method: &str, path: &str, who: Caller, body: &str) -> Pair {
        self.exchange(method, path, who, |_| Some(body.to_owned()))
    }

    fn exchange(
        &mut self,
        method: &str,
        path: &str,
        who: Caller,
        body: impl Fn(Side) -> Option<String>,
    ) -> Pair {
        let target = format!("/v1/{path}");
        let send = |side: Side, base: &str| {
            req(base, method, &target, who.on(side), body(side).as_deref())
        };
        let pair = Pair {
            double: send(Side::Double, &self.double.url()),
            bao: send(Side::Bao, &self.bao.url()),
        };
        let rule = self.rules.last_mut().expect("start() opens the setup rule");
        rule.requests += 1;
        let request = format!("{method} {path} #{}", rule.requests);
        for (aspect, detail) in compare(&pair.double, &pair.bao) {
            rule.differences.push(Difference {
                request: request.clone(),
                aspect,
                detail,
            });
        }
        pair
    }

    /// Mints a token on both servers with the same create request (compared like any other).
    pub fn mint(&mut self, who: Caller, path: &str, body: Value) -> Both {
        let pair = self.call("POST", path, who, Some(body.clone()));
        both_tokens(&pair, &format!("POST {path} {body}"))
    }

    /// A userpass login `<mount>-<user>` on both servers, with token policies and identity
    /// (entity) policies; the login request itself is compared.
    pub fn login(&mut self, mount: &str, user: &str, policies: &[&str], identity: &[&str]) -> Both {
        const PASSWORD: &str = "correct-horse";
        let mut with_default = policies.to_vec();
        with_default.push("default");
        // 8h, not the 768h default: a login at the max TTL is capped by the whole seconds since
        // its creation on renewal, which two servers count differently across a second boundary.
        let user_on_double = json!({
            "mount": mount, "username": user, "password": PASSWORD,
            "policies": with_default, "identity_policies": identity, "ttl": LOGIN_TTL,
        });
        let r = req(
            &self.double.url(),
            "POST",
            "/_test/userpass",
            None,
            Some(&user_on_double.to_string()),
        );
        assert_eq!(r.status, 204, "adding a userpass user to the double");
        self.bao.ensure_userpass(mount);
        self.bao.root(
            "POST",
            &format!("auth/{mount}/users/{user}"),
            Some(json!({
                "password": PASSWORD,
                "token_policies": policies,
                "token_ttl": LOGIN_TTL,
            })),
        );
        let login = format!("auth/{mount}/login/{user}");
        if !identity.is_empty() {
            // The entity exists after a first login; give it the policies, then drop that token.
            let first = self
                .bao
                .call(None, "POST", &login, Some(json!({ "password": PASSWORD })));
            let entity = first.body["auth"]["entity_id"].as_str().unwrap_or_default();
            self.bao.root(
                "POST",
                &format!("identity/entity/id/{entity}"),
                Some(json!({ "policies": identity })),
            );
            let accessor = first.body["auth"]["accessor"].clone();
            self.bao.root(
                "POST",
                "auth/token/revoke-accessor",
                Some(json!({ "accessor": accessor })),
            );
        }
        let pair = self.call(
            "POST",
            &login,
            Caller::Nobody,
            Some(json!({ "password": PASSWORD })),
        );
        both_tokens(&pair, &format!("login {mount}/{user}"))
    }

    /// Prints the summary line, then fails on any difference the README does not allow, and on
    /// any allowed divergence of this file that no longer happens (a stale entry hides nothing).
    pub fn finish(mut self) {
        let allowed = allowed_divergences();
        let mut equal = 0;
        let mut allowed_rules = 0;
        let mut unexplained = Vec::new();
        let mut seen = vec![false; allowed.len()];
        self.rules.retain(|r| r.requests > 0);
        for rule in &self.rules {
            if rule.differences.is_empty() {
                equal += 1;
                continue;
            }
            let mut all_allowed = true;
            for d in &rule.differences {
                match allowed
                    .iter()
                    .position(|a| a.rule == rule.name && a.aspect == d.aspect)
                {
                    Some(i) => seen[i] = true,
                    None => {
                        all_allowed = false;
                        unexplained.push(format!(
                            "  {} — {}: {}: {}",
                            rule.name, d.request, d.aspect, d.detail
                        ));
                    }
                }
            }
            if all_allowed {
                allowed_rules += 1;
            }
        }
        let prefix = format!("{}/", self.file);
        let stale: Vec<String> = allowed
            .iter()
            .zip(&seen)
            .filter(|(a, seen)| a.rule.starts_with(&prefix) && !**seen)
            .map(|(a, _)| format!("  {} — {}", a.rule, a.aspect))
            .collect();
        println!(
            "differential {}: {} rules, {equal} equal, {allowed_rules} allowed divergences, {} failing",
            self.file,
            self.rules.len(),
            self.rules.len() - equal - allowed_rules
        );
        assert!(
            unexplained.is_empty(),
            "the double and OpenBao {} disagree (fix the double, or list the divergence with its reason in devserver/README.md \"Known divergences from OpenBao 2.7.2\"):\n{}",
            vault_devserver::openbao::OPENBAO_VERSION,
            unexplained.join("\n")
        );
        assert!(
            stale.is_empty(),
            "devserver/README.md allows divergences that no longer happen; remove them:\n{}",
            stale.join("\n")
        );
    }
}

fn both_tokens(pair: &Pair, what: &str) -> Both {
    let seeded = |side: Side| {
        let r = pair.on(side);
        let v = r.json();
        let token = v["auth"]["client_token"].as_str();
        let accessor = v["auth"]["accessor"].as_str();
        match (token, accessor) {
            (Some(t), Some(a)) => Seeded {
                token: t.to_owned(),
                accessor: a.to_owned(),
            },
            _ => panic!("{what} failed on {side:?}: {} {v}", r.status),
        }
    };
    Both {
        double: seeded(Side::Double),
        bao: seeded(Side::Bao),
    }
}

/// One README allow-list row.
#[derive(Debug)]
pub struct Allowed {
    pub rule: String,
    pub aspect: String,
    pub why: String,
}

/// The "Known divergences from OpenBao 2.7.2" table of `devserver/README.md`: rows
/// `` | `rule` | `aspect` | why | ``.
pub fn allowed_divergences() -> Vec<Allowed> {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("## Known divergences from OpenBao 2.7.2")
        .nth(1)
        .expect("README has a \"Known divergences from OpenBao 2.7.2\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 3, "README divergence row needs 3 cells: {l}");
            let unquote = |c: &str| c.trim_matches('`').to_owned();
            assert!(!cells[2].is_empty(), "a divergence needs its reason: {l}");
            Allowed {
                rule: unquote(cells[0]),
                aspect: unquote(cells[1]),
                why: cells[2].to_owned(),
            }
        })
        .collect()
}

/// The body as JSON: `null` for none, a string for a body that is not JSON.
fn body_value(r: &Resp) -> Value {
    if r.body.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&r.body).into_owned()))
}

/// Every difference between two answers as (aspect, detail).
pub fn compare(double: &Resp, bao: &Resp) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if double.status != bao.status {
        out.push((
            "status".into(),
            format!("double {}, OpenBao {}", double.status, bao.status),
        ));
    }
    diff_value("", &body_value(double), &body_value(bao), &mut out);
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Object(_) => "object".into(),
        other => format!("{} {other}", type_name(other)),
    }
}

fn diff_value(at: &str, d: &Value, b: &Value, out: &mut Vec<(String, String)>) {
    let key = at.rsplit('.').next().unwrap_or(at);
    if at == "errors" {
        return diff_errors(d, b, out);
    }
    match (d, b) {
        (Value::Object(dm), Value::Object(bm)) => {
            let mut keys: Vec<&String> = dm.keys().chain(bm.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match (dm.get(k), bm.get(k)) {
                    (Some(dv), Some(bv)) => diff_value(&path, dv, bv, out),
                    (Some(dv), None) => {
                        out.push((path, format!("double {}, OpenBao absent", describe(dv))))
                    }
                    (None, Some(bv)) => {
                        out.push((path, format!("double absent, OpenBao {}", describe(bv))))
                    }
                    (None, None) => {}
                }
            }
        }
        _ if type_name(d) != type_name(b) => out.push((
            at.into(),
            format!("double {}, OpenBao {}", describe(d), describe(b)),
        )),
        (Value::Array(da), Value::Array(ba)) if VOLATILE.contains(&key) => {
            let types = |a: &[Value]| {
                let mut t: Vec<&str> = a.iter().map(type_name).collect();
                t.dedup();
                t
            };
            if types(da) != types(ba) {
                out.push((at.into(), format!("double {d}, OpenBao {b}")));
            }
        }
        // An empty value is meaningful even where the value itself is not (`id` on
        // lookup-accessor, `auth_url` for a refused redirect).
        (Value::String(ds), Value::String(bs))
            if VOLATILE.contains(&key) && ds.is_empty() != bs.is_empty() =>
        {
            out.push((at.into(), format!("double {d}, OpenBao {b}")))
        }
        _ if VOLATILE.contains(&key) => {}
        _ if d != b => out.push((at.into(), format!("double {d}, OpenBao {b}"))),
        _ => {}
    }
}

/// `1 error occurred:\n\t* permission denied\n\n` → (["permission denied"], true).
pub fn unwrap_errors(v: &Value) -> (Vec<String>, bool) {
    let mut wrapped = false;
    let mut messages = Vec::new();
    for e in v.as_array().into_iter().flatten() {
        let text = e.as_str().unwrap_or_default();
        match text.split_once(" occurred:\n\t* ") {
            Some((head, rest)) if head.ends_with("error") || head.ends_with("errors") => {
                wrapped = true;
                messages.extend(rest.trim_end().split("\n\t* ").map(str::to_owned));
            }
            _ => messages.push(text.to_owned()),
        }
    }
    (messages, wrapped)
}

fn diff_errors(d: &Value, b: &Value, out: &mut Vec<(String, String)>) {
    let ((dm, dw), (bm, bw)) = (unwrap_errors(d), unwrap_errors(b));
    if dm != bm {
        out.push(("errors".into(), format!("double {dm:?}, OpenBao {bm:?}")));
    }
    let shape = |w: bool| if w { "multierror-wrapped" } else { "plain" };
    if dw != bw {
        out.push((
            "errors wrapping".into(),
            format!("double {}, OpenBao {}", shape(dw), shape(bw)),
        ));
    }
}
