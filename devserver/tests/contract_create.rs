//! contract §3: create / create-orphan authorization model, display names, policies, orphans.

mod common;

use common::*;
use serde_json::{Value, json};
use vault_devserver::{DevServer, TokenSpec};

const PERIODIC_ERR: &str = "root or sudo privileges required to create periodic token";
const SUBSET_ERR: &str = "child policies must be subset of parent";

fn server() -> DevServer {
    let s = DevServer::start().unwrap();
    s.add_policy("vault-admin", ADMIN);
    s.add_policy("sops-admin", &[("transit/encrypt/sops", &["update"])]);
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

fn mint(s: &DevServer, token: &str, path: &str, body: Value) -> Resp {
    post(&s.url(), path, token, body)
}

#[test]
fn oidc_admin_via_identity_policies_mints_a_periodic_orphan_scenario_a() {
    let s = server();
    let oidc = s.add_token(TokenSpec::login("oidc-alice", &[], &["vault-admin"]));
    let r = mint(
        &s,
        &oidc.token,
        "auth/token/create-orphan",
        json!({"policies": ["vault-admin", "sops-admin"], "period": "768h", "display_name": "devvm-wizard"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert!(v["data"].is_null() && v["warnings"].is_null());
    let a = &v["auth"];
    assert_eq!(
        a["policies"],
        json!(["default", "sops-admin", "vault-admin"])
    );
    assert_eq!(
        a["token_policies"],
        json!(["default", "sops-admin", "vault-admin"])
    );
    assert!(
        a.get("identity_policies").is_none(),
        "orphan child has no entity"
    );
    assert_eq!(a["lease_duration"], 2_764_800);
    assert_eq!(
        (
            a["renewable"].clone(),
            a["orphan"].clone(),
            a["entity_id"].clone()
        ),
        (json!(true), json!(true), json!(""))
    );
    assert_eq!(a["token_type"], "service");
    assert!(a["mfa_requirement"].is_null());
    let child = a["client_token"].as_str().unwrap();
    assert!(child.starts_with("s.") && child.len() == 26);
    let d = get(&s.url(), "auth/token/lookup-self", child).json()["data"].clone();
    assert_eq!(d["display_name"], "token-devvm-wizard");
    assert_eq!(d["path"], "auth/token/create-orphan");
    assert_eq!(d["period"], 2_764_800);
    assert_eq!(d["creation_ttl"], 2_764_800);
    let view = s.lookup(child).unwrap();
    assert_eq!(view.created_by.as_deref(), Some(oidc.accessor.as_str()));
    assert!(view.parent.is_none());
}

#[test]
fn subset_check_ignores_identity_policies() {
    let s = server();
    // update (no sudo) on create-orphan comes from the identity policy; the token policies are [default].
    let oidc = s.add_token(TokenSpec::login(
        "oidc-alice",
        &[],
        &["minter", "vault-admin-ro"],
    ));
    let r = mint(
        &s,
        &oidc.token,
        "auth/token/create-orphan",
        json!({"policies": ["minter"]}),
    );
    assert_eq!((r.status, r.error()), (400, SUBSET_ERR.to_string()));
    // The same request is fine when `minter` is a token policy.
    let tok = s.add_token(TokenSpec::login("oidc-bob", &["minter"], &[]));
    assert_eq!(
        mint(
            &s,
            &tok.token,
            "auth/token/create-orphan",
            json!({"policies": ["minter"]})
        )
        .status,
        200
    );
}

#[test]
fn sudo_is_per_exact_path_create_sudo_does_not_give_create_orphan_sudo() {
    let s = server();
    s.add_policy(
        "create-sudo",
        &[
            ("auth/token/create", &["update", "sudo"]),
            ("auth/token/create-orphan", &["update"]),
        ],
    );
    let t = s.add_token(TokenSpec {
        policies: vec!["create-sudo".into()],
        ..Default::default()
    });
    let orphan = mint(
        &s,
        &t.token,
        "auth/token/create-orphan",
        json!({"policies": ["create-sudo"], "period": "768h"}),
    );
    assert_eq!(
        (orphan.status, orphan.error()),
        (400, PERIODIC_ERR.to_string())
    );
    let create = mint(
        &s,
        &t.token,
        "auth/token/create",
        json!({"policies": ["create-sudo"], "period": "768h", "no_parent": true}),
    );
    assert_eq!(create.status, 200);
    assert_eq!(create.json()["auth"]["orphan"], true);
}

#[test]
fn period_without_sudo_is_400_with_the_exact_text() {
    let s = server();
    let t = s.add_token(TokenSpec {
        policies: vec!["minter".into()],
        ..Default::default()
    });
    let r = mint(
        &s,
        &t.token,
        "auth/token/create-orphan",
        json!({"period": "768h"}),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json(), json!({"errors": [PERIODIC_ERR]}));
}

#[test]
fn weak_token_without_update_is_403_acl_denial_scenario_b() {
    let s = server();
    let k8s = s.add_token(TokenSpec::login(
        "kubernetes-woodpecker-default",
        &["ci", "terraform-state"],
        &[],
    ));
    let r = mint(
        &s,
        &k8s.token,
        "auth/token/create-orphan",
        json!({"policies": ["vault-admin"], "period": "768h"}),
    );
    assert_eq!(
        (r.status, r.error()),
        (
            403,
            "1 error occurred:\n\t* permission denied\n\n".to_string()
        )
    );
}

#[test]
fn error_order_subset_before_period() {
    let s = server();
    let t = s.add_token(TokenSpec::login("oidc-alice", &[], &["minter"]));
    // Both the subset and the period rule fail; §3.6 reports the subset first.
    let r = mint(
        &s,
        &t.token,
        "auth/token/create-orphan",
        json!({"policies": ["vault-admin"], "period": "768h"}),
    );
    assert_eq!(r.error(), SUBSET_ERR);
}

#[test]
fn no_parent_needs_sudo_even_on_create_orphan() {
    let s = server();
    let t = s.add_token(TokenSpec {
        policies: vec!["minter".into(), "default".into()],
        ..Default::default()
    });
    let r = mint(
        &s,
        &t.token,
        "auth/token/create-orphan",
        json!({"no_parent": true}),
    );
    assert_eq!(
        r.error(),
        "root or sudo privileges required to create orphan token"
    );
    let r = mint(
        &s,
        &t.token,
        "auth/token/create",
        json!({"no_parent": true}),
    );
    assert_eq!(
        r.error(),
        "root or sudo privileges required to create orphan token"
    );
    // Without no_parent, create-orphan alone needs no sudo.
    let ok = mint(&s, &t.token, "auth/token/create-orphan", json!({}));
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["auth"]["orphan"], true);
}

#[test]
fn display_name_sanitising_examples() {
    let s = server();
    let admin = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    for (given, stored) in [
        ("devvm_wizard@host", "token-devvm-wizard-host"),
        ("foo.", "token-foo"),
        ("foo..", "token-foo-"),
        ("", "token"),
    ] {
        let r = mint(
            &s,
            &admin.token,
            "auth/token/create-orphan",
            json!({"display_name": given}),
        );
        let child = r.json()["auth"]["client_token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(s.lookup(&child).unwrap().display_name, stored, "{given:?}");
        assert_eq!(vault_devserver::token_display_name(given), stored);
    }
}

#[test]
fn empty_policies_inherit_token_policies_only() {
    let s = server();
    let t = s.add_token(TokenSpec::login("oidc-alice", &[], &["vault-admin"]));
    let r = mint(
        &s,
        &t.token,
        "auth/token/create-orphan",
        json!({"period": "768h"}),
    );
    assert_eq!(
        r.json()["auth"]["policies"],
        json!(["default"]),
        "identity policies never carry over"
    );
}

#[test]
fn default_added_with_sudo_and_only_if_parent_has_it_without() {
    let s = server();
    let sudo = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    let r = mint(
        &s,
        &sudo.token,
        "auth/token/create-orphan",
        json!({"policies": ["sops-admin"]}),
    );
    assert_eq!(
        r.json()["auth"]["policies"],
        json!(["default", "sops-admin"])
    );
    let r = mint(
        &s,
        &sudo.token,
        "auth/token/create-orphan",
        json!({"policies": ["sops-admin"], "no_default_policy": true}),
    );
    assert_eq!(r.json()["auth"]["policies"], json!(["sops-admin"]));
    let nodefault = s.add_token(TokenSpec {
        policies: vec!["minter".into()],
        ..Default::default()
    });
    let r = mint(
        &s,
        &nodefault.token,
        "auth/token/create-orphan",
        json!({"policies": ["minter"]}),
    );
    assert_eq!(r.json()["auth"]["policies"], json!(["minter"]));
}

#[test]
fn unknown_policies_are_allowed_with_a_warning() {
    let s = server();
    let admin = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    let r = mint(
        &s,
        &admin.token,
        "auth/token/create-orphan",
        json!({"policies": ["vault-admin", "nonexistent"]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["warnings"],
        json!(["Policy \"nonexistent\" does not exist"])
    );
}

#[test]
fn comma_string_policies_are_one_name() {
    let s = server();
    let admin = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    let r = mint(
        &s,
        &admin.token,
        "auth/token/create-orphan",
        json!({"policies": "vault-admin,sops-admin"}),
    );
    assert_eq!(
        r.json()["auth"]["policies"],
        json!(["default", "vault-admin,sops-admin"])
    );
}

#[test]
fn root_policy_needs_a_root_parent_and_reserved_policies_are_refused() {
    let s = server();
    let admin = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    let r = mint(
        &s,
        &admin.token,
        "auth/token/create-orphan",
        json!({"policies": ["root"]}),
    );
    assert_eq!(
        r.error(),
        "root tokens may not be created without parent token being root"
    );
    let r = mint(
        &s,
        &admin.token,
        "auth/token/create-orphan",
        json!({"policies": ["response-wrapping"]}),
    );
    assert_eq!(r.error(), "cannot assign policy \"response-wrapping\"");
    s.add_root_token("root");
    let r = mint(
        &s,
        "root",
        "auth/token/create",
        json!({"policies": ["root"]}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["auth"]["policies"], json!(["root"]));
    assert_eq!(
        r.json()["auth"]["orphan"],
        false,
        "create without no_parent makes a child"
    );
}

#[test]
fn child_of_non_orphan_create_is_revoked_with_its_parent() {
    let s = server();
    let admin = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    let r = mint(&s, &admin.token, "auth/token/create", json!({}));
    let child = r.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        s.lookup(&child).unwrap().parent.as_deref(),
        Some(admin.accessor.as_str())
    );
    assert_eq!(
        post(&s.url(), "auth/token/revoke-self", &admin.token, json!({})).status,
        204
    );
    assert!(!s.token_alive(&child));
}

#[test]
fn type_and_number_checks() {
    let s = server();
    let admin = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    let e = |body| mint(&s, &admin.token, "auth/token/create-orphan", body);
    assert_eq!(
        e(json!({"type": "batch", "period": "1h"})).error(),
        "batch tokens cannot have \"period\" set"
    );
    assert_eq!(
        e(json!({"type": "batch", "num_uses": 3})).error(),
        "batch tokens cannot have \"num_uses\" set"
    );
    assert_eq!(
        e(json!({"type": "weird"})).error(),
        "invalid 'token_type' value"
    );
    assert_eq!(
        e(json!({"period": "-1h"})).error(),
        "period must be positive"
    );
    assert_eq!(
        e(json!({"explicit_max_ttl": "-1h"})).error(),
        "explicit_max_ttl must be positive"
    );
    assert_eq!(
        e(json!({"num_uses": -1})).error(),
        "number of uses cannot be negative"
    );
    assert_eq!(
        e(json!({"entity_alias": "x"})).error(),
        "'entity_alias' is only allowed in combination with token role"
    );
    let batch = e(json!({"type": "batch"})).json();
    assert_eq!(batch["auth"]["token_type"], "batch");
    assert_eq!(batch["auth"]["accessor"], "");
    let b = batch["auth"]["client_token"].as_str().unwrap();
    assert!(b.starts_with("b."));
    let r = mint(&s, b, "auth/token/create-orphan", json!({}));
    assert_eq!(r.error(), "batch tokens cannot create more tokens");
    let limited = e(json!({"num_uses": 5})).json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        mint(&s, &limited, "auth/token/create-orphan", json!({})).error(),
        "restricted use token cannot generate child tokens"
    );
}

#[test]
fn ttl_and_meta_are_stored() {
    let s = server();
    let admin = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    });
    let r = mint(
        &s,
        &admin.token,
        "auth/token/create-orphan",
        json!({"ttl": "1h", "meta": {"tool": "vault-token-renew"}}),
    )
    .json();
    assert_eq!(r["auth"]["lease_duration"], 3600);
    assert_eq!(r["auth"]["metadata"], json!({"tool": "vault-token-renew"}));
    let big = mint(
        &s,
        &admin.token,
        "auth/token/create-orphan",
        json!({"period": "800h"}),
    )
    .json();
    assert_eq!(
        big["auth"]["lease_duration"], 2_764_800,
        "capped at the 768h system max"
    );
    // Durations in the warning go through the framework's humanDuration: "800h", not "800h0m0s".
    assert_eq!(
        big["warnings"],
        json!([
            "period of \"800h\" exceeded the effective max_ttl of \"768h\"; period value is capped accordingly"
        ])
    );
}

/// The rules above, sent to the double and to a real OpenBao and compared.
#[test]
fn differential() {
    use common::differential::{Both, Caller, Differential, ROOT};
    let mut p = Differential::start("create");
    let root = Caller::Raw(ROOT);
    let (create, orphan) = ("auth/token/create", "auth/token/create-orphan");
    p.add_policy("vault-admin", ADMIN);
    p.add_policy("sops-admin", &[("transit/encrypt/sops", &["update"])]);
    p.add_policy("minter", &[(create, &["update"]), (orphan, &["update"])]);
    p.add_policy(
        "create-sudo",
        &[(create, &["update", "sudo"]), (orphan, &["update"])],
    );
    p.add_policy("ci", &[("secret/data/ci/*", &["read", "list"])]);
    let token = |p: &mut Differential, policies: Value| -> Both {
        p.mint(root, create, json!({"policies": policies}))
    };
    let admin = token(&mut p, json!(["vault-admin"]));
    let by_admin = Caller::Token(&admin);

    p.rule("oidc_admin_via_identity_policies_mints_a_periodic_orphan_scenario_a");
    let oidc = p.login("oidc", "alice", &[], &["vault-admin"]);
    let ours = json!({"policies": ["vault-admin", "sops-admin"], "period": "768h", "display_name": "devvm-wizard"});
    let minted = p.mint(Caller::Token(&oidc), orphan, ours);
    p.call(
        "GET",
        "auth/token/lookup-self",
        Caller::Token(&minted),
        None,
    );

    p.rule("subset_check_ignores_identity_policies");
    let carol = p.login("oidc", "carol", &[], &["minter"]);
    let body = json!({"policies": ["minter"]});
    p.call("POST", orphan, Caller::Token(&carol), Some(body.clone()));
    let bob = p.login("oidc", "bob", &["minter"], &[]);
    p.call("POST", orphan, Caller::Token(&bob), Some(body));

    p.rule("sudo_is_per_exact_path");
    let t = token(&mut p, json!(["create-sudo"]));
    let periodic = json!({"policies": ["create-sudo"], "period": "768h"});
    p.call("POST", orphan, Caller::Token(&t), Some(periodic.clone()));
    let mut no_parent = periodic;
    no_parent["no_parent"] = json!(true);
    p.call("POST", create, Caller::Token(&t), Some(no_parent));

    p.rule("period_without_sudo_is_400");
    let minter = token(&mut p, json!(["minter"]));
    p.call(
        "POST",
        orphan,
        Caller::Token(&minter),
        Some(json!({"period": "768h"})),
    );

    p.rule("weak_token_without_update_is_403_scenario_b");
    let k8s = p.login("kubernetes", "woodpecker-default", &["ci"], &[]);
    let body = json!({"policies": ["vault-admin"], "period": "768h"});
    p.call("POST", orphan, Caller::Token(&k8s), Some(body.clone()));

    p.rule("error_order_subset_before_period");
    let dave = p.login("oidc", "dave", &[], &["minter"]);
    p.call("POST", orphan, Caller::Token(&dave), Some(body));

    p.rule("no_parent_needs_sudo_even_on_create_orphan");
    let t = token(&mut p, json!(["minter", "default"]));
    for path in [create, orphan] {
        p.call(
            "POST",
            path,
            Caller::Token(&t),
            Some(json!({"no_parent": true})),
        );
    }
    p.call("POST", orphan, Caller::Token(&t), Some(json!({})));

    p.rule("display_name_sanitising_examples");
    for given in ["devvm_wizard@host", "foo.", "foo..", ""] {
        let child = p.mint(by_admin, orphan, json!({"display_name": given}));
        p.call("GET", "auth/token/lookup-self", Caller::Token(&child), None);
    }

    p.rule("empty_policies_inherit_token_policies_only");
    p.call(
        "POST",
        orphan,
        Caller::Token(&oidc),
        Some(json!({"period": "768h"})),
    );

    p.rule("default_added_with_sudo_and_only_if_parent_has_it_without");
    p.call(
        "POST",
        orphan,
        by_admin,
        Some(json!({"policies": ["sops-admin"]})),
    );
    let body = json!({"policies": ["sops-admin"], "no_default_policy": true});
    p.call("POST", orphan, by_admin, Some(body));
    let bare = p.mint(
        root,
        create,
        json!({"policies": ["minter"], "no_default_policy": true}),
    );
    p.call(
        "POST",
        orphan,
        Caller::Token(&bare),
        Some(json!({"policies": ["minter"]})),
    );

    p.rule("unknown_policies_are_allowed_with_a_warning");
    let body = json!({"policies": ["vault-admin", "nonexistent"]});
    p.call("POST", orphan, by_admin, Some(body));

    p.rule("comma_string_policies_are_one_name");
    let body = json!({"policies": "vault-admin,sops-admin"});
    p.call("POST", orphan, by_admin, Some(body));

    p.rule("root_policy_needs_a_root_parent_and_reserved_policies_are_refused");
    p.call(
        "POST",
        orphan,
        by_admin,
        Some(json!({"policies": ["root"]})),
    );
    let body = json!({"policies": ["response-wrapping"]});
    p.call("POST", orphan, by_admin, Some(body));
    p.call("POST", create, root, Some(json!({"policies": ["root"]})));

    p.rule("child_of_non_orphan_create_is_revoked_with_its_parent");
    let parent = token(&mut p, json!(["vault-admin"]));
    let child = p.mint(Caller::Token(&parent), create, json!({}));
    p.call("GET", "auth/token/lookup-self", Caller::Token(&child), None);
    let revoke = "auth/token/revoke-self";
    p.call("POST", revoke, Caller::Token(&parent), Some(json!({})));
    p.call("GET", "auth/token/lookup-self", Caller::Token(&child), None);

    p.rule("type_and_number_checks");
    for body in [
        json!({"type": "batch", "period": "1h"}),
        json!({"type": "batch", "num_uses": 3}),
        json!({"type": "weird"}),
        json!({"period": "-1h"}),
        json!({"explicit_max_ttl": "-1h"}),
        json!({"num_uses": -1}),
        json!({"entity_alias": "x"}),
    ] {
        p.call("POST", orphan, by_admin, Some(body));
    }
    let batch = p.mint(by_admin, orphan, json!({"type": "batch"}));
    p.call("POST", orphan, Caller::Token(&batch), Some(json!({})));
    let limited = p.mint(by_admin, orphan, json!({"num_uses": 5}));
    p.call("POST", orphan, Caller::Token(&limited), Some(json!({})));

    p.rule("ttl_and_meta_are_stored_and_meta_values_become_strings");
    let body = json!({"ttl": "1h", "meta": {"tool": "vault-token-renew", "a": 1, "b": true}});
    let stored = p.mint(by_admin, orphan, body);
    p.call(
        "GET",
        "auth/token/lookup-self",
        Caller::Token(&stored),
        None,
    );
    p.call("POST", orphan, by_admin, Some(json!({"period": "800h"})));

    p.rule("a_ttl_over_explicit_max_ttl_is_capped_with_a_warning");
    let body = json!({"ttl": "3h", "explicit_max_ttl": "2h"});
    p.call("POST", orphan, by_admin, Some(body));

    p.finish();
}
