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
    // No increment → the login's TTL again: the auth method's renew handler sets the TTL its
    // user or role grants (OpenBao 2.7.2 measured by `differential` below); only token-store
    // tokens renew from the lease's current TTL (contract_audit).
    assert_eq!(
        a["lease_duration"],
        8 * 3600,
        "no increment → the login's TTL"
    );
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

/// The rules above that need no clock, sent to the double and to a real OpenBao and compared.
#[test]
fn differential() {
    use common::differential::{Caller, Differential, ROOT};
    let mut p = Differential::start("renew");
    let root = Caller::Raw(ROOT);
    let orphan = "auth/token/create-orphan";
    let renew = "auth/token/renew-self";
    p.add_policy("vault-admin", &[("auth/token/*", &["update", "sudo"])]);

    p.rule("renew_of_periodic_ignores_increment");
    let ours = p.mint(
        root,
        orphan,
        json!({"policies": ["vault-admin"], "period": "768h", "display_name": "devvm-wizard"}),
    );
    p.call_raw("PUT", renew, Caller::Token(&ours), r#"{"increment":"1h"}"#);
    p.call("GET", "auth/token/lookup-self", Caller::Token(&ours), None);

    p.rule("renew_with_empty_body_and_post_is_accepted");
    p.call("POST", renew, Caller::Token(&ours), None);

    p.rule("renew_of_non_periodic_uses_increment_then_the_last_ttl");
    let oidc = p.login("oidc", "alice", &[], &["vault-admin"]);
    p.call(
        "POST",
        renew,
        Caller::Token(&oidc),
        Some(json!({"increment": 600})),
    );
    p.call("POST", renew, Caller::Token(&oidc), Some(json!({})));

    p.rule("token_store_renewal_without_increment_starts_from_the_last_ttl");
    let plain = p.mint(root, orphan, json!({"policies": ["default"], "ttl": "8h"}));
    p.call("POST", renew, Caller::Token(&plain), Some(json!({})));
    p.call(
        "POST",
        renew,
        Caller::Token(&plain),
        Some(json!({"increment": "1h"})),
    );
    p.call("POST", renew, Caller::Token(&plain), Some(json!({})));

    p.rule("non_renewable_and_root_are_400");
    let fixed = p.mint(
        root,
        orphan,
        json!({"policies": ["default"], "renewable": false}),
    );
    p.call("POST", renew, Caller::Token(&fixed), Some(json!({})));
    p.call("POST", renew, root, Some(json!({})));

    p.rule("batch_token_renew_is_400");
    let batch = p.mint(
        root,
        orphan,
        json!({"policies": ["default"], "type": "batch"}),
    );
    p.call("POST", renew, Caller::Token(&batch), Some(json!({})));

    // A cap against `explicit_max_ttl` or the 768h max counts whole seconds since creation, which
    // differ between two servers when a second boundary falls between them: those rules run on
    // the double's clock only (above). A period over the max is capped without any elapsed time.
    p.rule("a_period_over_the_max_is_capped_on_renewal_with_a_warning");
    let long = p.mint(
        root,
        orphan,
        json!({"policies": ["default"], "period": "800h"}),
    );
    p.call("POST", renew, Caller::Token(&long), Some(json!({})));

    p.rule("negative_increment_fails_field_validation");
    p.call(
        "POST",
        renew,
        Caller::Token(&oidc),
        Some(json!({"increment": -5})),
    );

    p.finish();
}
