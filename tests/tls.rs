//! TLS against the double with a generated CA: verified by default, `--ca-cert` works, a wrong CA
//! or a name mismatch fails with an error that names the fix, `--tls-server-name` checks another
//! name, and plain http to a non-loopback address warns.

#[allow(unused_imports)] // the harness re-exports fault types this suite does not use
mod common;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use std::fs;
use std::path::PathBuf;

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// A server certificate for these names (DNS names or IP addresses): `(chain PEM, key PEM)`.
    fn server_cert(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A world whose double serves https with a certificate for `names`, signed by `ca`.
fn https_world(ca: &Ca, names: &[&str]) -> World {
    let (chain, key) = ca.server_cert(names);
    let server = DevServer::builder()
        .seed(Seed::Demo)
        .tls_pem(chain.as_bytes(), key.as_bytes())
        .start()
        .unwrap();
    let world = World {
        server: Server::Double(server),
        home: tempfile::tempdir().unwrap(),
        extra_config: String::new(),
    };
    world.write_config("");
    world
}

fn write_ca(w: &World, ca: &Ca) -> PathBuf {
    let path = w.home.path().join("ca.pem");
    fs::write(&path, ca.issuer.pem()).unwrap();
    path
}

fn localhost_url(w: &World) -> String {
    format!("https://localhost:{}", w.server.addr().port())
}

#[test]
fn https_with_our_ca_renews_and_heals() {
    let ca = Ca::new("test CA");
    let w = https_world(&ca, &["localhost", "127.0.0.1"]);
    assert!(w.server.url().starts_with("https://"));
    let ca_file = write_ca(&w, &ca);
    let ca_arg = ca_file.to_str().unwrap();

    let ours = w.seed_ours();
    w.write_token(&ours.token);
    let run = w.run(&["renew", "--ca-cert", ca_arg]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.last_log_line().contains(" OK renewed "));

    // The same over a name, and via the environment variable.
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    let url = localhost_url(&w);
    let run = w.run_env(
        &["renew", "--vault-addr", &url],
        &[("VAULT_CACERT", ca_arg)],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        w.last_log_line().contains(" HEALED: "),
        "{}",
        w.last_log_line()
    );
}

#[test]
fn verified_by_default_an_unknown_ca_names_the_fix() {
    let ca = Ca::new("test CA");
    let w = https_world(&ca, &["localhost", "127.0.0.1"]);
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    w.server.reset_requests();

    // No CA configured: the system's trust does not know ours.
    let run = w.run(&["renew", "--retries", "3"]);
    assert_eq!(run.code, 4, "{run:?}");
    let line = w.last_log_line();
    assert!(line.contains("is not signed by a CA we trust"), "{line}");
    assert!(line.contains("--ca-cert (VAULT_CACERT)"), "{line}");
    assert!(line.contains("the token file is unchanged"), "{line}");
    assert!(w.server.requests().is_empty(), "no request was sent");

    // Another CA.
    let other = Ca::new("another CA");
    let other_file = w.home.path().join("other.pem");
    fs::write(&other_file, other.issuer.pem()).unwrap();
    let run = w.run(&["renew", "--ca-cert", other_file.to_str().unwrap()]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(w.last_log_line().contains("is not signed by a CA we trust"));
    assert_eq!(w.server.lookup(&ours.token).unwrap().renewals, 0);
    assert_eq!(w.file_content().unwrap(), ours.token);
}

#[test]
fn a_name_mismatch_names_the_fix_and_tls_server_name_resolves_it() {
    let ca = Ca::new("test CA");
    let w = https_world(&ca, &["vault.example"]);
    let ca_file = write_ca(&w, &ca);
    let ca_arg = ca_file.to_str().unwrap();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    let url = localhost_url(&w);

    let run = w.run(&["renew", "--ca-cert", ca_arg, "--vault-addr", &url]);
    assert_eq!(run.code, 4, "{run:?}");
    let line = w.last_log_line();
    assert!(
        line.contains("is not valid for the name we checked"),
        "{line}"
    );
    assert!(
        line.contains("vault.example"),
        "names what the certificate carries: {line}"
    );
    println!("{line}");
    assert!(
        line.contains("--tls-server-name (VAULT_TLS_SERVER_NAME)"),
        "{line}"
    );

    let run = w.run(&[
        "renew",
        "--ca-cert",
        ca_arg,
        "--vault-addr",
        &url,
        "--tls-server-name",
        "vault.example",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.last_log_line().contains(" OK renewed "));

    // The configured name is checked as strictly as the host would be, CA included.
    let run = w.run_env(
        &["renew", "--ca-cert", ca_arg, "--vault-addr", &url],
        &[("VAULT_TLS_SERVER_NAME", "other.example")],
    );
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        w.last_log_line()
            .contains("is not valid for the name we checked")
    );
    let other = Ca::new("another CA");
    let other_file = w.home.path().join("other.pem");
    fs::write(&other_file, other.issuer.pem()).unwrap();
    let run = w.run(&[
        "renew",
        "--ca-cert",
        other_file.to_str().unwrap(),
        "--vault-addr",
        &url,
        "--tls-server-name",
        "vault.example",
    ]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(w.last_log_line().contains("is not signed by a CA we trust"));
    assert_eq!(w.server.lookup(&ours.token).unwrap().renewals, 1);
}

#[test]
fn https_to_a_plain_http_server_says_so() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    let url = w.server.url().replace("http://", "https://");
    let run = w.run(&["renew", "--vault-addr", &url, "--retries", "0"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        w.last_log_line().contains("did not answer with TLS"),
        "{}",
        w.last_log_line()
    );
}

#[test]
fn plain_http_to_a_non_loopback_address_warns() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    // TEST-NET-1: not loopback, and nothing answers; the warning comes before any request.
    let run = w.run(&[
        "renew",
        "--vault-addr",
        "http://192.0.2.1:8200",
        "--retries",
        "0",
        "--timeout",
        "1s",
    ]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains("plain http to a non-loopback host")
            && run.stderr.contains("use https"),
        "{run:?}"
    );
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        !run.stderr.contains("plain http"),
        "loopback http is fine: {run:?}"
    );
}

#[test]
fn bad_tls_settings_are_reported_before_any_request() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    let junk = w.home.path().join("junk.pem");
    fs::write(&junk, "not a certificate").unwrap();
    let run = w.run(&["renew", "--ca-cert", junk.to_str().unwrap()]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        w.last_log_line().contains("holds no usable PEM data"),
        "{}",
        w.last_log_line()
    );
    let run = w.run(&["renew", "--tls-server-name", "bad name!"]);
    assert!(run.code != 0, "{run:?}");
    assert!(
        format!("{}{}", run.stderr, w.last_log_line()).contains("is not a DNS name or IP address"),
        "{run:?}"
    );
    assert_eq!(w.server.lookup(&ours.token).unwrap().renewals, 0);
}
