//! contract §2: renew-self.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use vault_devserver::{DevServer, Seed, TokenSpec, TokenType};

#[test]
fn renew_of_periodic_ignores_increment() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::periodic(
        "devvm-wizard",
        &["vault-admin"],
        2_764_800,
    ));
    s.advance_clock(Duration::from_secs(10 * 86_400));
    let r = req(
        &s.url(),
        "PUT",
        "/v1/auth/token/renew-self",
        Some(&t.token),
        Some(r#"{"increment":"1h"}"#),
    );
    assert_eq!(r.status, 200);
    let v = r.json();
    assert!(v["data"].is_null() && v["warnings"].is_null());
    let a = &v["auth"];
    assert_eq!(a["lease_duration"], 2_764_800);
    assert_eq!(a["client_token"], t.token.as_str());
    assert_eq!(a["accessor"], t.accessor.as_str());
    assert_eq!(a["policies"], json!(["default", "vault-admin"]));
    assert_eq!(a["token_policies"], json!(["default", "vault-admin"]));
    assert!(a.get("identity_policies").is_none());
    let d = get(&s.url(), "auth/token/lookup-self", &t.token).json()["data"].clone();
    assert!(d["ttl"].as_u64().unwrap() > 2_764_790);
    assert_eq!(
        d["creation_ttl"], 2_764_800,
        "renewals do not change creation_ttl"
    );
    assert!(d["last_renewal_time"].is_u64() && d["last_renewal"].is_string());
    assert_eq!(s.lookup(&t.token).unwrap().renewals, 1);
}

#[test]
fn renew_with_empty_body_and_post_is_accepted() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::periodic("x", &[], 3600));
    assert_eq!(
        req(
            &s.url(),
            "POST",
            "/v1/auth/token/renew-self",
            Some(&t.token),
            None
        )
        .status,
        200
    );
}

#[test]
fn renew_of_non_periodic_uses_increment_or_original_ttl_capped_at_max() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::login("oidc-alice", &[], &["vault-admin"]));
    let a = post(
        &s.url(),
        "auth/token/renew-self",
        &t.token,
        json!({"increment": 600}),
    )
    .json()["auth"]
        .clone();
    assert_eq!(a["lease_duration"], 600);
    assert_eq!(
        a["policies"],
        json!(["default", "vault-admin"]),
        "auth.policies includes identity policies"
    );
    assert_eq!(a["token_policies"], json!(["default"]));
    assert_eq!(a["identity_policies"], json!(["vault-admin"]));
    let a = post(&s.url(), "auth/token/renew-self", &t.token, json!({})).json()["auth"].clone();
    // No increment → the lease's current TTL, which the 600 s renewal replaced (openbao
    // expiration.go RenewToken passes le.Auth.TTL to CalculateTTL); the contract's "original TTL"
    // holds only until the first renewal with an increment.
    assert_eq!(a["lease_duration"], 600, "no increment → the last TTL");
    // A long-lived login renewed near the end of its 768h max is capped at what is left.
    let long = s.add_token(TokenSpec {
        ttl: 2_764_800,
        ..TokenSpec::login("oidc-bob", &[], &[])
    });
    s.advance_clock(Duration::from_secs(2_764_800 - 7200));
    let v = post(
        &s.url(),
        "auth/token/renew-self",
        &long.token,
        json!({"increment": "8h"}),
    )
    .json();
    let left = v["auth"]["lease_duration"].as_u64().unwrap();
    assert!(
        left <= 7200 && left > 7190,
        "capped at creation + 768h: {left}"
    );
    assert!(
        v["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("TTL of \"8h\" exceeded the effective max_ttl of")
    );
}

#[test]
fn non_renewable_and_root_are_400_lease_is_not_renewable() {
    let s = DevServer::builder().seed(Seed::Demo).start().unwrap();
    let t = s.add_token(TokenSpec {
        renewable: false,
        ..Default::default()
    });
    let r = post(&s.url(), "auth/token/renew-self", &t.token, json!({}));
    assert_eq!(
        (r.status, r.error()),
        (400, "lease is not renewable".to_string())
    );
    let r = post(&s.url(), "auth/token/renew-self", "root", json!({}));
    assert_eq!(
        (r.status, r.error()),
        (400, "lease is not renewable".to_string())
    );
}

#[test]
fn batch_token_renew_is_400() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec {
        token_type: TokenType::Batch,
        ..Default::default()
    });
    let r = post(&s.url(), "auth/token/renew-self", &t.token, json!({}));
    assert_eq!(
        (r.status, r.error()),
        (400, "batch tokens cannot be renewed".to_string())
    );
}

#[test]
fn explicit_max_ttl_caps_renewal_and_the_token_then_runs_out() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec {
        explicit_max_ttl: 5000,
        ..TokenSpec::periodic("x", &[], 3600)
    });
    s.advance_clock(Duration::from_secs(3000));
    let ttl = post(&s.url(), "auth/token/renew-self", &t.token, json!({})).json()["auth"]["lease_duration"].as_u64().unwrap();
    assert!(ttl <= 2000 && ttl > 1990, "{ttl}");
    s.advance_clock(Duration::from_secs(2001));
    assert_eq!(
        post(&s.url(), "auth/token/renew-self", &t.token, json!({})).status,
        403
    );
}

#[test]
fn expired_token_cannot_renew_403() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::periodic("x", &[], 3600));
    s.advance_clock(Duration::from_secs(3601));
    let r = post(&s.url(), "auth/token/renew-self", &t.token, json!({}));
    assert_eq!(
        (r.status, r.error()),
        (403, "permission denied".to_string())
    );
}
