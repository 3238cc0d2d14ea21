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

/// The rules above, plus ACL specificity across policies, sent to the double and to a real
/// OpenBao and compared.
#[test]
fn differential() {
    use common::differential::{Caller, Differential, ROOT};
    let mut p = Differential::start("capabilities");
    let root = Caller::Raw(ROOT);
    let create = "auth/token/create";
    let caps = "sys/capabilities-self";
    p.add_policy("vault-admin", ADMIN);
    const ALL: &[&str] = &["create", "read", "update", "delete", "list", "sudo"];
    p.add_policy("everything", &[("*", ALL)]);

    p.rule("two_paths_sorted_and_duplicated_at_top_level");
    let oidc = p.login("oidc", "alice", &[], &["vault-admin"]);
    let two = json!({"paths": ["auth/token/create-orphan", "auth/token/accessors"]});
    p.call("POST", caps, Caller::Token(&oidc), Some(two));

    p.rule("one_path_adds_capabilities_key_deny_and_root");
    let weak = p.mint(root, create, json!({"policies": ["default"]}));
    let one = json!({"paths": ["auth/token/create-orphan"]});
    p.call("POST", caps, Caller::Token(&weak), Some(one));
    let string_paths = json!({"paths": "auth/token/create-orphan"});
    p.call("POST", caps, root, Some(string_paths));
    let old_path = json!({"path": "auth/token/lookup-self"});
    p.call("POST", caps, Caller::Token(&weak), Some(old_path));

    p.rule("no_paths_is_400");
    p.call("POST", caps, Caller::Token(&weak), Some(json!({})));

    // Vault merges the policies' rules per path pattern; the most specific pattern matching the
    // request wins, whichever policy it came from: `default`'s exact read-only lookup-self rule
    // beats `everything`'s `*`.
    p.rule("exact_rule_from_default_beats_a_glob_from_another_policy");
    let broad = p.mint(root, create, json!({"policies": ["everything"]}));
    let lookup_self = json!({"paths": ["auth/token/lookup-self", "auth/token/create"]});
    p.call("POST", caps, Caller::Token(&broad), Some(lookup_self));
    p.call(
        "POST",
        "auth/token/lookup-self",
        Caller::Token(&broad),
        Some(json!({})),
    );
    p.call("GET", "auth/token/lookup-self", Caller::Token(&broad), None);
    p.call("GET", "auth/token/renew-self", Caller::Token(&broad), None);
    let no_default = p.mint(
        root,
        create,
        json!({"policies": ["everything"], "no_default_policy": true}),
    );
    p.call(
        "POST",
        "auth/token/lookup-self",
        Caller::Token(&no_default),
        Some(json!({})),
    );

    p.finish();
}
