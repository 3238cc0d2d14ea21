//! contract §9: the OIDC login's Vault side (`auth/<mount>/oidc/auth_url`, `…/callback`), compared
//! with a real OpenBao whose jwt plugin is configured against a minimal discovery document. The
//! code exchange needs a signing provider and runs on the double only (`tests/login.rs`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use common::differential::{Caller, Differential};
use serde_json::json;
use vault_devserver::OidcRole;

const CALLBACK: &str = "http://localhost:8250/oidc/callback";

/// Serves an OIDC discovery document on loopback for the life of the test process: all the
/// jwt plugin fetches when its config is written.
fn discovery_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("local addr"));
    let doc = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
    .to_string();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(&conn);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{doc}",
                doc.len()
            );
        }
    });
    base
}

fn configure(p: &Differential) {
    p.double.add_oidc_role(OidcRole::default());
    let issuer = discovery_server();
    p.bao
        .root("POST", "sys/auth/oidc", Some(json!({"type": "oidc"})));
    p.bao.root(
        "POST",
        "auth/oidc/config",
        Some(json!({
            "oidc_discovery_url": issuer,
            "oidc_client_id": "vault",
            "oidc_client_secret": "not-a-secret",
            "default_role": "default",
        })),
    );
    p.bao.root(
        "POST",
        "auth/oidc/role/default",
        Some(json!({
            "role_type": "oidc",
            "user_claim": "email",
            "allowed_redirect_uris": [CALLBACK],
        })),
    );
}

#[test]
fn differential() {
    let mut p = Differential::start("oidc");
    configure(&p);
    let auth_url = "auth/oidc/oidc/auth_url";
    let ask = |role: &str, redirect: &str| json!({"role": role, "redirect_uri": redirect, "client_nonce": "nonce-1"});

    p.rule("auth_url_for_an_allowed_redirect_names_the_provider");
    p.call(
        "POST",
        auth_url,
        Caller::Nobody,
        Some(ask("default", CALLBACK)),
    );
    p.call("POST", auth_url, Caller::Nobody, Some(ask("", CALLBACK)));

    p.rule("loopback_redirects_match_on_any_port");
    let other_port = "http://localhost:18250/oidc/callback";
    p.call(
        "POST",
        auth_url,
        Caller::Nobody,
        Some(ask("default", other_port)),
    );

    p.rule("a_disallowed_redirect_is_200_with_an_empty_auth_url");
    let elsewhere = "https://example.com/oidc/callback";
    p.call(
        "POST",
        auth_url,
        Caller::Nobody,
        Some(ask("default", elsewhere)),
    );

    p.rule("unknown_role_and_missing_redirect_are_400");
    p.call(
        "POST",
        auth_url,
        Caller::Nobody,
        Some(ask("nope", CALLBACK)),
    );
    p.call("POST", auth_url, Caller::Nobody, Some(ask("default", "")));

    p.rule("callback_with_an_unknown_state_is_400");
    let callback = "auth/oidc/oidc/callback?state=nope&code=x&client_nonce=nonce-1";
    p.call("GET", callback, Caller::Nobody, None);

    p.finish();
}
