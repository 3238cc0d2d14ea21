//! `vault-devserver login`: a userpass login that stores the token the way the Vault CLI's default
//! token helper does (contract §9): `<file>.tmp` written 0600 with no newline, renamed over the file.
//! Demos and the systemd test use it to clobber the token file "as `vault login` does".

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

struct Args {
    addr: String,
    mount: String,
    username: String,
    password: String,
    token_file: PathBuf,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let (mut addr, mut mount, mut username, mut password, mut file) =
        (None, None, None, None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it
            .next()
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--addr" => addr = Some(v),
            "--mount" => mount = Some(v),
            "--username" => username = Some(v),
            "--password" => password = Some(v),
            "--token-file" => file = Some(PathBuf::from(v)),
            other => return Err(format!("unknown login argument {other:?}")),
        }
    }
    let need = |o: Option<String>, n: &str| o.ok_or_else(|| format!("login needs {n}"));
    Ok(Args {
        addr: need(addr, "--addr URL")?,
        mount: need(mount, "--mount MOUNT")?,
        username: need(username, "--username USER")?,
        password: need(password, "--password PASS")?,
        token_file: file.ok_or("login needs --token-file PATH")?,
    })
}

/// One HTTP/1.1 POST over plain TCP (the double speaks plain HTTP); returns status and body.
fn post(addr: &str, path: &str, body: &str) -> Result<(u16, Vec<u8>), String> {
    let host = addr
        .strip_prefix("http://")
        .ok_or_else(|| format!("--addr {addr:?} must be an http:// URL of the dev server"))?
        .trim_end_matches('/');
    let mut s = TcpStream::connect(host)
        .map_err(|e| format!("cannot connect to {addr}: {e}; is the dev server running?"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .map_err(|e| format!("sending the login request failed: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("reading the login response failed: {e}"))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the server's response had no header end")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("the server's response had no status")?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(
            "the server answered chunked; this helper only speaks to vault-devserver".into(),
        );
    }
    Ok((status, raw[split + 4..].to_vec()))
}

/// The Vault CLI's token helper write: `<file>.tmp`, 0600, no newline, rename over (contract §9).
fn store_token(file: &Path, token: &str) -> std::io::Result<()> {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(token.as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, file)
}

pub(crate) fn run(args: &[String]) -> ExitCode {
    let a = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vault-devserver login: {e}; see vault-devserver --help");
            return ExitCode::from(2);
        }
    };
    let body = serde_json::json!({ "password": a.password }).to_string();
    let path = format!(
        "/v1/auth/{}/login/{}",
        a.mount.trim_matches('/'),
        a.username
    );
    let result = post(&a.addr, &path, &body).and_then(|(status, body)| {
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| format!("login answered HTTP {status} with a body that is not JSON"))?;
        if status != 200 {
            return Err(format!("login refused (HTTP {status}): {}", v["errors"]));
        }
        let token = v["auth"]["client_token"]
            .as_str()
            .ok_or("login response had no auth.client_token")?
            .to_string();
        store_token(&a.token_file, &token)
            .map_err(|e| format!("cannot write {}: {e}", a.token_file.display()))?;
        Ok(v["auth"]["accessor"].as_str().unwrap_or("").to_string())
    });
    match result {
        Ok(accessor) => {
            eprintln!(
                "logged in as {}/{}; token written to {} (accessor {accessor})",
                a.mount,
                a.username,
                a.token_file.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vault-devserver login: {e}");
            ExitCode::from(1)
        }
    }
}
