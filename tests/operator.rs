//! Operator experience, end to end: `mint --oidc` against the double's OIDC flow with a test
//! playing the browser, the Prometheus textfile, `status` for people and scripts, and `generate`.

mod common;

use common::*;
use reqwest::Method;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A minimal browser: one GET, no redirects followed. Returns (status, Location, body).
fn browser_get(url: &str) -> (u16, Option<String>, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // `localhost` may resolve to ::1 first; connect tries each address in turn.
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: test-browser\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(str::to_owned);
    (status, location, body.to_owned())
}

/// Starts `vault-token-renew <args>`; returns the child, the stderr lines as they come, and a
/// handle that yields all of stderr once the process is done.
fn spawn(
    w: &World,
    args: &[&str],
) -> (
    std::process::Child,
    mpsc::Receiver<String>,
    std::thread::JoinHandle<String>,
) {
    let mut child = w
        .command(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    (child, rx, reader)
}

fn finish(
    w: &World,
    mut child: std::process::Child,
    reader: std::thread::JoinHandle<String>,
) -> Run {
    let status = child.wait().unwrap();
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    let stderr = reader.join().unwrap().into_bytes();
    w.finish(Output {
        status,
        stdout,
        stderr,
    })
}

fn login_tokens(w: &World) -> Vec<TokenView> {
    w.server.created_at("auth/oidc/oidc/callback")
}

scenarios! {
    fn mint_oidc_logs_in_with_a_test_browser_and_never_writes_the_login_token(w) {
        // A weak login in the file: the OIDC mint replaces it with ours, never with the login token.
        let k8s = w.seed_kubernetes_login();
        w.write_token(&k8s.token);

        let (child, lines, reader) = spawn(&w, &["mint", "--oidc", "--oidc-port", "0", "--no-browser"]);
        let (auth_url, _) = login_urls(&lines);
        assert!(auth_url.contains("/authorize?"), "{auth_url}");
        assert!(
            auth_url.contains("redirect_uri=http%3A%2F%2Flocalhost%3A"),
            "{auth_url}"
        );

        // The provider signs alice in and sends the browser to the loopback callback.
        let (status, location, _) = browser_get(&auth_url);
        assert_eq!(status, 302);
        let callback = location.expect("a redirect to the callback");
        assert!(callback.starts_with("http://localhost:"), "{callback}");
        assert!(callback.contains("/oidc/callback?code="), "{callback}");
        let (status, _, page) = browser_get(&callback);
        assert_eq!(status, 200);
        assert!(page.contains("Login complete"), "{page}");

        let run = finish(&w, child, reader);
        assert_eq!(run.code, 0, "{run:?}");
        let view = w.file_token_view();
        assert_eq!(view.display_name, OUR_NAME);
        assert_eq!(view.period, PERIOD);
        assert_eq!(w.file_mode(), 0o600);

        let logins = login_tokens(&w);
        assert_eq!(logins.len(), 1, "exactly one OIDC login happened");
        assert_eq!(logins[0].display_name, "oidc-alice@example.com");
        assert!(
            logins[0].revoked,
            "the login token is revoked once our token is in place"
        );
        assert_eq!(
            view.created_by.as_deref(),
            Some(logins[0].accessor.as_str()),
            "minted with the login's authority"
        );
        assert!(
            w.server.token_alive(&k8s.token),
            "the replaced weak login is left alone"
        );
        assert_eq!(
            w.server
                .request_count(Method::POST, "auth/oidc/oidc/auth_url"),
            1
        );
        assert_eq!(
            w.server
                .request_count(Method::GET, "auth/oidc/oidc/callback"),
            1
        );
        let line = w.last_log_line();
        assert!(
            line.contains(" OK minted periodic token")
                && line.contains("with the authority of an OIDC login on auth/oidc")
                && line.contains("the login token was revoked"),
            "{line}"
        );
        assert_eq!(w.log_lines().len(), 1, "one run, one line");
    }

}

/// Waits for the login URL on the child's stderr; returns it and the loopback callback URL.
fn login_urls(lines: &mpsc::Receiver<String>) -> (String, String) {
    let auth_url = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the binary prints the login URL");
        if let Some(url) = line.trim().strip_prefix("http://") {
            break format!("http://{url}");
        }
    };
    let port = auth_url
        .split("redirect_uri=http%3A%2F%2Flocalhost%3A")
        .nth(1)
        .and_then(|rest| rest.split('%').next())
        .expect("a loopback redirect_uri")
        .to_owned();
    (auth_url, format!("http://localhost:{port}/oidc/callback"))
}

#[test]
fn mint_oidc_reports_a_provider_refusal_and_a_form_post() {
    for (request, expected) in [
        (
            "GET /oidc/callback?error=access_denied&error_description=user+said+no HTTP/1.1",
            "the identity provider refused the login: access_denied: user said no",
        ),
        ("POST /oidc/callback HTTP/1.1", "response_mode=form_post"),
    ] {
        let w = World::new();
        let (child, lines, reader) =
            spawn(&w, &["mint", "--oidc", "--oidc-port", "0", "--no-browser"]);
        let (_, callback) = login_urls(&lines);
        // A stray request first (a browser's favicon): the login keeps waiting.
        let base = callback.trim_end_matches("/oidc/callback");
        assert_eq!(browser_get(&format!("{base}/favicon.ico")).0, 404);
        let authority = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(authority).unwrap();
        write!(
            stream,
            "{request}\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut page = String::new();
        stream.read_to_string(&mut page).unwrap();
        assert!(page.contains("Login failed"), "{page}");

        let run = finish(&w, child, reader);
        assert_eq!(run.code, 4, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.contains("FAIL: OIDC login failed") && line.contains(expected),
            "{line}"
        );
        assert!(w.file_content().is_none(), "nothing was written");
        assert_eq!(
            w.server
                .request_count(Method::GET, "auth/oidc/oidc/callback"),
            0,
            "nothing reached the server's callback"
        );
    }
}

scenarios! {
    fn mint_oidc_gives_up_after_the_wait_and_changes_nothing(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let run = w.run(&[
            "mint",
            "--oidc",
            "--oidc-port",
            "0",
            "--no-browser",
            "--oidc-timeout",
            "1s",
        ]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            run.stderr.contains("no OIDC callback within 1s"),
            "{}",
            run.stderr
        );
        assert!(w.last_log_line().contains(" FAIL: OIDC login failed"));
        assert_eq!(w.file_content().unwrap(), ours.token, "file untouched");
        assert!(login_tokens(&w).is_empty());
    }

    fn mint_oidc_with_an_unknown_role_says_what_the_server_said(w) {
        let run = w.run(&[
            "mint",
            "--oidc",
            "--oidc-role",
            "nope",
            "--oidc-port",
            "0",
            "--no-browser",
        ]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            run.stderr
                .contains("auth/oidc/oidc/auth_url: HTTP 400: role \"nope\" could not be found"),
            "{}",
            run.stderr
        );
        assert!(w.file_content().is_none(), "no file was created");
    }

    fn oidc_flags_need_oidc(w) {
        let run = w.run(&["mint", "--oidc-role", "admin"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("--oidc"), "{}", run.stderr);
    }

}

fn metrics_world() -> (World, std::path::PathBuf) {
    let w = World::new();
    let path = w.home.path().join("textfile/vault-token-renew.prom");
    w.write_config(&format!("metrics_file = \"{}\"\n", path.display()));
    (w, path)
}

fn scrape(path: &std::path::Path) -> (String, prometheus_parse::Scrape) {
    let text = std::fs::read_to_string(path).expect("metrics file written");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("valid exposition format");
    let samples = text.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(scrape.samples.len(), samples, "every line parsed:\n{text}");
    (text, scrape)
}

fn metric(s: &prometheus_parse::Scrape, name: &str, result: Option<&str>) -> f64 {
    let sample = s
        .samples
        .iter()
        .find(|x| {
            x.metric == format!("vault_token_renew_{name}")
                && result.is_none_or(|r| x.labels.get("result") == Some(r))
        })
        .unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(sample.labels.get("user"), Some("alice"));
    match sample.value {
        prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Counter(v) => v,
        ref v => panic!("{name}: {v:?}"),
    }
}

#[test]
fn metrics_follow_a_renewal_a_drift_and_a_heal() {
    let (w, path) = metrics_world();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as f64
    };

    let before = now();
    assert_eq!(w.run(&["renew"]).code, 0);
    let (text, s) = scrape(&path);
    assert!(text.contains("# TYPE vault_token_renew_heals_total counter"));
    let last_success = metric(&s, "last_success_timestamp_seconds", None);
    assert!(
        last_success >= before.floor() && last_success <= now(),
        "{text}"
    );
    let expire = metric(&s, "token_expire_timestamp_seconds", None);
    assert!(
        (expire - (last_success + PERIOD as f64)).abs() <= 2.0,
        "expiry = now + period after a renewal: {text}"
    );
    assert_eq!(metric(&s, "token_period_seconds", None), PERIOD as f64);
    assert_eq!(metric(&s, "last_run_result", Some("ok")), 1.0);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "node_exporter must be able to read it");

    let k8s = w.seed_kubernetes_login();
    w.write_token(&k8s.token);
    assert_eq!(w.run(&["renew"]).code, 3);
    let (_, s) = scrape(&path);
    assert_eq!(metric(&s, "last_run_result", Some("drift")), 1.0);
    assert_eq!(metric(&s, "last_run_result", Some("ok")), 0.0);
    assert_eq!(metric(&s, "failures_total", None), 1.0);
    assert_eq!(
        metric(&s, "last_success_timestamp_seconds", None),
        last_success,
        "a drift does not move the last success"
    );
    assert_eq!(
        metric(&s, "token_period_seconds", None),
        0.0,
        "the file's token now is the weak login"
    );

    let admin = w.seed_oidc_login();
    w.write_token(&admin.token);
    assert_eq!(w.run(&["renew"]).code, 0);
    let (_, s) = scrape(&path);
    assert_eq!(metric(&s, "last_run_result", Some("healed")), 1.0);
    assert_eq!(metric(&s, "heals_total", None), 1.0);
    assert_eq!(metric(&s, "failures_total", None), 1.0);
    assert_eq!(metric(&s, "token_period_seconds", None), PERIOD as f64);
}

#[test]
fn metrics_are_written_when_the_server_is_down_too() {
    let (w, path) = metrics_world();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    assert_eq!(w.run(&["renew"]).code, 0);
    let (_, s) = scrape(&path);
    let expire = metric(&s, "token_expire_timestamp_seconds", None);
    w.server.inject_fault(Fault::new(
        None,
        "auth/token/lookup-self",
        FaultKind::Sealed,
        100,
    ));
    assert_eq!(w.run(&["renew"]).code, 4);
    let (_, s) = scrape(&path);
    assert_eq!(metric(&s, "last_run_result", Some("fail")), 1.0);
    assert_eq!(metric(&s, "failures_total", None), 1.0);
    assert_eq!(
        metric(&s, "token_expire_timestamp_seconds", None),
        expire,
        "the last known expiry stays"
    );
}

scenarios! {
    fn status_text_is_plain_in_a_pipe_and_json_keeps_its_fields(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        assert_eq!(w.run(&["renew"]).code, 0);
        let run = w.run(&["status"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(!run.stdout.contains('\x1b'), "no colour in a pipe");
        assert!(run.stdout.contains("time left  "), "{}", run.stdout);
        assert!(run.stdout.contains("32d 0h"), "{}", run.stdout);
        assert!(run.stdout.contains("next renewal"), "{}", run.stdout);
        assert!(run.stdout.contains(" OK renewed"), "{}", run.stdout);
        println!("{}", run.stdout);

        let run = w.run(&["status", "--json"]);
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "healthy",
            "state",
            "advice",
            "token_file",
            "vault_addr",
            "expected_display_name",
            "display_name",
            "policies",
            "identity_policies",
            "ttl_secs",
            "expires_at",
            "period_secs",
            "explicit_max_ttl_secs",
            "renewable",
            "orphan",
            "capabilities",
            "error",
            "last_log_lines",
            "timer",
        ] {
            assert!(keys.contains(&key), "--json keeps {key}: {keys:?}");
        }

        let admin = w.seed_oidc_login();
        w.write_token(&admin.token);
        let run = w.run_env(&["status"], &[("NO_COLOR", "1")]);
        assert_eq!(run.code, 3);
        let last = run.stdout.trim_end().lines().last().unwrap();
        assert!(
            last.starts_with("what to do: ") && last.contains("run `vault-token-renew` to heal it"),
            "{last}"
        );
    }

    fn generate_needs_no_configuration(w) {
        // A config file the other commands would reject: generate must not even read it.
        w.write_config("no_such_key = 1\n");
        let dir = w.home.path().join("share");
        let mut cmd = w.command(&["generate", "man", "--out"]);
        cmd.arg(dir.join("man1"));
        let run = w.finish(cmd.output().unwrap());
        assert_eq!(run.code, 0, "{run:?}");
        assert!(dir.join("man1/vault-token-renew.1").exists());
        let run = w.run(&["generate", "completions", "bash"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("vault-token-renew"), "{}", run.stdout);
        let help = w.run(&["--help"]);
        assert!(
            !help.stdout.contains("generate"),
            "hidden from --help: {}",
            help.stdout
        );
        assert!(help.stdout.contains("\n  completions "), "visible: {}", help.stdout);
        assert!(help.stdout.contains("\nGlobal options:\n"), "{}", help.stdout);
        for command in ["renew", "sweep", "status", "config", "doctor", "mint", "install", "uninstall"] {
            let run = w.run(&[command, "--help"]);
            assert_eq!(run.code, 0, "{run:?}");
            assert!(run.stdout.contains("\nExamples:\n  vault-token-renew"), "{command}: {}", run.stdout);
            assert!(run.stdout.contains("\nExit codes: 0 "), "{command}: {}", run.stdout);
        }
        for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef vault-token-renew"), ("fish", "complete -c vault-token-renew")] {
            let run = w.run(&["completions", shell]);
            assert_eq!(run.code, 0, "{run:?}");
            assert!(run.stdout.contains(marker), "{shell}: {}", &run.stdout[..200.min(run.stdout.len())]);
            assert!(run.stdout.contains("doctor"), "{shell} completes the new commands");
        }
    }
}

scenarios! {
    fn after_a_weak_clobber_status_and_drift_advise_a_login_not_a_heal(w) {
        let k8s = w.seed_kubernetes_login();
        w.write_token(&k8s.token);

        let run = w.run(&["renew"]);
        assert_eq!(run.code, 3, "{run:?}");
        let line = w.last_log_line();
        assert!(line.contains("Manual re-mint: vault-token-renew mint --oidc"), "{line}");
        assert!(!line.contains("error occurred"), "{line}");

        let run = w.run(&["status"]);
        assert_eq!(run.code, 3, "{run:?}");
        let advice = run.stdout.trim_end().lines().last().unwrap();
        assert!(advice.starts_with("what to do: "), "{advice}");
        assert!(!advice.contains("to heal it"), "a heal would be denied: {advice}");
        assert!(advice.contains("cannot mint ours"), "{advice}");
        assert!(advice.contains("vault-token-renew mint --oidc"), "{advice}");
        assert!(
            run.stdout.contains("auth/token/create-orphan: deny"),
            "{}",
            run.stdout
        );

        // A token that may not even look itself up: the server's ACL denial is multierror-wrapped
        // (`1 error occurred:\n\t* permission denied`); status shows it as one clean line.
        let blind = w.server.add_token(TokenSpec {
            display_name: "token-blind".into(),
            policies: vec!["ci".into()],
            ttl: 3600,
            ..Default::default()
        });
        w.write_token(&blind.token);
        let json: serde_json::Value =
            serde_json::from_str(&w.run(&["status", "--json"]).stdout).unwrap();
        assert_eq!(json["state"], "foreign", "{json}");
        assert_eq!(
            json["error"],
            "auth/token/lookup-self answered HTTP 403: permission denied",
            "{json}"
        );
        let advice = json["advice"].as_str().unwrap();
        assert!(!advice.contains("to heal it"), "it cannot mint either: {advice}");
    }
}

/// A config file with a typo, a failure hook that leaves a mark, and a metrics file.
fn broken_config_world() -> (World, std::path::PathBuf, std::path::PathBuf) {
    let w = World::new();
    let mark = w.home.path().join("hook-ran");
    let metrics = w.home.path().join("textfile/vault-token-renew.prom");
    w.write_config(&format!(
        "metrics_file = \"{}\"\non_failure = 'echo \"$FAILED_UNIT|$LAST_LOG_LINE\" > {}'\npolices = [\"typo\"]\n",
        metrics.display(),
        mark.display()
    ));
    (w, mark, metrics)
}

#[test]
fn a_config_error_is_logged_counted_and_notified() {
    let (w, mark, metrics) = broken_config_world();
    let ours = w.seed_ours();
    w.write_token(&ours.token);

    let run = w.run(&["renew"]);
    assert_eq!(run.code, 2, "{run:?}");
    let line = w.last_log_line();
    assert!(
        line.contains(" FAIL: configuration error: config file "),
        "{line}"
    );
    assert!(line.contains("polices"), "names the bad key: {line}");
    let (_, s) = scrape(&metrics);
    assert_eq!(metric(&s, "runs_total", Some("usage")), 1.0);
    assert_eq!(metric(&s, "last_run_result", Some("usage")), 1.0);

    let run = w.run(&["on-failure", "vault-token-renew.service"]);
    assert_eq!(run.code, 0, "{run:?}");
    let told = std::fs::read_to_string(&mark).expect("the hook ran despite the typo");
    assert!(
        told.starts_with("vault-token-renew.service|") && told.contains("configuration error"),
        "{told}"
    );
    assert_eq!(w.file_content().unwrap(), ours.token, "nothing changed");
}

#[test]
fn runs_total_counts_each_result() {
    let (w, path) = metrics_world();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    assert_eq!(w.run(&["renew"]).code, 0);
    assert_eq!(w.run(&["renew"]).code, 0);
    let k8s = w.seed_kubernetes_login();
    w.write_token(&k8s.token);
    assert_eq!(w.run(&["renew"]).code, 3);
    let (text, s) = scrape(&path);
    assert!(
        text.contains("# TYPE vault_token_renew_runs_total counter"),
        "{text}"
    );
    assert_eq!(metric(&s, "runs_total", Some("ok")), 2.0);
    assert_eq!(metric(&s, "runs_total", Some("drift")), 1.0);
    assert_eq!(metric(&s, "runs_total", Some("fail")), 0.0);
}

scenarios! {
    fn status_shows_mode_accessor_and_thresholds_for_monitors(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        assert_eq!(w.run(&["renew"]).code, 0);
        let view = w.file_token_view();

        let run = w.run(&["status"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("accessor  "), "{}", run.stdout);
        assert!(run.stdout.contains(&view.accessor), "{}", run.stdout);
        assert!(run.stdout.contains("auth/token/create"), "{}", run.stdout);
        assert!(run.stdout.contains("\nissued  "), "{}", run.stdout);

        // Monitoring-plugin codes: 32 days left.
        let plugin = |args: &[&str]| {
            let mut all = vec!["status"];
            all.extend_from_slice(args);
            let run = w.run(&all);
            (run.code, run.stdout.lines().next().unwrap_or_default().to_owned())
        };
        let (code, first) = plugin(&["--warn", "7d", "--crit", "2d"]);
        assert_eq!(code, 0, "{first}");
        assert!(first.starts_with("VAULT-TOKEN OK - 3"), "{first}");
        assert_eq!(plugin(&["--warn", "40d", "--crit", "2d"]).0, 1);
        assert_eq!(plugin(&["--warn", "50d", "--crit", "40d"]).0, 2);

        // Lines cut to the terminal, whole with --full.
        let run = w.run_env(&["status"], &[("COLUMNS", "50")]);
        assert!(run.stdout.lines().all(|l| l.chars().count() <= 50 || l.starts_with("what to do")), "{}", run.stdout);
        let run = w.run_env(&["status", "--full"], &[("COLUMNS", "50")]);
        assert!(run.stdout.lines().any(|l| l.chars().count() > 50), "{}", run.stdout);

        // A token file others may read is not healthy.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(w.token_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = w.run(&["status"]);
        assert_ne!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("(mode 0644: readable by others)"), "{}", run.stdout);
        assert!(run.stdout.contains("chmod 600"), "{}", run.stdout);
        let json: serde_json::Value =
            serde_json::from_str(&w.run(&["status", "--json"]).stdout).unwrap();
        assert_eq!(json["loose_mode"], "0644");
        assert_eq!(json["healthy"], false);
        assert_eq!(json["accessor"], view.accessor.as_str());
    }
}

scenarios! {
    fn mint_refuses_a_period_the_installed_timer_cannot_keep_alive(w) {
        let timer_dir = w.home.path().join(".config/systemd/user");
        std::fs::create_dir_all(&timer_dir).unwrap();
        std::fs::write(
            timer_dir.join("vault-token-renew.timer"),
            "[Timer]\nOnCalendar=daily\nRandomizedDelaySec=5m\nPersistent=true\n",
        )
        .unwrap();
        let admin = w.seed_oidc_login();
        let before = w.server.alive_tokens().len();

        let run = w.run_env(&["mint", "--period", "1h"], &[("VAULT_TOKEN", &admin.token)]);
        assert_eq!(run.code, 2, "{run:?}");
        let line = w.last_log_line();
        assert!(line.contains("FAIL: mint refused: --period 1h is not longer than the gap between renewals"), "{line}");
        assert!(line.contains("OnCalendar=daily"), "{line}");
        assert_eq!(w.server.alive_tokens().len(), before, "nothing minted");
        assert!(w.file_content().is_none());

        let run = w.run_env(&["mint"], &[("VAULT_TOKEN", &admin.token)]);
        assert_eq!(run.code, 0, "the default period outlasts a daily timer: {run:?}");
    }

    // A named profile's token is kept alive by its own timer, vault-token-renew@lab.timer: that
    // is the one its period is held to (by mint and doctor), not the default profile's (absent).
    fn a_profiles_mint_and_doctor_are_held_to_the_profiles_own_timer(w) {
        let lab_file = w.home.path().join(".vault-token-lab");
        w.write_config(&format!("[profiles.lab]\ntoken_file = \"{}\"\n", lab_file.display()));
        let timer_dir = w.home.path().join(".config/systemd/user");
        std::fs::create_dir_all(&timer_dir).unwrap();
        std::fs::write(
            timer_dir.join("vault-token-renew@lab.timer"),
            "[Timer]\nOnCalendar=daily\nRandomizedDelaySec=5m\nPersistent=true\n",
        )
        .unwrap();
        let admin = w.seed_oidc_login();

        let run = w.run_env(&["--profile", "lab", "mint", "--period", "1h"], &[("VAULT_TOKEN", &admin.token)]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("mint refused: --period 1h"), "{run:?}");
        assert!(run.stderr.contains("OnCalendar=daily"), "{run:?}");
        assert!(!lab_file.exists(), "nothing minted");

        let run = w.run_env(&["--profile", "lab", "mint"], &[("VAULT_TOKEN", &admin.token)]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(lab_file.exists() && w.file_content().is_none(), "the lab profile's file, not the default's");

        // doctor compares the profile's period with the same timer.
        let run = w.run(&["--profile", "lab", "doctor"]);
        let period = run.stdout.lines().find(|l| l.contains("period")).unwrap_or_default();
        assert!(period.contains("OnCalendar=daily"), "{}", run.stdout);
    }
}

scenarios! {
    fn config_shows_each_setting_and_where_it_came_from(w) {
        let run = w.run_env(
            &["config", "--period", "48h"],
            &[("VAULT_TOKEN_RENEW_RETRIES", "2")],
        );
        assert_eq!(run.code, 0, "{run:?}");
        let config = w.home.path().join(".config/vault-token-renew/config.toml");
        let line = |key: &str| {
            run.stdout
                .lines()
                .find(|l| l.contains(&format!("  {key} = ")))
                .unwrap_or_else(|| panic!("no {key}: {}", run.stdout))
                .to_owned()
        };
        assert!(line("period").starts_with("flag:--period "), "{}", run.stdout);
        assert!(line("retries").starts_with("env:VAULT_TOKEN_RENEW_RETRIES "), "{}", run.stdout);
        assert!(line("vault_addr").starts_with(&format!("file:{} ", config.display())), "{}", run.stdout);
        assert!(line("vault_addr").contains(&w.server.url().trim_end_matches('/').to_owned()), "{}", run.stdout);
        assert!(line("sweep_concurrency").starts_with("default "), "{}", run.stdout);
        assert_eq!(run.stdout.lines().filter(|l| l.contains(" = ")).count(), 21, "every setting: {}", run.stdout);
    }

    fn doctor_checks_the_server_the_file_mode_and_a_shadowing_token(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let run = w.run(&["doctor"]);
        assert_eq!(run.code, 0, "{run:?}");
        let line = |run: &Run, what: &str| {
            run.stdout
                .lines()
                .find(|l| l[6..].starts_with(what))
                .unwrap_or_else(|| panic!("no {what}: {}", run.stdout))
                .to_owned()
        };
        assert!(line(&run, "server").starts_with("ok "), "{}", run.stdout);
        assert!(line(&run, "server").contains("active, unsealed"), "{}", run.stdout);
        assert!(line(&run, "token file").starts_with("ok "), "{}", run.stdout);
        assert!(line(&run, "environment").starts_with("ok "), "{}", run.stdout);
        for what in ["timer", "linger", "period", "man page"] {
            line(&run, what);
        }

        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(w.token_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let run = w.run_env(&["doctor"], &[("BAO_TOKEN", "not-a-token")]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(line(&run, "token file").starts_with("FAIL "), "{}", run.stdout);
        assert!(line(&run, "token file").contains("chmod 600"), "{}", run.stdout);
        let env = line(&run, "environment");
        assert!(env.starts_with("WARN ") && env.contains("$BAO_TOKEN is set"), "{env}");

        std::fs::set_permissions(w.token_file(), std::fs::Permissions::from_mode(0o600)).unwrap();
        let run = w.run(&["doctor", "--vault-addr", "http://127.0.0.1:9"]);
        assert_eq!(run.code, 4, "{run:?}");
        let server = line(&run, "server");
        assert!(server.starts_with("FAIL ") && server.contains("cannot reach http://127.0.0.1:9/"), "{server}");
        println!("{}", run.stdout);

        // A period the installed timer cannot keep alive.
        let timer_dir = w.home.path().join(".config/systemd/user");
        std::fs::create_dir_all(&timer_dir).unwrap();
        std::fs::write(
            timer_dir.join("vault-token-renew.timer"),
            "[Timer]\nOnCalendar=weekly\nRandomizedDelaySec=5m\n",
        )
        .unwrap();
        let run = w.run(&["doctor", "--period", "72h"]);
        assert_eq!(run.code, 4, "{run:?}");
        let period = line(&run, "period");
        assert!(period.starts_with("FAIL ") && period.contains("--period 72h is not longer"), "{period}");
        let run = w.run(&["doctor"]);
        let period = line(&run, "period");
        assert!(period.starts_with("ok ") && period.contains("768h outlasts"), "{period}");
    }
}

scenarios! {
    fn verbose_logs_each_request_without_tokens_and_quiet_keeps_success_silent(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let run = w.run(&["-v", "renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        let requests: Vec<&str> = run.stderr.lines().filter(|l| l.contains(" -> ")).collect();
        assert!(
            requests.iter().any(|l| l.contains("GET auth/token/lookup-self -> 200 in ") && l.ends_with("ms")),
            "{}",
            run.stderr
        );
        assert!(requests.iter().any(|l| l.contains("POST auth/token/renew-self -> 200")), "{}", run.stderr);

        let run = w.run(&["-q", "renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stderr, "", "quiet on success");
        assert!(w.last_log_line().contains(" OK renewed"), "the log file still has it");

        let k8s = w.seed_kubernetes_login();
        w.write_token(&k8s.token);
        let run = w.run(&["--format", "json", "renew"]);
        assert_eq!(run.code, 3);
        let json: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("one object");
        assert_eq!(json["result"], "drift");
        assert_eq!(json["exit_code"], 3);
        assert!(json["line"].as_str().unwrap().contains(" DRIFT: "), "{json}");
        let run = w.run(&["-q", "renew"]);
        assert_eq!(run.code, 3);
        assert!(run.stderr.contains(" DRIFT: "), "a failure is never quiet: {run:?}");
    }
}

/// A same-named token minted on another machine sharing this config.
fn seed_another_machines(w: &World) -> Seeded {
    let mut elsewhere = w.our_identity();
    elsewhere.machine = "another-machine".into();
    let mut spec = TokenSpec::periodic("devvm-alice", &OUR_POLICIES, PERIOD);
    spec.meta = Some(elsewhere.mint_meta("devvm-alice", "devvm", "their-nonce"));
    w.server.add_token(spec)
}

/// The line of a dry run's listing that names `accessor`.
fn plan_line<'a>(stdout: &'a str, accessor: &str) -> Option<&'a str> {
    stdout.lines().find(|l| l.contains(accessor))
}

scenarios! {
    /// Issue 14: `sweep --dry-run` lists each token it would revoke or keep with the rule that
    /// decided, revokes nothing and logs nothing; the file's token and other names are not listed.
    fn sweep_dry_run_lists_each_token_with_its_rule(w) {
        let current = w.seed_ours();
        w.write_token(&current.token);
        let recorded = w.seed_ours();
        let listed = w.seed_ours();
        let theirs = seed_another_machines(&w);
        let older = w
            .server
            .add_token(TokenSpec::periodic("devvm-alice", &OUR_POLICIES, PERIOD));
        let other_name = w.seed_kubernetes_login();
        std::fs::create_dir_all(w.state_dir()).unwrap();
        std::fs::write(w.record_file(), format!("{}\n", recorded.accessor)).unwrap();

        let run = w.run(&["sweep", "--dry-run", "--include-unmarked"]);
        assert_eq!(run.code, 0, "{run:?}");
        let out = &run.stdout;
        let line = |s: &Seeded| plan_line(out, &s.accessor).unwrap_or_else(|| panic!("{} in {out}", s.accessor));
        assert_eq!(
            line(&recorded),
            format!("would revoke {}: our display name and this configuration's mark, and not the token in the file; recorded as minted here (a replaced mint, or one a crash stranded before it was installed)", recorded.accessor)
        );
        assert_eq!(
            line(&listed),
            format!("would revoke {}: our display name and this configuration's mark, and not the token in the file; found in the accessor list (an older mint, or one whose answer was lost on the way)", listed.accessor)
        );
        assert_eq!(
            line(&theirs),
            format!("would revoke {}: our display name but another machine's; revoked only because of --include-unmarked", theirs.accessor)
        );
        assert!(line(&older).contains(": our display name but no identity mark"), "{out}");
        assert!(plan_line(out, &current.accessor).is_none(), "the file's token is not listed: {out}");
        assert!(plan_line(out, &other_name.accessor).is_none(), "another name is not listed: {out}");
        assert!(out.lines().last().unwrap().contains("dry run, nothing changed"), "the summary line ends it: {out}");

        let run = w.run(&["sweep", "--dry-run"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            plan_line(&run.stdout, &theirs.accessor).unwrap(),
            format!("would keep {}: our display name but another machine's; left alive (--include-unmarked would revoke it)", theirs.accessor)
        );
        assert!(plan_line(&run.stdout, &listed.accessor).unwrap().starts_with("would revoke "));

        let run = w.run(&["sweep", "--dry-run", "--format", "json"]);
        assert_eq!(run.code, 0, "{run:?}");
        let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
        assert_eq!(json["dry_run"], true, "{json}");
        let mut plan: Vec<(String, String, String)> = json["plan"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["accessor"].as_str().unwrap().into(), p["action"].as_str().unwrap().into(), p["rule"].as_str().unwrap().into()))
            .collect();
        plan.sort();
        let mut want = vec![
            (recorded.accessor.clone(), "revoke".to_string(), "marked-copy-recorded".to_string()),
            (listed.accessor.clone(), "revoke".into(), "marked-copy-listed".into()),
            (theirs.accessor.clone(), "keep".into(), "same-name-other-machine".into()),
            (older.accessor.clone(), "keep".into(), "same-name-unmarked".into()),
        ];
        want.sort();
        assert_eq!(plan, want);

        for s in [&current, &recorded, &listed, &theirs, &older, &other_name] {
            assert!(w.server.token_alive(&s.token), "a dry run revokes nothing");
        }
        assert!(w.log_lines().is_empty(), "a dry run writes no log line");
    }

    /// Issue 14: a sweep on a terminal shows how far it got (`sweep: N/M looked up`), redrawn in
    /// place and erased at the end; through a pipe (the timer, the journal) stderr has none of it.
    fn sweep_shows_progress_on_a_terminal_only(w) {
        let current = w.seed_ours();
        w.write_token(&current.token);
        for _ in 0..40 {
            w.seed_kubernetes_login();
        }
        let stale = w.seed_ours();

        let piped = w.run(&["sweep", "--dry-run"]);
        assert_eq!(piped.code, 0, "{piped:?}");
        assert!(!piped.stderr.contains("looked up") && !piped.stderr.contains('\r'), "{piped:?}");
        assert!(!piped.stdout.contains("looked up"), "{piped:?}");

        // util-linux `script` runs the sweep on a pseudo-terminal and copies what it shows.
        let mut cmd = w.command_of(
            std::path::Path::new("script"),
            &["-q", "-e", "-c", &format!("{BIN} sweep"), "/dev/null"],
        );
        let tty = w.finish(cmd.output().expect("util-linux script"));
        assert_eq!(tty.code, 0, "{tty:?}");
        let shown = &tty.stdout;
        let first = shown.find("\r\x1b[Ksweep: ").unwrap_or_else(|| panic!("a progress line: {shown:?}"));
        assert!(shown[first..].contains(" looked up"), "{shown:?}");
        let erased = shown.rfind("\r\x1b[K").unwrap();
        let after = &shown[erased + "\r\x1b[K".len()..];
        assert!(!after.contains("looked up"), "erased before the result: {shown:?}");
        assert!(after.contains("OK ") && after.contains("revoked 1 stale"), "{shown:?}");
        assert!(!w.server.token_alive(&stale.token));
        assert!(!w.last_log_line().contains("looked up"), "the log has no progress");
    }
}

scenarios! {
    /// Issue 14 point 7: what the tool says on stderr besides its log line has one style,
    /// `warning: …` / `error: …` / `debug: …`, whether tracing or a plain message says it; and a
    /// missing token file points at the tool's own recovery command.
    fn warnings_and_errors_share_one_style(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        // Plain http to a non-loopback address warns; 0.0.0.0 refuses at once.
        let run = w.run(&["-v", "--vault-addr", "http://0.0.0.0:9", "--retries", "0", "renew"]);
        assert_eq!(run.code, 4, "{run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(lines.iter().any(|l| l.starts_with("warning: http://0.0.0.0:9/ is plain http")), "{run:?}");
        assert!(lines.iter().any(|l| l.starts_with("debug: ")), "{run:?}");
        let log_line = |l: &&str| l.len() > 20 && l.as_bytes()[4] == b'-' && l[..20].ends_with('Z');
        for line in &lines {
            assert!(
                ["warning: ", "error: ", "debug: ", "trace: "].iter().any(|p| line.starts_with(p)) || log_line(line),
                "one style: {line:?} in {run:?}"
            );
        }
        let run = w.run(&["--config", "/nonexistent/config.toml", "status"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.starts_with("error: "), "{run:?}");

        std::fs::remove_file(w.token_file()).unwrap();
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(w.last_log_line().ends_with("does not exist; mint our token first: vault-token-renew mint --oidc"), "{}", w.last_log_line());
    }

    /// Issue 14 point 7: `--format json` gives one object for mint and sweep, as for renew.
    fn format_json_is_one_object_for_mint_and_sweep(w) {
        let login = w.seed_oidc_login();
        let run = w.run_env(&["mint", "--format", "json"], &[("VAULT_TOKEN", login.token.as_str())]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
        let mint: serde_json::Value = serde_json::from_str(&run.stdout).expect("one object");
        assert_eq!(mint["exit_code"], 0, "{mint}");
        assert_eq!(mint["period_secs"], PERIOD, "{mint}");
        assert!(mint["line"].as_str().unwrap().contains(" HEALED") || mint["line"].as_str().unwrap().contains(" OK"), "{mint}");
        let stale = w.seed_ours();
        let run = w.run(&["sweep", "--format", "json"]);
        assert_eq!(run.code, 0, "{run:?}");
        let sweep: serde_json::Value = serde_json::from_str(&run.stdout).expect("one object");
        assert_eq!(sweep["result"], "ok", "{sweep}");
        assert!(sweep["line"].as_str().unwrap().contains("revoked 1 stale periodic token(s)"), "{sweep}");
        assert!(!w.server.token_alive(&stale.token));
    }
}
