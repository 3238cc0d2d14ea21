//! contract §8: userpass logins as the OIDC / kubernetes stand-ins, and the demo seed.

mod common;

use common::*;
use serde_json::json;
use vault_devserver::{DevServer, Seed};

fn login(s: &DevServer, mount: &str, user: &str, password: &str) -> Resp {
    req(
        &s.url(),
        "POST",
        &format!("/v1/auth/{mount}/login/{user}"),
        None,
        Some(&json!({"password": password}).to_string()),
    )
}

#[test]
fn oidc_style_login_is_admin_through_identity_policies_only() {
    let s = DevServer::builder().seed(Seed::Demo).start().unwrap();
    let v = login(&s, "oidc", "alice", "alice").json();
    let a = &v["auth"];
    assert_eq!(
        a["policies"],
        json!(["default", "sops-admin", "vault-admin"])
    );
    assert_eq!(a["token_policies"], json!(["default"]));
    assert_eq!(a["identity_policies"], json!(["sops-admin", "vault-admin"]));
    assert_eq!(a["metadata"], json!({"username": "alice"}));
    assert_eq!(a["orphan"], true);
    assert_eq!(a["renewable"], true);
    assert!(!a["entity_id"].as_str().unwrap().is_empty());
    let token = a["client_token"].as_str().unwrap();
    let d = get(&s.url(), "auth/token/lookup-self", token).json()["data"].clone();
    assert_eq!(d["display_name"], "oidc-alice");
    assert_eq!(d["path"], "auth/oidc/login/alice");
    assert_eq!(d["policies"], json!(["default"]));
    // It can heal: sudo on create-orphan via its identity policy (§3 Scenario A).
    let r = post(
        &s.url(),
        "auth/token/create-orphan",
        token,
        json!({"policies": ["vault-admin", "sops-admin"], "period": "768h", "display_name": "devvm-wizard"}),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn kubernetes_style_login_is_weak() {
    let s = DevServer::builder().seed(Seed::Demo).start().unwrap();
    let v = login(&s, "kubernetes", "woodpecker-default", "woodpecker").json();
    let token = v["auth"]["client_token"].as_str().unwrap();
    let d = get(&s.url(), "auth/token/lookup-self", token).json()["data"].clone();
    assert_eq!(d["display_name"], "kubernetes-woodpecker-default");
    assert_eq!(d["policies"], json!(["ci", "default", "terraform-state"]));
    let r = post(
        &s.url(),
        "auth/token/create-orphan",
        token,
        json!({"policies": ["vault-admin"], "period": "768h"}),
    );
    assert_eq!(r.status, 403);
}

#[test]
fn display_name_is_not_sanitised_and_username_lower_cased() {
    let s = DevServer::start().unwrap();
    s.add_userpass_user("oidc", "Alice@Example.com", "pw", &[], &["vault-admin"]);
    let v = login(&s, "oidc", "alice@example.com", "pw").json();
    let token = v["auth"]["client_token"].as_str().unwrap();
    assert_eq!(
        s.lookup(token).unwrap().display_name,
        "oidc-alice@example.com"
    );
    assert_eq!(
        v["auth"]["lease_duration"], 2_764_800,
        "the mount default TTL, 32 days"
    );
}

#[test]
fn wrong_password_is_400_and_unknown_mount_403() {
    let s = DevServer::builder().seed(Seed::Demo).start().unwrap();
    let r = login(&s, "oidc", "alice", "wrong");
    assert_eq!(
        (r.status, r.error()),
        (400, "invalid username or password".to_string())
    );
    // An unmounted path is no login path, so it needs a token like any other (contract §7 order).
    let r = login(&s, "ldap", "alice", "alice");
    assert_eq!(
        (r.status, r.error()),
        (403, "permission denied".to_string())
    );
}

#[test]
fn demo_seed_has_root_token_and_policies() {
    let s = DevServer::builder()
        .seed(Seed::Demo)
        .root_token("my-root")
        .start()
        .unwrap();
    assert_eq!(
        get(&s.url(), "auth/token/lookup-self", "my-root").status,
        200
    );
    assert_eq!(get(&s.url(), "auth/token/lookup-self", "root").status, 403);
    let state = s.state();
    assert_eq!(state.tokens.len(), 1);
    assert_eq!(state.tokens[0].policies, ["root"]);
}
