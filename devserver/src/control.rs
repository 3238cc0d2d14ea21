//! The `/_test/…` HTTP control API: the same operations as the in-process Rust API, as JSON.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::acl::Policy;
use crate::fault::Fault;
use crate::lock;
use crate::reply::Reply;
use crate::server::Shared;
use crate::types::{TokenSpec, UserpassUser};

/// `POST /_test/policies` body: `{"name":"vault-admin","rules":{"auth/token/*":["update","sudo"]}}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    name: String,
    rules: HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    advance_secs: u64,
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body)
        .map_err(|e| Reply::bad_request(&format!("bad control request body: {e}")))
}

fn json_ok(v: Value) -> Reply {
    Reply {
        status: 200,
        body: Some(v),
    }
}

pub(crate) fn handle(shared: &Shared, method: &Method, path: &str, body: &[u8]) -> Reply {
    let result = match (method.as_str(), path.trim_end_matches('/')) {
        ("POST", "policies") => parse::<PolicyBody>(body).and_then(|p| {
            let rules: Vec<(&str, Vec<&str>)> = p
                .rules
                .iter()
                .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
                .collect();
            let borrowed: Vec<(&str, &[&str])> =
                rules.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            let policy = Policy::from_rules(&borrowed).map_err(|e| Reply::bad_request(&e))?;
            lock(&shared.store)
                .policies
                .insert(p.name.to_lowercase(), policy);
            Ok(Reply::no_content())
        }),
        ("POST", "tokens") => parse::<TokenSpec>(body).and_then(|spec| {
            let seeded = lock(&shared.store)
                .seed_token(&spec)
                .map_err(|e| Reply::bad_request(&e))?;
            Ok(json_ok(json!(seeded)))
        }),
        ("POST", "userpass") => parse::<UserpassUser>(body).map(|u| {
            lock(&shared.store).add_user(u);
            Reply::no_content()
        }),
        ("POST", "oidc-roles") => parse::<crate::oidc::OidcRole>(body).map(|r| {
            lock(&shared.store).add_oidc_role(r);
            Reply::no_content()
        }),
        ("POST", "faults") => parse::<Fault>(body).map(|f| {
            shared.injector.inject(f, 0);
            Reply::no_content()
        }),
        ("POST", "clock") => parse::<ClockBody>(body).map(|c| {
            lock(&shared.store)
                .clock
                .advance(Duration::from_secs(c.advance_secs));
            Reply::no_content()
        }),
        ("POST", "reset-requests") => {
            shared.injector.reset_requests();
            Ok(Reply::no_content())
        }
        ("GET", "state") => Ok(json_ok(json!(crate::state_of(&lock(&shared.store))))),
        ("GET", "issued") => Ok(json_ok(
            json!({ "tokens": crate::issued_of(&lock(&shared.store)) }),
        )),
        ("GET", "requests") => Ok(json_ok(json!({ "requests": shared.injector.records() }))),
        _ => Err(Reply::not_found()),
    };
    result.unwrap_or_else(|r| r)
}
