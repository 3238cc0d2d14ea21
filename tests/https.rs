//! The client over https against the double's TLS listener, trusting a CA given explicitly
//! (`ca_cert`, as `VAULT_CACERT`): the happy path the benchmark times over https.

// Not every test file uses every re-export of the shared harness.
#[allow(unused_imports)]
mod common;

use common::*;
use std::fs;

/// Self-signed for 127.0.0.1 and localhost, CA:FALSE, valid until 2126; a test fixture only.
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBmDCCAT6gAwIBAgIUOkrl/cTxoDNjYYb2eF1f6J8sr+AwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyOTA1MjcxNVoYDzIxMjYxMTA1
MDUyNzE1WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASZrfvmT3xo6bJTNxepUbf+YcABeVVMeuS9A+q2d4azUfR3xPTRA8jZ
LBfGmueMA1wgJyXroukyDXnHjRKT9EsWo2wwajAdBgNVHQ4EFgQUOKDEw2jC9SzM
HjwQN1cCBxOPHGkwHwYDVR0jBBgwFoAUOKDEw2jC9SzMHjwQN1cCBxOPHGkwGgYD
VR0RBBMwEYcEfwAAAYIJbG9jYWxob3N0MAwGA1UdEwEB/wQCMAAwCgYIKoZIzj0E
AwIDSAAwRQIgG67apFObPuYM2dwx4nhvbFwuyXCrC7U3elscDJ/2VO8CIQDVmjhM
sPtyH6nEmkiwkjU8I7psz+p6wiIKDh7kokpofg==
-----END CERTIFICATE-----
";
const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFVc1mEVJNrecsUra
ClvBhxxSGOnwbfwkirqSMYm9jy6hRANCAASZrfvmT3xo6bJTNxepUbf+YcABeVVM
euS9A+q2d4azUfR3xPTRA8jZLBfGmueMA1wgJyXroukyDXnHjRKT9EsW
-----END PRIVATE KEY-----
";

fn tls_world() -> World {
    let home = tempfile::tempdir().unwrap();
    let (cert, key) = (home.path().join("tls.crt"), home.path().join("tls.key"));
    fs::write(&cert, CERT).unwrap();
    fs::write(&key, KEY).unwrap();
    let server = DevServer::builder()
        .seed(Seed::Demo)
        .tls(&cert, &key)
        .start()
        .expect("start the double with TLS");
    let world = World {
        server,
        home,
        extra_config: String::new(),
    };
    world.write_config(&format!("ca_cert = \"{}\"\n", cert.display()));
    world
}

#[test]
fn renews_over_https_with_an_explicit_ca() {
    let w = tls_world();
    assert!(w.server.url().starts_with("https://127.0.0.1:"));
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    w.server.reset_requests();

    let run = w.run(&["renew"]);

    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        w.last_log_line()
            .contains(" OK renewed (dn=token-devvm-alice")
    );
    assert_eq!(w.server.requests().len(), 2, "lookup-self and renew-self");
}

#[test]
fn an_untrusted_certificate_is_refused_and_nothing_is_sent() {
    let w = tls_world();
    w.write_config("");
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    w.server.reset_requests();

    let run = w.run(&["renew"]);

    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        w.last_log_line().contains(" FAIL: "),
        "{}",
        w.last_log_line()
    );
    assert!(
        w.server.requests().is_empty(),
        "no request got past the handshake"
    );
}
