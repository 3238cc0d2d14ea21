//! contract §6: sys/capabilities-self.

mod common;

use common::*;
use serde_json::json;
use vault_devserver::{DevServer, Seed, TokenSpec};

#[test]
fn two_paths_sorted_and_duplicated_at_top_level() {
    let s = DevServer::start().unwrap();
    s.add_policy("vault-admin", ADMIN);
    let t = s.add_token(TokenSpec::login("oidc-alice", &[], &["vault-admin"]));
    let v = post(
        &s.url(),
        "sys/capabilities-self",
        &t.token,
        json!({"paths": ["auth/token/create-orphan", "auth/token/accessors"]}),
    )
    .json();
    let all = json!(["create", "delete", "list", "read", "sudo", "update"]);
    assert_eq!(
        v["data"]["auth/token/create-orphan"], all,
        "identity policies count"
    );
    assert_eq!(v["data"]["auth/token/accessors"], json!(["list", "sudo"]));
    assert_eq!(v["auth/token/create-orphan"], all);
    assert_eq!(v["auth/token/accessors"], json!(["list", "sudo"]));
    assert!(
        v["data"].get("capabilities").is_none(),
        "only for exactly one path"
    );
    assert_eq!(v["lease_id"], "");
}

#[test]
fn one_path_adds_capabilities_key_deny_and_root() {
    let s = DevServer::builder().seed(Seed::Demo).start().unwrap();
    let weak = s.add_token(TokenSpec::default());
    let v = post(
        &s.url(),
        "sys/capabilities-self",
        &weak.token,
        json!({"paths": ["auth/token/create-orphan"]}),
    )
    .json();
    assert_eq!(v["capabilities"], json!(["deny"]));
    assert_eq!(v["data"]["capabilities"], json!(["deny"]));
    assert_eq!(v["data"]["auth/token/create-orphan"], json!(["deny"]));
    let v = post(
        &s.url(),
        "sys/capabilities-self",
        "root",
        json!({"paths": "auth/token/create-orphan"}),
    )
    .json();
    assert_eq!(v["capabilities"], json!(["root"]));
    let v = post(
        &s.url(),
        "sys/capabilities-self",
        &weak.token,
        json!({"path": "auth/token/lookup-self"}),
    )
    .json();
    assert_eq!(
        v["capabilities"],
        json!(["read"]),
        "deprecated `path` is read when `paths` is empty"
    );
}

#[test]
fn no_paths_is_400() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::default());
    let r = post(&s.url(), "sys/capabilities-self", &t.token, json!({}));
    assert_eq!(
        (r.status, r.error()),
        (400, "paths must be supplied".to_string())
    );
}
