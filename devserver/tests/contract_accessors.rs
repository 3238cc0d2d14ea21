//! contract §4 (accessor list) and §5 (lookup-accessor, revoke-accessor).

mod common;

use common::*;
use serde_json::json;
use vault_devserver::{DevServer, TokenSpec, TokenType};

fn admin(s: &DevServer) -> vault_devserver::Seeded {
    s.add_policy("vault-admin", ADMIN);
    s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        ..Default::default()
    })
}

#[test]
fn accessors_list_with_list_verb_get_list_true_and_either_slash() {
    let s = DevServer::start().unwrap();
    let a = admin(&s);
    let other = s.add_token(TokenSpec::login("kubernetes-ci", &["ci"], &[]));
    for r in [
        list(&s.url(), "auth/token/accessors", &a.token),
        list(&s.url(), "auth/token/accessors/", &a.token),
        get(&s.url(), "auth/token/accessors?list=true", &a.token),
    ] {
        assert_eq!(r.status, 200);
        let mut want = vec![a.accessor.clone(), other.accessor.clone()];
        want.sort();
        assert_eq!(
            r.json()["data"]["keys"],
            json!(want),
            "sorted, so deterministic"
        );
    }
    let bad = get(&s.url(), "auth/token/accessors?list=notabool", &a.token);
    assert_eq!((bad.status, bad.json()), (400, json!({"errors": []})));
}

#[test]
fn accessors_403_without_sudo() {
    let s = DevServer::start().unwrap();
    s.add_policy("lister", &[("auth/token/accessors", &["list"])]);
    let t = s.add_token(TokenSpec {
        policies: vec!["lister".into()],
        ..Default::default()
    });
    let r = list(&s.url(), "auth/token/accessors", &t.token);
    assert_eq!(
        (r.status, r.error()),
        (
            403,
            "1 error occurred:\n\t* permission denied\n\n".to_string()
        )
    );
}

#[test]
fn accessors_404_with_empty_errors_when_empty() {
    let s = DevServer::start().unwrap();
    s.add_policy("vault-admin", ADMIN);
    // A batch token is not in the accessor index, so it can see an empty list.
    let b = s.add_token(TokenSpec {
        policies: vec!["vault-admin".into()],
        token_type: TokenType::Batch,
        ..Default::default()
    });
    let r = list(&s.url(), "auth/token/accessors", &b.token);
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"errors": []}));
}

#[test]
fn revoked_tokens_leave_the_list() {
    let s = DevServer::start().unwrap();
    let a = admin(&s);
    let other = s.add_token(TokenSpec::default());
    assert_eq!(
        post(
            &s.url(),
            "auth/token/revoke-accessor",
            &a.token,
            json!({"accessor": other.accessor})
        )
        .status,
        204
    );
    assert_eq!(
        list(&s.url(), "auth/token/accessors", &a.token).json()["data"]["keys"],
        json!([a.accessor])
    );
}

#[test]
fn lookup_accessor_blanks_id_and_unknown_is_400_invalid_accessor() {
    let s = DevServer::start().unwrap();
    let a = admin(&s);
    let t = s.add_token(TokenSpec::periodic(
        "devvm-wizard",
        &["vault-admin"],
        2_764_800,
    ));
    let d = post(
        &s.url(),
        "auth/token/lookup-accessor",
        &a.token,
        json!({"accessor": t.accessor}),
    )
    .json()["data"]
        .clone();
    assert_eq!(d["id"], "");
    assert_eq!(d["accessor"], t.accessor.as_str());
    assert_eq!(d["display_name"], "token-devvm-wizard");
    assert_eq!(d["period"], 2_764_800);
    let r = post(
        &s.url(),
        "auth/token/lookup-accessor",
        &a.token,
        json!({"accessor": "nope"}),
    );
    assert_eq!(
        (r.status, r.error()),
        (
            400,
            "1 error occurred:\n\t* invalid accessor\n\n".to_string()
        )
    );
    let r = post(&s.url(), "auth/token/lookup-accessor", &a.token, json!({}));
    assert_eq!(
        (r.status, r.error()),
        (
            400,
            "1 error occurred:\n\t* missing accessor\n\n".to_string()
        )
    );
}

#[test]
fn lookup_and_revoke_accessor_need_update_not_in_default() {
    let s = DevServer::start().unwrap();
    let t = s.add_token(TokenSpec::default());
    for path in ["auth/token/lookup-accessor", "auth/token/revoke-accessor"] {
        assert_eq!(
            post(&s.url(), path, &t.token, json!({"accessor": t.accessor})).status,
            403
        );
    }
}

#[test]
fn revoke_accessor_204_then_unknown_is_200_with_warning() {
    let s = DevServer::start().unwrap();
    let a = admin(&s);
    let t = s.add_token(TokenSpec::default());
    let r = post(
        &s.url(),
        "auth/token/revoke-accessor",
        &a.token,
        json!({"accessor": t.accessor}),
    );
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert!(!s.token_alive(&t.token));
    let again = post(
        &s.url(),
        "auth/token/revoke-accessor",
        &a.token,
        json!({"accessor": t.accessor}),
    );
    assert_eq!(again.status, 200);
    let v = again.json();
    assert!(v["data"].is_null());
    assert_eq!(v["warnings"], json!(["No token found with this accessor"]));
    let missing = post(
        &s.url(),
        "auth/token/revoke-accessor",
        &a.token,
        json!({"accessor": ""}),
    );
    assert_eq!(
        (missing.status, missing.error()),
        (
            400,
            "1 error occurred:\n\t* missing accessor\n\n".to_string()
        )
    );
}

#[test]
fn revoking_own_token_by_accessor_is_allowed() {
    let s = DevServer::start().unwrap();
    let a = admin(&s);
    assert_eq!(
        post(
            &s.url(),
            "auth/token/revoke-accessor",
            &a.token,
            json!({"accessor": a.accessor})
        )
        .status,
        204
    );
    assert!(!s.token_alive(&a.token));
}

/// The rules above, sent to the double and to a real OpenBao and compared. The empty list (404)
/// runs on the double only: OpenBao's list always holds its root token.
#[test]
fn differential() {
    use common::differential::{Caller, Differential, ROOT};
    let mut p = Differential::start("accessors");
    let root = Caller::Raw(ROOT);
    let create = "auth/token/create";
    let (lookup, revoke) = ("auth/token/lookup-accessor", "auth/token/revoke-accessor");
    p.add_policy("vault-admin", ADMIN);
    p.add_policy("lister", &[("auth/token/accessors", &["list"])]);
    let admin = p.mint(root, create, json!({"policies": ["vault-admin"]}));
    let by_admin = Caller::Token(&admin);

    p.rule("list_verb_get_list_true_and_either_slash");
    p.call("LIST", "auth/token/accessors", by_admin, None);
    p.call("LIST", "auth/token/accessors/", by_admin, None);
    p.call("GET", "auth/token/accessors?list=true", by_admin, None);
    p.call("GET", "auth/token/accessors?list=notabool", by_admin, None);

    p.rule("accessors_403_without_sudo");
    let lister = p.mint(root, create, json!({"policies": ["lister"]}));
    p.call("LIST", "auth/token/accessors", Caller::Token(&lister), None);

    p.rule("lookup_accessor_blanks_id_and_unknown_is_400");
    let ours = p.mint(
        root,
        "auth/token/create-orphan",
        json!({"policies": ["vault-admin"], "period": "768h", "display_name": "devvm-wizard"}),
    );
    p.call_each(
        "POST",
        lookup,
        by_admin,
        |side| json!({"accessor": ours.on(side).accessor}),
    );
    p.call("POST", lookup, by_admin, Some(json!({"accessor": "nope"})));
    p.call("POST", lookup, by_admin, Some(json!({})));

    p.rule("lookup_and_revoke_accessor_need_update_not_in_default");
    let weak = p.mint(root, create, json!({"policies": ["default"]}));
    for path in [lookup, revoke] {
        p.call_each(
            "POST",
            path,
            Caller::Token(&weak),
            |side| json!({"accessor": weak.on(side).accessor}),
        );
    }

    p.rule("revoke_accessor_204_then_unknown_is_200_with_warning");
    let gone = p.mint(root, create, json!({"policies": ["default"]}));
    for _ in 0..2 {
        p.call_each(
            "POST",
            revoke,
            by_admin,
            |side| json!({"accessor": gone.on(side).accessor}),
        );
    }
    p.call("POST", revoke, by_admin, Some(json!({"accessor": ""})));
    p.call_each(
        "POST",
        "auth/token/lookup",
        by_admin,
        |side| json!({"token": gone.on(side).token}),
    );

    p.rule("revoking_own_token_by_accessor_is_allowed");
    let own = p.mint(root, create, json!({"policies": ["vault-admin"]}));
    p.call_each(
        "POST",
        revoke,
        Caller::Token(&own),
        |side| json!({"accessor": own.on(side).accessor}),
    );
    p.call("GET", "auth/token/lookup-self", Caller::Token(&own), None);

    p.finish();
}
