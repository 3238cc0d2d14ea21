//! A raw HTTP/1.1 client for the contract tests: it sends exactly what a test says and reports
//! exactly what came back (including half-sent bodies and dropped connections).
#![allow(dead_code)]

pub mod differential;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The single error string of a Vault error body.
    pub fn error(&self) -> String {
        let v = self.json();
        assert_eq!(
            v["errors"].as_array().map(Vec::len),
            Some(1),
            "one error expected: {v}"
        );
        v["errors"][0].as_str().unwrap().to_string()
    }

    pub fn content_length(&self) -> Option<usize> {
        self.headers.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
    }
}

/// What a raw exchange produced: a parsed response, or the bytes received before the connection ended.
pub enum Outcome {
    Complete(Resp),
    Cut(Vec<u8>),
}

pub fn exchange(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Outcome {
    let host = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(host).expect("connect to the double");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let body = body.unwrap_or("");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("X-Vault-Token: {t}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Outcome::Cut(raw);
    };
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = headers.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = raw[split + 4..].to_vec();
    let resp = Resp {
        status,
        headers,
        body,
    };
    match resp.content_length() {
        Some(n) if n != resp.body.len() => Outcome::Cut(raw),
        _ => Outcome::Complete(resp),
    }
}

/// A 200's headers and part of a body that does not parse, then the connection ended.
pub fn assert_cut_mid_body(o: Outcome) {
    match o {
        Outcome::Cut(raw) => {
            let text = String::from_utf8_lossy(&raw);
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
            assert!(!body.is_empty() && serde_json::from_str::<Value>(body).is_err());
        }
        Outcome::Complete(_) => panic!("expected a cut body"),
    }
}

pub fn req(base: &str, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Resp {
    match exchange(base, method, path, token, body) {
        Outcome::Complete(r) => r,
        Outcome::Cut(raw) => panic!(
            "connection cut after {} bytes on {method} {path}",
            raw.len()
        ),
    }
}

pub fn get(base: &str, path: &str, token: &str) -> Resp {
    req(base, "GET", &format!("/v1/{path}"), Some(token), None)
}

pub fn post(base: &str, path: &str, token: &str, body: Value) -> Resp {
    req(
        base,
        "POST",
        &format!("/v1/{path}"),
        Some(token),
        Some(&body.to_string()),
    )
}

pub fn list(base: &str, path: &str, token: &str) -> Resp {
    req(base, "LIST", &format!("/v1/{path}"), Some(token), None)
}

/// The `vault-admin` policy as the demo defines it: sudo on the whole token store.
pub const ADMIN: &[(&str, &[&str])] = &[
    (
        "auth/token/*",
        &["create", "read", "update", "delete", "list", "sudo"],
    ),
    ("auth/token/accessors", &["list", "sudo"]),
];
