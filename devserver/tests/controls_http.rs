//! The `/_test/…` HTTP control API mirrors the Rust API; it is off unless enabled.

mod common;

use common::*;
use serde_json::{Value, json};
use vault_devserver::DevServer;

fn ctl(s: &DevServer, method: &str, path: &str, body: Value) -> Resp {
    req(
        &s.url(),
        method,
        &format!("/_test/{path}"),
        None,
        Some(&body.to_string()),
    )
}

#[test]
fn seed_policy_token_user_fault_clock_and_read_state() {
    let s = DevServer::start().unwrap();
    let url = s.url();
    assert_eq!(
        ctl(
            &s,
            "POST",
            "policies",
            json!({"name": "vault-admin", "rules": {"auth/token/*": ["update", "sudo", "list"]}})
        )
        .status,
        204
    );
    let seeded = ctl(&s, "POST", "tokens", json!({"display_name": "oidc-alice", "policies": ["default"], "identity_policies": ["vault-admin"], "ttl": 3600})).json();
    let token = seeded["token"].as_str().unwrap().to_string();
    assert_eq!(seeded["accessor"].as_str().unwrap().len(), 24);
    assert_eq!(ctl(&s, "POST", "userpass", json!({"mount": "kubernetes", "username": "woodpecker-default", "password": "w", "policies": ["ci"]})).status, 204);
    let login = req(
        &url,
        "POST",
        "/v1/auth/kubernetes/login/woodpecker-default",
        None,
        Some(r#"{"password":"w"}"#),
    );
    assert_eq!(login.status, 200);

    assert_eq!(ctl(&s, "POST", "faults", json!({"method": "GET", "path": "auth/token/lookup-self", "kind": {"kind": "status", "code": 502}, "times": 1})).status, 204);
    assert_eq!(get(&url, "auth/token/lookup-self", &token).status, 502);
    assert_eq!(get(&url, "auth/token/lookup-self", &token).status, 200);

    let reqs = ctl(&s, "GET", "requests", json!({})).json();
    assert_eq!(reqs["requests"].as_array().unwrap().len(), 3);
    assert_eq!(
        reqs["requests"][1],
        json!({"method": "GET", "path": "auth/token/lookup-self", "status": 502})
    );
    assert_eq!(ctl(&s, "POST", "reset-requests", json!({})).status, 204);
    assert!(s.requests().is_empty());

    assert_eq!(
        ctl(&s, "POST", "clock", json!({"advance_secs": 3601})).status,
        204
    );
    assert_eq!(get(&url, "auth/token/lookup-self", &token).status, 403);

    let state = ctl(&s, "GET", "state", json!({})).json();
    let tokens = state["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0]["display_name"], "oidc-alice");
    assert_eq!(tokens[0]["alive"], false);
    assert_eq!(tokens[1]["display_name"], "kubernetes-woodpecker-default");
    assert!(
        !state.to_string().contains(&token),
        "state never carries token values"
    );
    let issued = ctl(&s, "GET", "issued", json!({})).json();
    assert_eq!(issued["tokens"][0], token.as_str());
}

#[test]
fn bad_control_bodies_are_400_and_unknown_routes_404() {
    let s = DevServer::start().unwrap();
    assert_eq!(
        ctl(&s, "POST", "tokens", json!({"nonsense": 1})).status,
        400
    );
    assert_eq!(
        ctl(
            &s,
            "POST",
            "faults",
            json!({"path": "x", "kind": {"kind": "explode"}})
        )
        .status,
        400
    );
    assert_eq!(
        ctl(
            &s,
            "POST",
            "policies",
            json!({"name": "p", "rules": {"x": ["fly"]}})
        )
        .status,
        400
    );
    assert_eq!(ctl(&s, "GET", "nothing", json!({})).status, 404);
}

#[test]
fn controls_are_404_when_disabled() {
    let s = DevServer::builder().test_controls(false).start().unwrap();
    assert_eq!(ctl(&s, "GET", "state", json!({})).status, 404);
}
