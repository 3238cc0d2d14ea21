//! The fault proxy in front of a REAL OpenBao: every fault kind as a client sees it, what reaches
//! the server, the request record, and a delayed mint that outlives its client.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use vault_devserver::openbao::{OpenBao, ROOT_TOKEN};
use vault_devserver::{Fault, FaultKind, FaultProxy, Method, TokenSpec};

const MINT: &str = r#"{"policies":["vault-admin"],"period":"768h","display_name":"devvm-wizard"}"#;
const MINTED: &str = "token-devvm-wizard";
const CREATE: &str = "auth/token/create-orphan";
const SELF: &str = "auth/token/lookup-self";

struct Setup {
    bao: OpenBao,
    proxy: FaultProxy,
    /// An OIDC-style login: admin through identity policies, as a heal's authority.
    admin: String,
}

fn setup() -> Setup {
    let bao = OpenBao::start().expect("start OpenBao");
    bao.seed_demo();
    let admin = bao
        .add_token(TokenSpec::login("oidc-alice", &[], &["vault-admin"]))
        .token;
    let proxy = FaultProxy::start(&bao.url()).expect("start the proxy");
    Setup { bao, proxy, admin }
}

impl Setup {
    fn mint(&self) -> Outcome {
        exchange(
            &self.proxy.url(),
            "POST",
            &format!("/v1/{CREATE}"),
            Some(&self.admin),
            Some(MINT),
        )
    }

    fn minted(&self) -> usize {
        self.bao.alive_by_display_name(MINTED).len()
    }

    fn fault(&self, method: Method, path: &str, kind: FaultKind) {
        self.proxy
            .inject_fault(Fault::new(Some(method), path, kind, 1));
    }
}

fn complete(o: Outcome) -> Resp {
    match o {
        Outcome::Complete(r) => r,
        Outcome::Cut(raw) => panic!("connection cut after {} bytes", raw.len()),
    }
}

/// One request on an open connection, read by its Content-Length; the connection stays usable.
fn keep_alive_get(conn: &mut TcpStream, path: &str, token: &str) -> u16 {
    write!(
        conn,
        "GET /v1/{path} HTTP/1.1\r\nHost: proxy\r\nX-Vault-Token: {token}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let resp = Resp {
        status: 0,
        headers: String::from_utf8_lossy(&head).into_owned(),
        body: vec![],
    };
    let mut body = vec![0u8; resp.content_length().expect("a Content-Length")];
    conn.read_exact(&mut body).unwrap();
    resp.headers
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn forwards_verbs_queries_headers_and_bodies_and_records_them() {
    let s = setup();
    let url = s.proxy.url();
    let me = get(&url, SELF, &s.admin);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["data"]["display_name"], "oidc-alice");
    // LIST as a verb, and GET with the query.
    let listed = list(&url, "auth/token/accessors", ROOT_TOKEN);
    assert_eq!(listed.status, 200, "{:?}", listed);
    let queried = get(&url, "auth/token/accessors?list=true", ROOT_TOKEN);
    assert_eq!(
        queried.json()["data"]["keys"],
        listed.json()["data"]["keys"]
    );
    let minted = complete(s.mint());
    assert_eq!(minted.status, 200);
    let token = minted.json()["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.bao.lookup(&token).unwrap().display_name, MINTED);
    assert_eq!(s.proxy.issued_tokens(), [token]);
    let bad = post(
        &url,
        "auth/token/lookup",
        ROOT_TOKEN,
        json!({"token": "s.nope"}),
    );
    assert_eq!(bad.status, 403, "the server's own answer, passed through");

    let list_verb = Method::from_bytes(b"LIST").unwrap();
    assert_eq!(
        s.proxy.requests(),
        [
            (Method::GET, SELF.to_string(), 200),
            (list_verb.clone(), "auth/token/accessors".to_string(), 200),
            (Method::GET, "auth/token/accessors".to_string(), 200),
            (Method::POST, CREATE.to_string(), 200),
            (Method::POST, "auth/token/lookup".to_string(), 403),
        ]
    );
    assert_eq!(s.proxy.request_count(list_verb, "auth/token/accessors/"), 1);
    s.proxy.reset_requests();
    assert!(s.proxy.requests().is_empty());

    // The client's connection is kept alive across requests.
    let mut conn = TcpStream::connect(s.proxy.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(keep_alive_get(&mut conn, SELF, &s.admin), 200);
    assert_eq!(keep_alive_get(&mut conn, SELF, &s.admin), 200);
    assert_eq!(s.proxy.request_count(Method::GET, SELF), 2);
}

#[test]
fn status_and_sealed_answer_instead_of_the_server() {
    let s = setup();
    s.fault(Method::POST, CREATE, FaultKind::Sealed);
    let r = complete(s.mint());
    assert_eq!((r.status, r.error()), (503, "Vault is sealed".to_string()));
    s.fault(
        Method::POST,
        CREATE,
        FaultKind::Status {
            code: 429,
            body: Some("slow down".into()),
        },
    );
    let r = complete(s.mint());
    assert_eq!((r.status, &r.body[..]), (429, &b"slow down"[..]));
    s.fault(Method::POST, CREATE, FaultKind::status(500));
    let r = complete(s.mint());
    assert_eq!((r.status, r.error()), (500, "internal error".to_string()));
    assert_eq!(s.minted(), 0, "nothing reached the server");
    let statuses: Vec<u16> = s.proxy.requests().into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, [503, 429, 500]);
}

#[test]
fn drop_connection_sends_nothing_and_nothing_reaches_the_server() {
    let s = setup();
    s.fault(Method::POST, CREATE, FaultKind::DropConnection);
    match s.mint() {
        Outcome::Cut(raw) => assert!(raw.is_empty(), "{} bytes", raw.len()),
        Outcome::Complete(r) => panic!("expected a dropped connection, got {}", r.status),
    }
    assert_eq!(s.minted(), 0);
    assert_eq!(s.proxy.requests(), [(Method::POST, CREATE.to_string(), 0)]);
    assert_eq!(complete(s.mint()).status, 200, "the next request is served");
    assert_eq!(s.minted(), 1);
}

#[test]
fn drop_mid_body_and_truncated_damage_the_answer_of_a_mint_that_happened() {
    let s = setup();
    s.fault(Method::POST, CREATE, FaultKind::DropMidBody);
    assert_cut_mid_body(s.mint());
    assert_eq!(s.minted(), 1, "the server minted; only the answer was lost");
    s.fault(Method::POST, CREATE, FaultKind::Truncated);
    let r = complete(s.mint());
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<serde_json::Value>(&r.body).is_err());
    assert_eq!(s.minted(), 2);
    assert_eq!(
        s.proxy.issued_tokens().len(),
        2,
        "the proxy saw both tokens the client never got whole"
    );
    let statuses: Vec<u16> = s.proxy.requests().into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, [0, 200]);
}

#[test]
fn malformed_empty_wrong_types_and_huge_are_200s_with_unusable_bodies() {
    let s = setup();
    let url = s.proxy.url();
    for kind in [
        FaultKind::Malformed,
        FaultKind::EmptyBody,
        FaultKind::WrongTypes,
        FaultKind::Huge(3_000_000),
    ] {
        s.fault(Method::GET, SELF, kind.clone());
        let r = get(&url, SELF, &s.admin);
        assert_eq!(r.status, 200, "{kind:?}");
        let parsed = serde_json::from_slice::<serde_json::Value>(&r.body);
        match kind {
            FaultKind::Malformed => assert!(parsed.is_err()),
            FaultKind::EmptyBody => assert!(r.body.is_empty()),
            FaultKind::WrongTypes => assert!(parsed.unwrap()["data"]["ttl"].is_string()),
            _ => assert_eq!(
                (r.body.len(), r.json()["data"]["pad"].is_string()),
                (3_000_000, true)
            ),
        }
    }
    assert_eq!(
        get(&url, SELF, &s.admin).json()["data"]["display_name"],
        "oidc-alice"
    );
}

#[test]
fn delay_holds_the_request_then_forwards_it() {
    let s = setup();
    let d = Duration::from_millis(400);
    s.fault(Method::POST, CREATE, FaultKind::Delay(d));
    let start = Instant::now();
    assert_eq!(complete(s.mint()).status, 200);
    assert!(start.elapsed() >= d);
    assert_eq!(s.minted(), 1);
}

/// The double drops a delayed request when its client hangs up; a real server behind a slow
/// network does not: the mint happens, and nobody hears of it.
#[test]
fn a_delayed_mint_whose_client_gave_up_still_happens() {
    let s = setup();
    s.fault(
        Method::POST,
        CREATE,
        FaultKind::Delay(Duration::from_secs(2)),
    );
    let mut conn = TcpStream::connect(s.proxy.addr()).unwrap();
    write!(
        conn,
        "POST /v1/{CREATE} HTTP/1.1\r\nHost: proxy\r\nX-Vault-Token: {}\r\nContent-Length: {}\r\n\r\n{MINT}",
        s.admin,
        MINT.len()
    )
    .unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 1];
    assert!(conn.read(&mut buf).is_err(), "the client times out first");
    drop(conn);
    let start = Instant::now();
    while s.minted() == 0 || s.proxy.in_flight() > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the delayed mint never reached the server"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let minted = s.bao.alive_by_display_name(MINTED);
    assert_eq!(minted.len(), 1);
    assert_eq!(minted[0].period, 768 * 3600);
    assert_eq!(s.proxy.issued_tokens().len(), 1);
    assert_eq!(
        s.proxy.requests(),
        [(Method::POST, CREATE.to_string(), 200)]
    );
}

#[test]
fn times_prefixes_and_skips_count_like_the_double() {
    let s = setup();
    let url = s.proxy.url();
    s.proxy.inject_fault_after(
        Fault::new(Some(Method::GET), SELF, FaultKind::status(500), 2),
        1,
    );
    for _ in 0..4 {
        get(&url, SELF, &s.admin);
    }
    s.proxy
        .inject_fault(Fault::new(None, "auth/token/*", FaultKind::Sealed, 2));
    get(&url, SELF, &s.admin);
    post(&url, "auth/token/renew-self", &s.admin, json!({}));
    get(&url, SELF, &s.admin);
    s.proxy
        .inject_fault(Fault::new(None, SELF, FaultKind::Sealed, 5));
    s.proxy.clear_faults();
    get(&url, SELF, &s.admin);
    let statuses: Vec<u16> = s.proxy.requests().into_iter().map(|r| r.2).collect();
    assert_eq!(statuses, [200, 500, 500, 200, 503, 503, 200, 200]);
}
