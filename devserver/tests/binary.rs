//! The `vault-devserver` binary: readiness line, demo seed, `--tokens`, and the `login` helper that
//! writes the token file the way the Vault CLI does (contract §9).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use common::*;
use serde_json::json;

struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vault-devserver"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("readiness line: {line:?}"))
        .to_string();
    Running { child, url }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vault-devserver-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn login(
    url: &str,
    mount: &str,
    user: &str,
    password: &str,
    file: &std::path::Path,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vault-devserver"))
        .args([
            "login",
            "--addr",
            url,
            "--mount",
            mount,
            "--username",
            user,
            "--password",
            password,
            "--token-file",
        ])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn login_writes_the_token_file_like_the_vault_cli_and_never_prints_it() {
    let s = start(&["--seed", "demo", "--test-controls"]);
    let dir = scratch("login");
    let file = dir.join(".vault-token");
    std::fs::write(&file, "s.previous-token\n").unwrap();
    let out = login(&s.url, "oidc", "alice", "alice", &file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let token = std::fs::read_to_string(&file).unwrap();
    assert!(
        token.starts_with("s.") && !token.ends_with('\n'),
        "no trailing newline"
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !dir.join(".vault-token.tmp").exists(),
        "the temp file was renamed over"
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains(&token), "the token must never be printed");

    let d = get(&s.url, "auth/token/lookup-self", &token).json()["data"].clone();
    assert_eq!(d["display_name"], "oidc-alice");
    assert_eq!(d["identity_policies"], json!(["sops-admin", "vault-admin"]));

    let bad = login(&s.url, "oidc", "alice", "wrong", &file);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        token,
        "a failed login leaves the file alone"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn root_token_flag_and_bench_population() {
    let s = start(&[
        "--seed",
        "demo",
        "--root-token",
        "dev-root",
        "--tokens",
        "500",
        "--seed-display-name",
        "devvm-wizard",
        "--test-controls",
    ]);
    let keys = list(&s.url, "auth/token/accessors", "dev-root").json()["data"]["keys"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(keys, 1 + 500 + 3);
    let state = req(&s.url, "GET", "/_test/state", None, None).json();
    let stale = state["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["display_name"] == "token-devvm-wizard")
        .count();
    assert_eq!(stale, 3);
}

#[test]
fn controls_are_off_without_the_flag_and_bad_flags_exit_2() {
    let s = start(&[]);
    assert_eq!(req(&s.url, "GET", "/_test/state", None, None).status, 404);
    let out = Command::new(env!("CARGO_BIN_EXE_vault-devserver"))
        .arg("--seed")
        .arg("nope")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("use demo or empty"));
}
