//! Fault injection: every kind, method/path matching, `times`, and what reaches the store.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use vault_devserver::Method;
use vault_devserver::{DevServer, Fault, FaultKind, TokenSpec};

fn setup() -> (DevServer, String) {
    let s = DevServer::start().unwrap();
    s.add_policy("vault-admin", ADMIN);
    let t = s.add_token(TokenSpec::login("oidc-alice", &[], &["vault-admin"]));
    (s, t.token)
}

fn fault(path: &str, kind: FaultKind) -> Fault {
    Fault::new(Some(Method::POST), path, kind, 1)
}

const MINT: &str = r#"{"policies":["vault-admin"],"period":"768h","display_name":"devvm-wizard"}"#;

fn mint_raw(s: &DevServer, token: &str) -> Outcome {
    exchange(
        &s.url(),
        "POST",
        "/v1/auth/token/create-orphan",
        Some(token),
        Some(MINT),
    )
}

fn minted(s: &DevServer) -> usize {
    s.state().by_display_name("token-devvm-wizard").count()
}

#[test]
fn status_fault_with_vault_body_hits_times_then_serves_normally() {
    let (s, t) = setup();
    s.inject_fault(Fault::new(
        Some(Method::GET),
        "auth/token/lookup-self",
        FaultKind::status(500),
        2,
    ));
    for _ in 0..2 {
        let r = get(&s.url(), "auth/token/lookup-self", &t);
        assert_eq!((r.status, r.error()), (500, "internal error".to_string()));
    }
    assert_eq!(get(&s.url(), "auth/token/lookup-self", &t).status, 200);
    assert_eq!(s.request_count(Method::GET, "auth/token/lookup-self"), 3);
    let statuses: Vec<u16> = s.requests().into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, [500, 500, 200]);
}

#[test]
fn status_fault_with_custom_body_and_method_filter() {
    let (s, t) = setup();
    s.inject_fault(fault(
        "auth/token/renew-self",
        FaultKind::Status {
            code: 429,
            body: Some("slow down".into()),
        },
    ));
    // GET is not POST: unaffected (and 405 by the ACL-then-verb rule is not reached: default denies read → 403).
    assert_eq!(get(&s.url(), "auth/token/renew-self", &t).status, 403);
    let r = post(&s.url(), "auth/token/renew-self", &t, json!({}));
    assert_eq!(
        (r.status, String::from_utf8_lossy(&r.body).to_string()),
        (429, "slow down".to_string())
    );
}

#[test]
fn sealed_is_503_vault_is_sealed_and_nothing_is_minted() {
    let (s, t) = setup();
    s.inject_fault(fault("auth/token/create-orphan", FaultKind::Sealed));
    let Outcome::Complete(r) = mint_raw(&s, &t) else {
        panic!("complete response expected")
    };
    assert_eq!((r.status, r.error()), (503, "Vault is sealed".to_string()));
    assert_eq!(minted(&s), 0);
}

#[test]
fn delay_then_serve_normally() {
    let (s, t) = setup();
    s.inject_fault(Fault::new(
        None,
        "auth/token/lookup-self",
        FaultKind::Delay(Duration::from_millis(300)),
        1,
    ));
    let start = Instant::now();
    assert_eq!(get(&s.url(), "auth/token/lookup-self", &t).status, 200);
    assert!(start.elapsed() >= Duration::from_millis(300));
}

#[test]
fn long_delay_parks_a_request_and_drop_still_stops_the_server() {
    let (s, t) = setup();
    s.inject_fault(Fault::new(
        None,
        "auth/token/lookup-self",
        FaultKind::Delay(Duration::from_secs(60)),
        1,
    ));
    let url = s.url();
    let _parked = std::thread::spawn(move || {
        exchange(&url, "GET", "/v1/auth/token/lookup-self", Some(&t), None)
    });
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    drop(s);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "drop must not wait for parked requests"
    );
}

#[test]
fn drop_connection_sends_nothing_and_mints_nothing() {
    let (s, t) = setup();
    s.inject_fault(fault("auth/token/create-orphan", FaultKind::DropConnection));
    match mint_raw(&s, &t) {
        Outcome::Cut(raw) => assert!(raw.is_empty(), "no bytes expected, got {}", raw.len()),
        Outcome::Complete(r) => panic!("expected a dropped connection, got {}", r.status),
    }
    assert_eq!(minted(&s), 0);
    assert_eq!(s.requests().last().unwrap().2, 0);
    // The next request is served.
    assert!(matches!(mint_raw(&s, &t), Outcome::Complete(r) if r.status == 200));
}

#[test]
fn drop_mid_body_sends_headers_and_part_then_aborts_after_the_mint_happened() {
    let (s, t) = setup();
    s.inject_fault(fault("auth/token/create-orphan", FaultKind::DropMidBody));
    assert_cut_mid_body(mint_raw(&s, &t));
    assert_eq!(minted(&s), 1, "the server minted; only the answer was lost");
}

#[test]
fn malformed_truncated_empty_and_wrong_types_are_200s_with_unusable_bodies() {
    let (s, t) = setup();
    let path = "auth/token/lookup-self";
    let kinds = [
        FaultKind::Malformed,
        FaultKind::Truncated,
        FaultKind::EmptyBody,
        FaultKind::WrongTypes,
    ];
    for kind in kinds.iter().cloned() {
        s.inject_fault(Fault::new(Some(Method::GET), path, kind.clone(), 1));
        let r = get(&s.url(), path, &t);
        assert_eq!(r.status, 200, "{kind:?}");
        let parsed = serde_json::from_slice::<serde_json::Value>(&r.body);
        match kind {
            FaultKind::WrongTypes => {
                let v = parsed.unwrap();
                assert!(v["data"]["ttl"].is_string() && v["data"]["policies"].is_string());
                assert!(v["data"]["display_name"].is_number());
            }
            FaultKind::EmptyBody => assert!(r.body.is_empty()),
            _ => assert!(parsed.is_err(), "{kind:?} must not parse"),
        }
    }
}

#[test]
fn truncated_create_still_mints() {
    let (s, t) = setup();
    s.inject_fault(fault("auth/token/create-orphan", FaultKind::Truncated));
    let Outcome::Complete(r) = mint_raw(&s, &t) else {
        panic!()
    };
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert_eq!(minted(&s), 1);
}

#[test]
fn huge_body_is_valid_json_of_the_given_size() {
    let (s, t) = setup();
    s.inject_fault(Fault::new(
        None,
        "auth/token/lookup-self",
        FaultKind::Huge(5_000_000),
        1,
    ));
    let r = get(&s.url(), "auth/token/lookup-self", &t);
    assert_eq!(r.body.len(), 5_000_000);
    assert!(r.json()["data"]["pad"].is_string());
}

#[test]
fn prefix_fault_matches_any_path_under_it() {
    let (s, t) = setup();
    s.inject_fault(Fault::new(None, "auth/token/*", FaultKind::Sealed, 2));
    assert_eq!(get(&s.url(), "auth/token/lookup-self", &t).status, 503);
    assert_eq!(
        post(&s.url(), "auth/token/renew-self", &t, json!({})).status,
        503
    );
    assert_eq!(get(&s.url(), "auth/token/lookup-self", &t).status, 200);
}
