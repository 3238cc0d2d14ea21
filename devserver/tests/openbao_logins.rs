//! Genuine logins on a real OpenBao: its `oidc` auth method against the test OpenID provider and
//! its `kubernetes` auth method against the fake TokenReview API.
use std::collections::BTreeMap;

use serde_json::{Value, json};
use vault_devserver::openbao::OpenBao;
use vault_devserver::openbao_logins::OidcMount;
use vault_devserver::provider::{CLIENT_ID, CLIENT_SECRET, OidcProvider, OidcUser};
use vault_devserver::tokenreview::FakeKubernetes;

fn bao() -> OpenBao {
    let bao = OpenBao::start().expect("start OpenBao");
    bao.seed_demo();
    bao
}

fn meta(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn an_oidc_login_is_admin_only_through_its_groups_policies() {
    let bao = bao();
    let provider = OidcProvider::start(OidcUser::default()).expect("start the provider");
    bao.mount_oidc(&provider, &OidcMount::admin_through_groups());

    let login = bao.oidc_login_token("oidc");

    assert_eq!(
        provider.exchanges(),
        1,
        "one code exchanged for an id_token"
    );
    assert!(provider.refusals().is_empty(), "{:?}", provider.refusals());
    let v = bao.lookup(&login.token).expect("the login is alive");
    assert_eq!(v.display_name, "oidc-alice@example.com");
    assert_eq!(v.path, "auth/oidc/oidc/callback");
    assert_eq!(v.policies, ["default"], "no authority of its own");
    assert_eq!(v.identity_policies, ["sops-admin", "vault-admin"]);
    assert_eq!(v.meta, meta(&[("role", "default")]));
    assert!(!v.entity_id.is_empty() && v.renewable);
    assert!(v.orphan, "a login token has no parent");
    assert_eq!(v.period, 0);
    // The group policies make it admin: it may mint a periodic orphan.
    let caps = bao.call(
        Some(&login.token),
        "POST",
        "sys/capabilities-self",
        Some(json!({ "paths": ["auth/token/create-orphan"] })),
    );
    assert!(caps.ok(), "{caps:?}");
    assert!(
        caps.body["capabilities"]
            .as_array()
            .is_some_and(|c| c.contains(&json!("sudo"))),
        "{}",
        caps.body
    );
}

#[test]
fn without_the_admin_group_the_same_login_has_no_authority() {
    let bao = bao();
    let provider = OidcProvider::start(OidcUser {
        groups: vec![],
        ..OidcUser::default()
    })
    .expect("start the provider");
    bao.mount_oidc(&provider, &OidcMount::admin_through_groups());

    let v = bao.lookup(&bao.oidc_login_token("oidc").token).unwrap();

    assert_eq!(v.display_name, "oidc-alice@example.com");
    assert_eq!(v.policies, ["default"]);
    assert!(v.identity_policies.is_empty(), "{:?}", v.identity_policies);
}

#[test]
fn a_kubernetes_login_is_a_real_service_account_login() {
    let bao = bao();
    let cluster = FakeKubernetes::start().expect("start the fake API server");
    bao.mount_kubernetes(&cluster);

    let login = bao.kubernetes_login_token(
        &cluster,
        "woodpecker",
        "default",
        &["ci", "terraform-state"],
    );

    assert_eq!(cluster.reviews(), 1, "OpenBao asked the TokenReview API");
    let v = bao.lookup(&login.token).expect("the login is alive");
    assert_eq!(v.display_name, "kubernetes-woodpecker-default");
    assert_eq!(v.path, "auth/kubernetes/login");
    assert_eq!(v.policies, ["ci", "default", "terraform-state"]);
    assert!(v.identity_policies.is_empty());
    let meta = v.meta.expect("login metadata");
    assert_eq!(meta["service_account_namespace"], "woodpecker");
    assert_eq!(meta["service_account_name"], "default");
    assert_eq!(meta["service_account_secret_name"], "default-token");
    assert_eq!(meta["role"], "woodpecker-default");
    assert!(meta["service_account_uid"].starts_with("00000000-0000-4000-8000-"));
}

#[test]
fn a_deleted_service_account_cannot_log_in() {
    let bao = bao();
    let cluster = FakeKubernetes::start().expect("start the fake API server");
    bao.mount_kubernetes(&cluster);
    bao.kubernetes_login_token(&cluster, "woodpecker", "default", &["ci"]);
    let jwt = cluster.service_account_jwt("woodpecker", "default");
    cluster.delete_service_account(&jwt);

    let a = bao.call(
        None,
        "POST",
        "auth/kubernetes/login",
        Some(json!({ "role": "woodpecker-default", "jwt": jwt })),
    );

    // Only the errors: a successful answer would hold a token value.
    assert_eq!(a.status, 403, "{}", a.body["errors"]);
}

/// The provider's own checks, without OpenBao: PKCE S256, single-use codes, client credentials.
#[test]
fn the_provider_checks_pkce_codes_and_the_client() {
    let provider = OidcProvider::start(OidcUser::default()).expect("start the provider");
    let verifier = "a-verifier-of-at-least-forty-three-characters-0123456789";
    let challenge = "NiC162c0QrSD2DAiXkn9HJo4rKjj6GAubjqyJCS0vgU"; // base64url(sha256(verifier))
    let code = authorize(&provider, challenge);
    let wrong = token(&provider, &code, "not-the-verifier", CLIENT_SECRET);
    assert_eq!(wrong.0, 400);
    assert_eq!(wrong.1["error"], "invalid_grant");
    let replay = token(&provider, &code, verifier, CLIENT_SECRET);
    assert_eq!(replay.1["error"], "invalid_grant", "a code is good once");

    let code = authorize(&provider, challenge);
    let bad_client = token(&provider, &code, verifier, "wrong-secret");
    assert_eq!(bad_client.0, 401);
    assert_eq!(bad_client.1["error"], "invalid_client");

    let code = authorize(&provider, challenge);
    let ok = token(&provider, &code, verifier, CLIENT_SECRET);
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert_eq!(ok.1["token_type"], "Bearer");
    let claims = id_token_claims(ok.1["id_token"].as_str().unwrap());
    assert_eq!(claims["iss"], provider.issuer());
    assert_eq!(claims["aud"], CLIENT_ID);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(provider.exchanges(), 1);
    assert_eq!(
        provider.refusals(),
        ["invalid_grant", "invalid_grant", "invalid_client"]
    );
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .build()
        .into()
}

/// GETs authorize and returns the code from the redirect to the callback.
fn authorize(provider: &OidcProvider, challenge: &str) -> String {
    let url = format!(
        "{}/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri=http%3A%2F%2Flocalhost%3A8250%2Foidc%2Fcallback&scope=openid+email&state=st&nonce=n-0S6_WzA2Mj&code_challenge={challenge}&code_challenge_method=S256",
        provider.issuer()
    );
    let resp = agent().get(&url).call().unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let prefix = "http://localhost:8250/oidc/callback?code=";
    assert!(location.starts_with(prefix), "{location}");
    assert!(location.ends_with("&state=st"), "{location}");
    location[prefix.len()..location.len() - "&state=st".len()].to_owned()
}

fn token(provider: &OidcProvider, code: &str, verifier: &str, secret: &str) -> (u16, Value) {
    let form = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=http%3A%2F%2Flocalhost%3A8250%2Foidc%2Fcallback&code_verifier={verifier}&client_id={CLIENT_ID}&client_secret={secret}"
    );
    let mut resp = agent()
        .post(&format!("{}/token", provider.issuer()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form)
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_json().unwrap_or(Value::Null);
    (status, body)
}

fn id_token_claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("a JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
