//! contract §1 (lookup-self), §7 (token errors, headers), and the clock.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use vault_devserver::{DevServer, TokenSpec};

#[test]
fn lookup_self_get_is_200_for_a_default_only_token_but_post_is_403() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::default());
    let ok = get(&s.url(), "auth/token/lookup-self", &t.token);
    assert_eq!(ok.status, 200);
    // §1: default grants only `read`; POST is `update` → ACL denial with the multierror text.
    let denied = post(&s.url(), "auth/token/lookup-self", &t.token, json!({}));
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.error(),
        "1 error occurred:\n\t* permission denied\n\n"
    );
}

#[test]
fn lookup_self_post_is_200_when_a_policy_grants_update() {
    let s = DevServer::start().unwrap();
    s.add_policy(
        "lookup-upd",
        &[("auth/token/lookup-self", &["read", "update"])],
    );
    let t = s.add_token(TokenSpec {
        policies: vec!["lookup-upd".into()],
        ..Default::default()
    });
    assert_eq!(
        post(&s.url(), "auth/token/lookup-self", &t.token, json!({})).status,
        200
    );
}

#[test]
fn lookup_self_envelope_and_data_fields_match_section_1_table() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::login(
        "kubernetes-woodpecker-default",
        &["ci", "terraform-state"],
        &[],
    ));
    let v = get(&s.url(), "auth/token/lookup-self", &t.token).json();
    // Envelope: secret-lease fields are false/0, warnings null, auth null.
    assert_eq!(v["lease_id"], "");
    assert_eq!(v["renewable"], false);
    assert_eq!(v["lease_duration"], 0);
    assert!(v["wrap_info"].is_null() && v["warnings"].is_null() && v["auth"].is_null());
    assert!(v["request_id"].as_str().is_some_and(|r| r.len() == 36));
    let d = &v["data"];
    assert_eq!(d["id"], t.token.as_str());
    assert_eq!(d["accessor"], t.accessor.as_str());
    assert_eq!(d["policies"], json!(["ci", "default", "terraform-state"]));
    assert_eq!(d["display_name"], "kubernetes-woodpecker-default");
    assert_eq!(d["explicit_max_ttl"], 0, "always present, 0 when unset");
    assert!(d["meta"].is_null());
    assert_eq!(d["type"], "service");
    assert_eq!(d["orphan"], true);
    assert_eq!(d["renewable"], true);
    assert!(
        d["entity_id"].as_str().is_some_and(|e| e.len() == 36),
        "a login has an entity (§8)"
    );
    assert!(d["expire_time"].as_str().unwrap().ends_with('Z'));
    assert!(d["issue_time"].is_string());
    assert!(d["ttl"].as_u64().unwrap() <= 8 * 3600 && d["ttl"].as_u64().unwrap() > 8 * 3600 - 5);
    assert!(d["creation_time"].is_u64() && d["creation_ttl"] == 8 * 3600);
    // §1: only after a renewal / only with an entity that has policies.
    for absent in [
        "period",
        "last_renewal",
        "last_renewal_time",
        "identity_policies",
        "external_namespace_policies",
        "role",
    ] {
        assert!(d.get(absent).is_none(), "{absent} must be absent: {d}");
    }
}

#[test]
fn period_key_absent_for_non_periodic_and_present_for_periodic() {
    let s = DevServer::start().unwrap();
    let plain = s.add_token(TokenSpec::default());
    let periodic = s.add_token(TokenSpec::periodic(
        "devvm-wizard",
        &["vault-admin"],
        2_764_800,
    ));
    assert!(
        get(&s.url(), "auth/token/lookup-self", &plain.token).json()["data"]
            .get("period")
            .is_none()
    );
    let d = get(&s.url(), "auth/token/lookup-self", &periodic.token).json()["data"].clone();
    assert_eq!(d["period"], 2_764_800);
    assert_eq!(d["display_name"], "token-devvm-wizard");
}

#[test]
fn identity_policies_and_external_namespace_policies_appear_together_and_stay_out_of_policies() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::login("oidc-alice", &[], &["vault-admin"]));
    let d = get(&s.url(), "auth/token/lookup-self", &t.token).json()["data"].clone();
    assert_eq!(d["policies"], json!(["default"]));
    assert_eq!(d["identity_policies"], json!(["vault-admin"]));
    assert_eq!(d["external_namespace_policies"], json!({}));
    assert!(!d["entity_id"].as_str().unwrap().is_empty());
    // §8: identity policies are re-read on every request.
    assert!(s.set_identity_policies(&t.token, &["sops-admin"]));
    let d = get(&s.url(), "auth/token/lookup-self", &t.token).json()["data"].clone();
    assert_eq!(d["identity_policies"], json!(["sops-admin"]));
}

#[test]
fn root_token_never_expires_and_has_null_expire_time() {
    let s = DevServer::builder()
        .seed(vault_devserver::Seed::Demo)
        .start()
        .unwrap();
    let d = get(&s.url(), "auth/token/lookup-self", "root").json()["data"].clone();
    assert_eq!(d["policies"], json!(["root"]));
    // As `bao server -dev` makes its root token: through the token store's create.
    assert_eq!(
        (&d["display_name"], &d["path"]),
        (&json!("token"), &json!("auth/token/create"))
    );
    assert!(d["expire_time"].is_null());
    assert_eq!(d["ttl"], 0);
    assert_eq!(d["renewable"], false);
}

#[test]
fn unknown_missing_revoked_and_expired_tokens_are_403_permission_denied() {
    let s = DevServer::start().unwrap();
    let url = s.url();
    let missing = req(&url, "GET", "/v1/auth/token/lookup-self", None, None);
    assert_eq!(
        (missing.status, missing.error()),
        (403, "permission denied".to_string())
    );
    let unknown = get(&url, "auth/token/lookup-self", "s.nope");
    assert_eq!(
        (unknown.status, unknown.error()),
        (403, "permission denied".to_string())
    );

    let t = s.add_token(TokenSpec {
        ttl: 60,
        ..Default::default()
    });
    assert_eq!(get(&url, "auth/token/lookup-self", &t.token).status, 200);
    s.advance_clock(Duration::from_secs(61));
    assert_eq!(get(&url, "auth/token/lookup-self", &t.token).status, 403);
    assert!(!s.token_alive(&t.token));

    let r = s.add_token(TokenSpec::default());
    assert_eq!(
        post(&url, "auth/token/revoke-self", &r.token, json!({})).status,
        204
    );
    assert_eq!(get(&url, "auth/token/lookup-self", &r.token).status, 403);
    assert!(s.lookup(&r.token).unwrap().revoked);
}

#[test]
fn clock_counts_ttl_down() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec {
        ttl: 3600,
        ..Default::default()
    });
    s.advance_clock(Duration::from_secs(600));
    let ttl = get(&s.url(), "auth/token/lookup-self", &t.token).json()["data"]["ttl"]
        .as_u64()
        .unwrap();
    assert!((2990..=3000).contains(&ttl), "ttl {ttl}");
}

#[test]
fn bearer_header_works_and_x_vault_token_wins() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::default());
    let host = s.url();
    let raw = |headers: &str| {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(host.trim_start_matches("http://")).unwrap();
        write!(c, "GET /v1/auth/token/lookup-self HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n").unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    };
    assert!(raw(&format!("Authorization: Bearer {}\r\n", t.token)).starts_with("HTTP/1.1 200"));
    assert!(
        raw(&format!(
            "X-Vault-Token: {}\r\nAuthorization: Bearer s.bogus\r\n",
            t.token
        ))
        .starts_with("HTTP/1.1 200")
    );
    assert!(
        raw(&format!(
            "X-Vault-Token: s.bogus\r\nAuthorization: Bearer {}\r\n",
            t.token
        ))
        .starts_with("HTTP/1.1 403")
    );
}

#[test]
fn unknown_paths_are_404_with_empty_errors_and_wrong_verbs_are_405() {
    let s = DevServer::start().unwrap();
    let admin = {
        s.add_policy("vault-admin", ADMIN);
        s.add_token(TokenSpec {
            policies: vec!["vault-admin".into()],
            ..Default::default()
        })
    };
    // An unknown path under the ACL's grant (auth/token/*) is a 404; elsewhere the ACL refuses first.
    let nf = get(&s.url(), "auth/token/nothing-here", &admin.token);
    assert_eq!(nf.status, 404);
    assert_eq!(nf.error(), "1 error occurred:\n\t* unsupported path\n\n");
    assert_eq!(
        get(&s.url(), "secret/nothing-here", &admin.token).status,
        403
    );
    // ACL allows read on auth/token/* but create-orphan has no read handler.
    let wrong_verb = get(&s.url(), "auth/token/create-orphan", &admin.token);
    assert_eq!(
        (wrong_verb.status, wrong_verb.error()),
        (
            405,
            "1 error occurred:\n\t* unsupported operation\n\n".into()
        )
    );
}

#[test]
fn lookup_with_body_token_and_bad_token() {
    let s = DevServer::start().unwrap();
    s.add_policy("vault-admin", ADMIN);
    let admin = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    let other = s.add_token(TokenSpec::login("oidc-bob", &[], &[]));
    let v = post(
        &s.url(),
        "auth/token/lookup",
        &admin.token,
        json!({"token": other.token}),
    )
    .json();
    assert_eq!(v["data"]["display_name"], "oidc-bob");
    let bad = post(
        &s.url(),
        "auth/token/lookup",
        &admin.token,
        json!({"token": "s.unknown"}),
    );
    assert_eq!((bad.status, bad.error()), (403, "bad token".to_string()));
}

#[test]
fn seeded_child_shows_orphan_false_and_dies_with_its_parent() {
    let s = DevServer::start().unwrap();
    let parent = s.add_token(TokenSpec::default());
    let child = s.add_token(TokenSpec {
        parent: Some(parent.token.clone()),
        ..Default::default()
    });
    let d = get(&s.url(), "auth/token/lookup-self", &child.token).json()["data"].clone();
    assert_eq!(d["orphan"], false);
    assert_eq!(
        s.lookup(&child.token).unwrap().parent.as_deref(),
        Some(parent.accessor.as_str())
    );
    assert_eq!(
        post(&s.url(), "auth/token/revoke-self", &parent.token, json!({})).status,
        204
    );
    assert_eq!(
        get(&s.url(), "auth/token/lookup-self", &child.token).status,
        403
    );
}

/// The rules above, sent to the double and to a real OpenBao and compared (clock rules excepted).
#[test]
fn differential() {
    use common::differential::{Caller, Differential, ROOT};
    let mut p = Differential::start("lookup");
    let root = Caller::Raw(ROOT);
    p.add_policy("vault-admin", ADMIN);
    p.add_policy("ci", &[("secret/data/ci/*", &["read", "list"])]);
    p.add_policy("terraform-state", &[("secret/data/terraform/*", &["read"])]);
    p.add_policy(
        "lookup-upd",
        &[("auth/token/lookup-self", &["read", "update"])],
    );
    let create = "auth/token/create";

    p.rule("lookup_self_get_is_200_post_is_403_for_default_only");
    let t = p.mint(root, create, json!({"policies": ["default"]}));
    p.call("GET", "auth/token/lookup-self", Caller::Token(&t), None);
    p.call(
        "POST",
        "auth/token/lookup-self",
        Caller::Token(&t),
        Some(json!({})),
    );

    p.rule("lookup_self_post_is_200_when_a_policy_grants_update");
    let t = p.mint(root, create, json!({"policies": ["lookup-upd"]}));
    p.call(
        "POST",
        "auth/token/lookup-self",
        Caller::Token(&t),
        Some(json!({})),
    );

    p.rule("login_lookup_self_envelope_and_fields");
    let k8s = p.login(
        "kubernetes",
        "woodpecker-default",
        &["ci", "terraform-state"],
        &[],
    );
    p.call("GET", "auth/token/lookup-self", Caller::Token(&k8s), None);

    p.rule("periodic_token_shows_period");
    let ours = p.mint(
        root,
        "auth/token/create-orphan",
        json!({"policies": ["vault-admin"], "period": "768h", "display_name": "devvm-wizard"}),
    );
    p.call("GET", "auth/token/lookup-self", Caller::Token(&ours), None);

    p.rule("identity_policies_stay_out_of_policies");
    let oidc = p.login("oidc", "alice", &[], &["vault-admin"]);
    p.call("GET", "auth/token/lookup-self", Caller::Token(&oidc), None);

    p.rule("root_token_never_expires");
    p.call("GET", "auth/token/lookup-self", root, None);

    p.rule("missing_unknown_and_revoked_tokens_are_403");
    p.call("GET", "auth/token/lookup-self", Caller::Nobody, None);
    p.call("GET", "auth/token/lookup-self", Caller::Raw("s.nope"), None);
    let r = p.mint(root, create, json!({"policies": ["default"]}));
    p.call(
        "POST",
        "auth/token/revoke-self",
        Caller::Token(&r),
        Some(json!({})),
    );
    p.call("GET", "auth/token/lookup-self", Caller::Token(&r), None);

    p.rule("unknown_paths_404_and_wrong_verbs_405");
    let admin = p.mint(root, create, json!({"policies": ["vault-admin"]}));
    p.call(
        "GET",
        "auth/token/nothing-here",
        Caller::Token(&admin),
        None,
    );
    p.call("GET", "secret/nothing-here", Caller::Token(&admin), None);
    p.call(
        "GET",
        "auth/token/create-orphan",
        Caller::Token(&admin),
        None,
    );
    p.call("GET", "auth/token/nothing-here", Caller::Nobody, None);

    p.rule("lookup_with_body_token_and_bad_token");
    p.call_each(
        "POST",
        "auth/token/lookup",
        Caller::Token(&admin),
        |side| json!({"token": oidc.on(side).token}),
    );
    p.call(
        "POST",
        "auth/token/lookup",
        Caller::Token(&admin),
        Some(json!({"token": "s.unknown"})),
    );

    p.rule("child_shows_orphan_false_and_dies_with_its_parent");
    let parent = p.mint(root, create, json!({"policies": ["vault-admin"]}));
    let child = p.mint(Caller::Token(&parent), create, json!({}));
    p.call("GET", "auth/token/lookup-self", Caller::Token(&child), None);
    p.call(
        "POST",
        "auth/token/revoke-self",
        Caller::Token(&parent),
        Some(json!({})),
    );
    p.call("GET", "auth/token/lookup-self", Caller::Token(&child), None);

    p.rule("sys_health_needs_no_token");
    p.call("GET", "sys/health", Caller::Nobody, None);
    p.call("GET", "sys/health", Caller::Raw("s.nope"), None);

    p.finish();
}

#[test]
fn sys_health_answers_get_and_head_without_a_token() {
    let s = DevServer::start().unwrap();
    let r = req(&s.url(), "GET", "/v1/sys/health", None, None);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(
        (&v["initialized"], &v["sealed"], &v["standby"]),
        (&json!(true), &json!(false), &json!(false))
    );
    assert_eq!(v["version"], vault_devserver::openbao::OPENBAO_VERSION);
    // A HEAD answer announces the GET body's length and sends none.
    let head = match exchange(&s.url(), "HEAD", "/v1/sys/health", Some("s.bogus"), None) {
        Outcome::Complete(r) => r.headers,
        Outcome::Cut(raw) => String::from_utf8_lossy(&raw).into_owned(),
    };
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}
