//! The real OpenBao harness itself: it starts, seeds like the double, and inspects.
use vault_devserver::TokenSpec;
use vault_devserver::openbao::OpenBao;

#[test]
fn seeds_a_periodic_token_and_logins_like_the_double() {
    let bao = OpenBao::start().expect("start OpenBao");
    bao.seed_demo();
    let ours = bao.add_token(TokenSpec::periodic(
        "devvm-alice",
        &["vault-admin"],
        768 * 3600,
    ));
    let v = bao.lookup(&ours.token).expect("our token is alive");
    assert_eq!(v.display_name, "token-devvm-alice");
    assert_eq!(v.period, 768 * 3600);
    assert!(v.orphan);
    assert_eq!(v.policies, ["default", "vault-admin"]);
    let oidc = bao.add_token(TokenSpec::login(
        "oidc-alice",
        &[],
        &["vault-admin", "sops-admin"],
    ));
    let v = bao.lookup(&oidc.token).unwrap();
    assert_eq!(v.display_name, "oidc-alice");
    assert_eq!(v.policies, ["default"]);
    assert_eq!(v.identity_policies, ["sops-admin", "vault-admin"]);
    let k8s = bao.add_token(TokenSpec::login(
        "kubernetes-woodpecker-default",
        &["ci", "terraform-state"],
        &[],
    ));
    let v = bao.lookup(&k8s.token).unwrap();
    assert_eq!(v.display_name, "kubernetes-woodpecker-default");
    assert_eq!(v.policies, ["ci", "default", "terraform-state"]);
    assert_eq!(bao.alive_by_display_name("token-devvm-alice").len(), 1);
    assert!(bao.issued_tokens().contains(&ours.token));
}

#[test]
fn the_audit_log_names_each_token_s_creator() {
    let bao = OpenBao::start().expect("start OpenBao");
    bao.seed_demo();
    let admin = bao.add_token(TokenSpec::periodic("admin", &["vault-admin"], 3600));
    let a = bao.call(
        Some(&admin.token),
        "POST",
        "auth/token/create-orphan",
        Some(serde_json::json!({"display_name": "child", "policies": ["vault-admin"]})),
    );
    assert_eq!(a.status, 200, "{:?}", a.body);
    let child = a.body["auth"]["accessor"].as_str().unwrap();
    let view = bao.lookup_accessor(child).unwrap();
    assert_eq!(view.created_by.as_deref(), Some(admin.accessor.as_str()));
    let minted = a.body["auth"]["client_token"].as_str().unwrap().to_owned();
    assert!(bao.issued_tokens().contains(&minted));
}
