//! Secret hygiene in one place: every command, outcome and failure mode, at the most verbose
//! tracing level with RUST_BACKTRACE=1 (and one real panic), gathered into one corpus —
//! stdout, stderr, log files, state files — and checked against every token value any of the
//! doubles ever issued, plus token-shaped values that only ever sat in a file or a config.
//!
//! (Every run of every suite is also checked on its own by the harness, `World::finish`.)

mod common;

use common::*;
use reqwest::Method;
use std::fs;
use std::process::Stdio;

#[derive(Default)]
struct Corpus {
    /// (where, text)
    texts: Vec<(String, String)>,
    secrets: Vec<String>,
    runs: usize,
}

impl Corpus {
    fn add_run(&mut self, label: &str, run: &Run) {
        self.runs += 1;
        self.texts
            .push((format!("{label}: stdout"), run.stdout.clone()));
        self.texts
            .push((format!("{label}: stderr"), run.stderr.clone()));
    }

    /// Everything a world's runs left on disk, and every token its double issued.
    fn add_world(&mut self, label: &str, w: &World) {
        self.texts.push((
            format!("{label}: log file"),
            fs::read_to_string(w.log_file()).unwrap_or_default(),
        ));
        if let Ok(entries) = fs::read_dir(w.state_dir()) {
            for e in entries.filter_map(Result::ok) {
                let bytes = fs::read(e.path()).unwrap_or_default();
                self.texts.push((
                    format!("{label}: state file {}", e.file_name().to_string_lossy()),
                    String::from_utf8_lossy(&bytes).into_owned(),
                ));
            }
        }
        self.secrets.extend(w.server.issued_tokens());
    }
}

/// The demo world, but with an unguessable root token: the demo's is the word `root`, which a
/// backtrace or a path under /root would "leak".
fn world(kind: Kind) -> World {
    // No `hvs.`/`s.` prefix: OpenBao refuses a dev root token id shaped like its own tokens.
    let root = format!("rootTOKEN{:016x}", fastrand::u64(..));
    World::with_server(Server::start_with_root(kind, &root))
}

/// Runs with the most verbose tracing and backtraces on.
fn run(c: &mut Corpus, label: &str, w: &World, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut all = args.to_vec();
    all.push("-vv");
    let mut env = env.to_vec();
    env.push(("RUST_BACKTRACE", "1"));
    env.push(("RUST_LOG", "trace"));
    let r = w.run_env(&all, &env);
    c.add_run(label, &r);
    r
}

fn fault(w: &World, method: Method, path: &str, kind: FaultKind, skip: u32) {
    w.server
        .inject_fault_after(Fault::new(Some(method), path, kind, 1), skip);
}

scenarios! {
    fn no_token_value_reaches_any_output(kind kind) {
        let mut c = Corpus::default();

        // Renew, status (text and JSON), sweep.
        let w = world(kind);
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        w.seed_ours();
        assert_eq!(run(&mut c, "renew", &w, &["renew"], &[]).code, 0);
        // A retried request: the debug level reports each retry.
        fault(
            &w,
            Method::POST,
            "auth/token/renew-self",
            FaultKind::status(502),
            0,
        );
        assert_eq!(run(&mut c, "retried", &w, &["renew"], &[]).code, 0);
        run(&mut c, "status", &w, &["status"], &[]);
        run(
            &mut c,
            "status json",
            &w,
            &["status", "--json", "--check-path", "sys/mounts"],
            &[],
        );
        run(&mut c, "sweep", &w, &["sweep"], &[]);
        c.add_world("renew world", &w);

        // Heal, drift, and the failure modes of a heal.
        let w = world(kind);
        w.seed_ours();
        let login = w.seed_oidc_login();
        w.write_token(&login.token);
        assert_eq!(run(&mut c, "heal", &w, &["renew"], &[]).code, 0);
        let weak = w.seed_kubernetes_login();
        w.write_token(&weak.token);
        assert_eq!(run(&mut c, "drift", &w, &["renew"], &[]).code, 3);
        let login = w.seed_oidc_login();
        for (label, method, path, kind, skip) in [
            (
                "mint answer lost",
                Method::POST,
                "auth/token/create-orphan",
                FaultKind::Truncated,
                0,
            ),
            (
                "mint answer dropped",
                Method::POST,
                "auth/token/create-orphan",
                FaultKind::DropMidBody,
                0,
            ),
            (
                "verify fails",
                Method::GET,
                "auth/token/lookup-self",
                FaultKind::status(500),
                1,
            ),
            (
                "verify wrong types",
                Method::GET,
                "auth/token/lookup-self",
                FaultKind::WrongTypes,
                1,
            ),
            (
                "sweep revoke fails",
                Method::POST,
                "auth/token/revoke-accessor",
                FaultKind::status(500),
                0,
            ),
        ] {
            w.write_token(&login.token);
            fault(&w, method, path, kind, skip);
            run(&mut c, label, &w, &["renew", "--retries", "0"], &[]);
            w.server.clear_faults();
        }
        // A server that echoes the token it was sent, in JSON and in a proxy page.
        let current = w.file_content().unwrap();
        for body in [
            serde_json::json!({ "errors": [format!("bad token {current}")] }).to_string(),
            format!("<html>{current}</html>"),
        ] {
            fault(
                &w,
                Method::GET,
                "auth/token/lookup-self",
                FaultKind::Status {
                    code: 400,
                    body: Some(body),
                },
                0,
            );
            run(&mut c, "echo", &w, &["renew", "--retries", "0"], &[]);
        }
        c.add_world("heal world", &w);

        // Mint from VAULT_TOKEN and BAO_TOKEN, and a mint denied.
        let w = world(kind);
        assert_eq!(
            run(
                &mut c,
                "mint",
                &w,
                &["mint"],
                &[("VAULT_TOKEN", &w.seed_oidc_login().token)]
            )
            .code,
            0
        );
        let login = w.seed_oidc_login();
        run(
            &mut c,
            "mint bao",
            &w,
            &["mint"],
            &[("BAO_TOKEN", &login.token)],
        );
        let weak = w.seed_kubernetes_login();
        run(
            &mut c,
            "mint denied",
            &w,
            &["mint"],
            &[("VAULT_TOKEN", &weak.token)],
        );
        // A revoked token in the file.
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        fault(
            &w,
            Method::GET,
            "auth/token/lookup-self",
            FaultKind::status(403),
            0,
        );
        run(&mut c, "revoked", &w, &["renew"], &[]);
        c.add_world("mint world", &w);

        // Values that were never issued by a server but sat where a token sits.
        let w = world(kind);
        let in_file = "hvs.CAFEBABEonlyinthefile0123456789";
        fs::write(w.token_file(), format!("{in_file}\x01")).unwrap();
        run(&mut c, "broken file", &w, &["renew"], &[]);
        fs::write(w.token_file(), format!("\u{feff}{in_file}")).unwrap();
        run(&mut c, "bom file", &w, &["renew"], &[]);
        let in_config = "hvs.DEADBEEFonlyintheconfig98765432";
        w.write_config(&format!("sweep_concurrency = \"{in_config}\"\n"));
        assert_eq!(run(&mut c, "config error", &w, &["renew"], &[]).code, 2);
        w.write_config("");
        let junk_env = "hvs.FEEDFACEonlyintheenvironment4242";
        run(
            &mut c,
            "bad env token",
            &w,
            &["mint"],
            &[("VAULT_TOKEN", &format!("{junk_env}\u{7}"))],
        );
        c.secrets
            .extend([in_file, in_config, junk_env].map(String::from));
        c.add_world("input world", &w);

        // Status printing into a closed pipe (`status | head -1`), backtraces on.
        let w = world(kind);
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        drop(reader);
        let out = w
            .command(&["status", "-vv"])
            .env("RUST_BACKTRACE", "1")
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let panicked = w.finish(out);
        assert!(
            !panicked.stderr.contains("panicked"),
            "a closed stdout is no reason to panic: {panicked:?}"
        );
        c.add_run("closed pipe", &panicked);
        c.add_world("closed pipe world", &w);

        let bytes: usize = c.texts.iter().map(|(_, t)| t.len()).sum();
        println!(
            "hygiene: {} runs, {} outputs, {bytes} bytes checked against {} token values",
            c.runs,
            c.texts.len(),
            c.secrets.len()
        );
        assert!(
            c.texts
                .iter()
                .any(|(_, t)| t.lines().any(|l| l.starts_with("debug: ") || l.starts_with("trace: "))),
            "the verbose level was on"
        );
        let mut leaks = Vec::new();
        for secret in &c.secrets {
            for (place, text) in &c.texts {
                if text.contains(secret.as_str()) {
                    leaks.push(place.clone());
                }
            }
        }
        assert!(leaks.is_empty(), "token values leaked into: {leaks:?}");
    }
}
