//! Rules the contract audit found the double getting wrong, each named after its contract section and
//! checked against the OpenBao source cited in the double's code (fields.rs, ttl.rs, token_create.rs).

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use vault_devserver::{DevServer, TokenSpec, TokenType};

fn server() -> DevServer {
    let s = DevServer::start().unwrap();
    s.add_policy("vault-admin", ADMIN);
    // update without sudo on both create paths.
    s.add_policy(
        "minter",
        &[
            ("auth/token/create", &["update"]),
            ("auth/token/create-orphan", &["update"]),
        ],
    );
    s
}

fn admin(s: &DevServer) -> String {
    s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    })
    .token
}

fn create_orphan(s: &DevServer, token: &str, body: Value) -> Resp {
    post(&s.url(), "auth/token/create-orphan", token, body)
}

#[test]
fn s2_4_explicit_max_ttl_caps_a_periodic_renewal_with_vaults_warning() {
    let s = server();
    let minted = create_orphan(
        &s,
        &admin(&s),
        json!({"period": "768h", "explicit_max_ttl": "2h", "policies": ["vault-admin"]}),
    )
    .json();
    assert_eq!(minted["auth"]["lease_duration"], 7200);
    assert_eq!(
        minted["warnings"],
        json!([
            "period of \"768h\" exceeded the effective max_ttl of \"2h\"; period value is capped accordingly"
        ])
    );
    let token = minted["auth"]["client_token"].as_str().unwrap().to_string();
    s.advance_clock(Duration::from_secs(5400));
    let renewed = post(&s.url(), "auth/token/renew-self", &token, json!({})).json();
    let ttl = renewed["auth"]["lease_duration"].as_u64().unwrap();
    assert!((1795..=1800).contains(&ttl), "what is left of 2h: {ttl}");
    // Both caps apply, in CalculateTTL's order: the period to the 2h max, then to what is left.
    assert_eq!(
        renewed["warnings"][0],
        "period of \"768h\" exceeded the effective max_ttl of \"2h\"; period value is capped accordingly"
    );
    let w = renewed["warnings"][1].as_str().unwrap();
    assert!(
        w.starts_with("TTL of \"2h\" exceeded the effective max_ttl of \"29m")
            || w.starts_with("TTL of \"2h\" exceeded the effective max_ttl of \"30m"),
        "{w}"
    );
    assert!(w.ends_with("\"; TTL value is capped accordingly"), "{w}");
}

#[test]
fn s2_renew_self_negative_increment_fails_field_validation() {
    let s = server();
    let t = s.add_token(TokenSpec::default()).token;
    let r = post(
        &s.url(),
        "auth/token/renew-self",
        &t,
        json!({"increment": -60}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        "Field validation failed: error converting input for field \"increment\": cannot provide negative value '-60'"
    );
    assert_eq!(s.lookup(&t).unwrap().renewals, 0, "nothing renewed");
}

#[test]
fn s3_create_explicit_max_ttl_caps_the_default_ttl_with_a_warning() {
    let s = server();
    let r = create_orphan(&s, &admin(&s), json!({"explicit_max_ttl": "1h"})).json();
    assert_eq!(r["auth"]["lease_duration"], 3600);
    assert_eq!(
        r["warnings"],
        json!([
            "TTL of \"768h\" exceeded the effective max_ttl of \"1h\"; TTL value is capped accordingly"
        ])
    );
}

#[test]
fn s3_params_field_types_are_validated_before_the_handler_runs() {
    let s = server();
    // A batch parent would be refused by the handler, but the framework validates fields first.
    let batch = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        token_type: TokenType::Batch,
        ..Default::default()
    });
    let r = create_orphan(&s, &batch.token, json!({"num_uses": "many"}));
    assert_eq!(r.status, 400);
    assert!(
        r.error().starts_with(
            "Field validation failed: error converting input for field \"num_uses\": "
        ),
        "{}",
        r.error()
    );
    let r = create_orphan(&s, &batch.token, json!({}));
    assert_eq!(r.error(), "batch tokens cannot create more tokens");
    let r = create_orphan(&s, &admin(&s), json!({"renewable": "maybe"}));
    assert!(
        r.error().contains("for field \"renewable\""),
        "{}",
        r.error()
    );
}

#[test]
fn s3_6_token_type_is_checked_before_negative_num_uses() {
    let s = server();
    let r = create_orphan(&s, &admin(&s), json!({"type": "bogus", "num_uses": -1}));
    assert_eq!(r.error(), "invalid 'token_type' value");
    let r = create_orphan(&s, &admin(&s), json!({"num_uses": -1}));
    assert_eq!(r.error(), "number of uses cannot be negative");
}

#[test]
fn s3_params_batch_checks_stop_at_the_first_given_field_like_gos_switch() {
    let s = server();
    let a = admin(&s);
    let r = create_orphan(&s, &a, json!({"type": "batch", "period": "1h"}));
    assert_eq!(r.error(), "batch tokens cannot have \"period\" set");
    // The CLI always sends explicit_max_ttl "0s": that case matches first and ends the checks.
    let r = create_orphan(
        &s,
        &a,
        json!({"type": "batch", "explicit_max_ttl": "0s", "num_uses": 2}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["auth"]["token_type"], "batch");
    assert_eq!(r.json()["auth"]["renewable"], false);
    let r = create_orphan(&s, &a, json!({"type": "batch", "explicit_max_ttl": "soon"}));
    assert_eq!(r.error(), "'explicit_max_ttl' value could not be parsed");
}

#[test]
fn s3_6_custom_id_needs_sudo_before_the_policy_subset_check() {
    let s = server();
    let minter = s
        .add_token(TokenSpec {
            policies: vec!["minter".into()],
            ..Default::default()
        })
        .token;
    let r = post(
        &s.url(),
        "auth/token/create",
        &minter,
        json!({"id": "chosen", "policies": ["vault-admin"]}),
    );
    assert_eq!(
        r.error(),
        "root or sudo privileges required to specify token id"
    );
}

#[test]
fn s3_params_custom_id_shape_is_refused_with_vaults_messages() {
    let s = server();
    s.add_root_token("root");
    for (id, msg) in [
        ("s.mine", "custom token ID cannot have the 's.' prefix"),
        ("hvs.mine", "custom token ID cannot have the 'hvs.' prefix"),
        ("b.mine", "custom token ID cannot have a '.' in the value"),
        ("root", "cannot create a token with a duplicate ID"),
    ] {
        let r = post(&s.url(), "auth/token/create", "root", json!({"id": id}));
        assert_eq!((r.status, r.error()), (400, msg.to_string()), "id {id}");
    }
    let ok = post(&s.url(), "auth/token/create", "root", json!({"id": "mine"})).json();
    assert_eq!(ok["auth"]["client_token"], "mine");
    assert!(
        ok["warnings"][0]
            .as_str()
            .unwrap()
            .starts_with("Supplying a custom ID for the token uses the weaker SHA1 hashing")
    );
    assert!(s.token_alive("mine"));
}

#[test]
fn s3_params_meta_empty_object_stays_an_object_and_null_stays_null() {
    let s = server();
    let a = admin(&s);
    let empty = create_orphan(&s, &a, json!({"meta": {}})).json();
    assert_eq!(empty["auth"]["metadata"], json!({}));
    let token = empty["auth"]["client_token"].as_str().unwrap().to_string();
    assert_eq!(
        get(&s.url(), "auth/token/lookup-self", &token).json()["data"]["meta"],
        json!({})
    );
    let null = create_orphan(&s, &a, json!({"meta": null})).json();
    assert_eq!(null["auth"]["metadata"], Value::Null);
    let pairs = create_orphan(&s, &a, json!({"meta": ["tool=vault-token-renew"]})).json();
    assert_eq!(
        pairs["auth"]["metadata"],
        json!({"tool": "vault-token-renew"})
    );
}

#[test]
fn s3_params_lease_is_read_only_when_ttl_is_empty() {
    let s = server();
    let a = admin(&s);
    let r = create_orphan(&s, &a, json!({"ttl": "", "lease": "2h"})).json();
    assert_eq!(r["auth"]["lease_duration"], 7200);
    let r = create_orphan(&s, &a, json!({"ttl": "1h", "lease": "2h"})).json();
    assert_eq!(r["auth"]["lease_duration"], 3600);
    let r = create_orphan(&s, &a, json!({"lease": "-1h"}));
    assert_eq!(r.error(), "lease must be positive");
}

#[test]
fn s3_unrecognized_body_fields_draw_the_framework_warning_and_the_renewers_body_draws_none() {
    let s = server();
    let a = admin(&s);
    // What vault-token-renew sends (src/vault/client.rs create_orphan): every key is in the schema.
    let ours = create_orphan(
        &s,
        &a,
        json!({"policies": ["vault-admin"], "period": "2764800s", "display_name": "devvm-wizard",
               "meta": {"tool": "vault-token-renew"}, "renewable": true}),
    )
    .json();
    assert_eq!(ours["warnings"], Value::Null);
    let r = create_orphan(
        &s,
        &a,
        json!({"role_name": "x", "zz": 1, "policies": ["vault-admin"]}),
    )
    .json();
    assert_eq!(
        r["warnings"],
        json!(["Endpoint ignored these unrecognized parameters: [role_name zz]"])
    );
    let t = r["auth"]["client_token"].as_str().unwrap().to_string();
    let renewed = post(
        &s.url(),
        "auth/token/renew-self",
        &t,
        json!({"period": "1h"}),
    )
    .json();
    assert_eq!(
        renewed["warnings"],
        json!(["Endpoint ignored these unrecognized parameters: [period]"])
    );
    // A 204 has no body to carry it.
    let acc = r["auth"]["accessor"].as_str().unwrap();
    let revoked = post(
        &s.url(),
        "auth/token/revoke-accessor",
        &a,
        json!({"accessor": acc, "x": 1}),
    );
    assert_eq!(revoked.status, 204);
}

#[test]
fn s7_an_empty_x_vault_token_falls_back_to_the_bearer_token() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::default());
    let host = s.url();
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(host.trim_start_matches("http://")).unwrap();
    write!(
        c,
        "GET /v1/auth/token/lookup-self HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Vault-Token: \r\nAuthorization: Bearer {}\r\n\r\n",
        t.token
    )
    .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200"),
        "{}",
        out.lines().next().unwrap_or("")
    );
}

#[test]
fn s8_login_path_keeps_the_url_case_while_the_display_name_is_lower_cased() {
    let s = DevServer::start().unwrap();
    s.add_userpass_user("oidc", "alice", "pw", &[], &[]);
    let r = req(
        &s.url(),
        "POST",
        "/v1/auth/oidc/login/Alice",
        None,
        Some(&json!({"password": "pw"}).to_string()),
    )
    .json();
    let token = r["auth"]["client_token"].as_str().unwrap().to_string();
    let data = get(&s.url(), "auth/token/lookup-self", &token).json()["data"].clone();
    assert_eq!(data["display_name"], "oidc-alice");
    assert_eq!(data["path"], "auth/oidc/login/Alice");
}

#[test]
fn s1_default_policy_is_openbaos_list() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::default()).token;
    let caps = post(
        &s.url(),
        "sys/capabilities-self",
        &t,
        json!({"paths": ["sys/renew", "cubbyhole", "cubbyhole/x", "sys/leases/renew"]}),
    )
    .json();
    assert_eq!(
        caps["data"]["sys/renew"],
        json!(["deny"]),
        "OpenBao dropped sys/renew"
    );
    assert_eq!(
        caps["data"]["cubbyhole"],
        json!(["deny"]),
        "only cubbyhole/* is granted"
    );
    assert_eq!(
        caps["data"]["cubbyhole/x"],
        json!(["create", "delete", "list", "read", "update"])
    );
    assert_eq!(caps["data"]["sys/leases/renew"], json!(["update"]));
}

#[test]
fn s2_4_renewal_without_increment_starts_from_the_last_renewed_ttl() {
    let s = server();
    let t = s
        .add_token(TokenSpec {
            ttl: 8 * 3600,
            ..Default::default()
        })
        .token;
    let renew = |body: Value| {
        post(&s.url(), "auth/token/renew-self", &t, body).json()["auth"]["lease_duration"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(renew(json!({})), 8 * 3600, "the original TTL at first");
    assert_eq!(renew(json!({"increment": "1h"})), 3600);
    // Vault renews from le.Auth.TTL, which the last renewal replaced.
    assert_eq!(renew(json!({})), 3600);
}

#[test]
fn s7_lookup_without_a_token_looks_up_the_caller_and_answers_get_too() {
    let s = server();
    let a = s.add_token(TokenSpec {
        display_name: "token-admin".into(),
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    let v = post(&s.url(), "auth/token/lookup", &a.token, json!({})).json();
    assert_eq!(v["data"]["display_name"], "token-admin");
    let v = get(&s.url(), "auth/token/lookup", &a.token).json();
    assert_eq!(v["data"]["accessor"], a.accessor.as_str());
    // `default` grants neither: an ordinary token is refused at the ACL.
    let plain = s.add_token(TokenSpec::default()).token;
    assert_eq!(get(&s.url(), "auth/token/lookup", &plain).status, 403);
}

#[test]
fn s5_batch_tokens_cannot_revoke_themselves() {
    let s = server();
    let b = s.add_token(TokenSpec {
        token_type: TokenType::Batch,
        ..Default::default()
    });
    let r = post(&s.url(), "auth/token/revoke-self", &b.token, json!({}));
    assert_eq!(
        (r.status, r.error()),
        (400, "batch tokens cannot be revoked".to_string())
    );
    assert!(s.token_alive(&b.token));
}

#[test]
fn s7_unknown_paths_check_the_token_and_the_acl_before_answering_404() {
    let s = server();
    let r = req(&s.url(), "GET", "/v1/secret/data/nothing", None, None);
    assert_eq!(
        (r.status, r.error()),
        (403, "permission denied".to_string())
    );
    let r = get(
        &s.url(),
        "secret/data/nothing",
        "s.notarealtoken000000000000",
    );
    assert_eq!(
        (r.status, r.error()),
        (403, "permission denied".to_string())
    );
    let plain = s.add_token(TokenSpec::default()).token;
    let r = get(&s.url(), "secret/data/nothing", &plain);
    assert_eq!(
        (r.status, r.error()),
        (
            403,
            "1 error occurred:\n\t* permission denied\n\n".to_string()
        )
    );
    s.add_root_token("root");
    // No mount at all: core's plain text; inside the token store's mount: the wrapped
    // `unsupported path` (both measured on OpenBao 2.7.2 by `differential`).
    let r = get(&s.url(), "nothing/here", "root");
    assert_eq!(
        (r.status, r.error()),
        (
            404,
            "no handler for route \"nothing/here\". route entry not found.".to_string()
        )
    );
    let r = list(&s.url(), "auth/token/nothing-here", &admin(&s));
    assert_eq!(
        (r.status, r.error()),
        (
            404,
            "1 error occurred:\n\t* unsupported path\n\n".to_string()
        ),
        "LIST is checked on the path with its trailing slash"
    );
}

#[test]
fn s6_an_empty_path_in_the_list_is_400_missing_path_and_paths_are_taken_as_given() {
    let s = server();
    let a = s
        .add_token(TokenSpec {
            policies: vec!["default".into(), "vault-admin".into()],
            ..Default::default()
        })
        .token;
    let caps = |body: Value| post(&s.url(), "sys/capabilities-self", &a, body);
    let r = caps(json!({"paths": "auth/token/create-orphan,,auth/token/accessors"}));
    let missing = "1 error occurred:\n\t* missing path\n\n".to_string();
    assert_eq!((r.status, r.error()), (400, missing.clone()));
    let r = caps(json!({"paths": ["auth/token/create-orphan", ""]}));
    assert_eq!(r.error(), missing);
    let r = caps(json!({"paths": "", "path": "auth/token/create-orphan"})).json();
    assert_eq!(
        r["capabilities"][0], "create",
        "an empty `paths` falls back to `path`"
    );
    let r = caps(json!({"paths": ["/auth/token/create-orphan"]})).json();
    assert_eq!(
        r["capabilities"],
        json!(["deny"]),
        "no leading-slash trimming"
    );
}

/// The rules above that need no clock, sent to the double and to a real OpenBao and compared.
#[test]
fn differential() {
    use common::differential::{Caller, Differential, ROOT};
    let mut p = Differential::start("audit");
    let root = Caller::Raw(ROOT);
    let orphan = "auth/token/create-orphan";
    p.add_policy("vault-admin", ADMIN);
    p.add_policy(
        "minter",
        &[
            ("auth/token/create", &["update"]),
            ("auth/token/create-orphan", &["update"]),
        ],
    );
    let admin = p.mint(
        root,
        "auth/token/create",
        json!({"policies": ["vault-admin"]}),
    );
    let by_admin = Caller::Token(&admin);

    p.rule("s2_4_a_period_over_explicit_max_ttl_is_capped_on_create");
    let body = json!({"period": "768h", "explicit_max_ttl": "2h", "policies": ["vault-admin"]});
    p.call("POST", orphan, by_admin, Some(body));

    p.rule("s2_renew_self_negative_increment_fails_field_validation");
    let plain = p.mint(root, orphan, json!({"policies": ["default"], "ttl": "8h"}));
    let negative = json!({"increment": -60});
    p.call(
        "POST",
        "auth/token/renew-self",
        Caller::Token(&plain),
        Some(negative),
    );

    p.rule("s3_create_explicit_max_ttl_caps_the_default_ttl_with_a_warning");
    p.call(
        "POST",
        orphan,
        by_admin,
        Some(json!({"explicit_max_ttl": "1h"})),
    );

    p.rule("s3_params_field_types_are_validated_before_the_handler_runs");
    let batch = p.mint(
        root,
        orphan,
        json!({"policies": ["vault-admin"], "type": "batch"}),
    );
    p.call(
        "POST",
        orphan,
        Caller::Token(&batch),
        Some(json!({"num_uses": "many"})),
    );
    p.call("POST", orphan, Caller::Token(&batch), Some(json!({})));
    p.call(
        "POST",
        orphan,
        by_admin,
        Some(json!({"renewable": "maybe"})),
    );

    p.rule("s3_6_token_type_is_checked_before_negative_num_uses");
    p.call(
        "POST",
        orphan,
        by_admin,
        Some(json!({"type": "bogus", "num_uses": -1})),
    );
    p.call("POST", orphan, by_admin, Some(json!({"num_uses": -1})));

    p.rule("s3_params_batch_checks_stop_at_the_first_given_field");
    p.call(
        "POST",
        orphan,
        by_admin,
        Some(json!({"type": "batch", "period": "1h"})),
    );
    let cli = json!({"type": "batch", "explicit_max_ttl": "0s", "num_uses": 2});
    p.call("POST", orphan, by_admin, Some(cli));
    let soon = json!({"type": "batch", "explicit_max_ttl": "soon"});
    p.call("POST", orphan, by_admin, Some(soon));

    p.rule("s3_6_custom_id_needs_sudo_before_the_policy_subset_check");
    let minter = p.mint(root, orphan, json!({"policies": ["minter"]}));
    let chosen = json!({"id": "chosen", "policies": ["vault-admin"]});
    p.call(
        "POST",
        "auth/token/create",
        Caller::Token(&minter),
        Some(chosen),
    );

    p.rule("s3_params_custom_id_shape_is_refused_with_vaults_messages");
    for id in ["s.mine", "hvs.mine", "b.mine", "root", "mine"] {
        p.call("POST", "auth/token/create", root, Some(json!({"id": id})));
    }

    p.rule("s3_params_meta_empty_object_null_and_pairs");
    let empty = p.mint(by_admin, orphan, json!({"meta": {}}));
    p.call("GET", "auth/token/lookup-self", Caller::Token(&empty), None);
    p.call("POST", orphan, by_admin, Some(json!({"meta": null})));
    let pairs = json!({"meta": ["tool=vault-token-renew"]});
    p.call("POST", orphan, by_admin, Some(pairs));

    p.rule("s3_params_lease_is_read_only_when_ttl_is_empty");
    p.call(
        "POST",
        orphan,
        by_admin,
        Some(json!({"ttl": "", "lease": "2h"})),
    );
    p.call(
        "POST",
        orphan,
        by_admin,
        Some(json!({"ttl": "1h", "lease": "2h"})),
    );
    p.call("POST", orphan, by_admin, Some(json!({"lease": "-1h"})));

    p.rule("s3_unrecognized_body_fields_draw_the_framework_warning");
    let ours = json!({"policies": ["vault-admin"], "period": "2764800s",
        "display_name": "devvm-wizard", "meta": {"tool": "vault-token-renew"}, "renewable": true});
    p.call("POST", orphan, by_admin, Some(ours));
    let odd = json!({"role_name": "x", "zz": 1, "policies": ["vault-admin"]});
    let t = p.mint(by_admin, orphan, odd);
    let extra = json!({"period": "1h"});
    p.call(
        "POST",
        "auth/token/renew-self",
        Caller::Token(&t),
        Some(extra),
    );
    p.call_each(
        "POST",
        "auth/token/revoke-accessor",
        by_admin,
        |side| json!({"accessor": t.on(side).accessor, "x": 1}),
    );

    p.rule("s8_login_path_keeps_the_url_case");
    let alice = p.login("oidc", "alice", &[], &[]);
    p.call("GET", "auth/token/lookup-self", Caller::Token(&alice), None);
    p.call(
        "POST",
        "auth/oidc/login/Alice",
        Caller::Nobody,
        Some(json!({"password": "wrong"})),
    );

    p.rule("s1_default_policy_is_openbaos_list");
    let paths = json!({"paths": ["sys/renew", "cubbyhole", "cubbyhole/x", "sys/leases/renew"]});
    p.call(
        "POST",
        "sys/capabilities-self",
        Caller::Token(&plain),
        Some(paths),
    );

    p.rule("s2_4_renewal_without_increment_starts_from_the_last_renewed_ttl");
    let renew = "auth/token/renew-self";
    p.call("POST", renew, Caller::Token(&plain), Some(json!({})));
    p.call(
        "POST",
        renew,
        Caller::Token(&plain),
        Some(json!({"increment": "1h"})),
    );
    p.call("POST", renew, Caller::Token(&plain), Some(json!({})));

    p.rule("s7_lookup_without_a_token_looks_up_the_caller");
    p.call("POST", "auth/token/lookup", by_admin, Some(json!({})));
    p.call("GET", "auth/token/lookup", by_admin, None);
    p.call("GET", "auth/token/lookup", Caller::Token(&plain), None);

    p.rule("s5_batch_tokens_cannot_revoke_themselves");
    p.call(
        "POST",
        "auth/token/revoke-self",
        Caller::Token(&batch),
        Some(json!({})),
    );

    p.rule("s7_unknown_paths_check_the_token_and_the_acl_before_answering_404");
    p.call("GET", "nothing/here", Caller::Nobody, None);
    p.call(
        "GET",
        "nothing/here",
        Caller::Raw("s.notarealtoken000000000000"),
        None,
    );
    p.call("GET", "nothing/here", Caller::Token(&plain), None);
    p.call("GET", "nothing/here", root, None);
    p.call("LIST", "auth/token/nothing-here", by_admin, None);

    p.rule("secrets_engines_are_not_modelled");
    p.call("GET", "secret/data/nothing", root, None);

    p.rule("s6_an_empty_path_in_the_list_is_400");
    let paths = json!({"paths": ["auth/token/create", ""]});
    p.call(
        "POST",
        "sys/capabilities-self",
        Caller::Token(&plain),
        Some(paths),
    );

    p.finish();
}
