//! Hostile and broken input, end to end: whatever is at the token path, whatever is in the
//! config, whatever the server says, the run ends with one escaped, bounded log line, a fitting
//! exit code, and the file either untouched or holding a verified token, mode 0600.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::time::{Duration, Instant};

/// What a broken token file must produce: exit 4, a FAIL line naming the problem, the file as it was.
fn refused(w: &World, expect: &str) {
    let before = fs::symlink_metadata(w.token_file()).ok().map(|m| m.len());
    // Only a regular file is read here: reading a FIFO would block this test.
    let regular = || fs::symlink_metadata(w.token_file()).is_ok_and(|m| m.is_file());
    let content_before = regular().then(|| fs::read(w.token_file()).unwrap());
    let started = Instant::now();
    let run = w.run(&["renew", "--retries", "0"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the run must not hang"
    );
    assert_eq!(run.code, 4, "{run:?}");
    let line = w.last_log_line();
    assert!(line.contains(" FAIL: "), "{line}");
    assert!(line.contains(expect), "expected {expect:?} in {line}");
    assert_eq!(w.log_lines().len(), 1);
    assert_eq!(
        fs::symlink_metadata(w.token_file()).ok().map(|m| m.len()),
        before
    );
    let content_after = regular().then(|| fs::read(w.token_file()).unwrap());
    assert_eq!(content_after, content_before, "the file is untouched");
}

/// Puts something at the token path.
type Setup = Box<dyn Fn(&World)>;

#[test]
fn token_file_shapes_that_hold_no_token_are_refused() {
    let cases: Vec<(&str, Setup, &str)> = vec![
        (
            "missing",
            Box::new(|_| {}),
            "does not exist; mint our token first",
        ),
        (
            "empty",
            Box::new(|w| fs::write(w.token_file(), "").unwrap()),
            "is empty",
        ),
        (
            "whitespace only",
            Box::new(|w| fs::write(w.token_file(), " \r\n\t \n").unwrap()),
            "is empty",
        ),
        (
            "a byte-order mark",
            Box::new(|w| fs::write(w.token_file(), b"\xef\xbb\xbfhvs.abcdef").unwrap()),
            "does not hold a token (a non-printable byte at offset 0)",
        ),
        (
            "not UTF-8",
            Box::new(|w| fs::write(w.token_file(), b"hvs.\xff\xfe\xfd").unwrap()),
            "does not hold a token (a non-printable byte at offset 4)",
        ),
        (
            "binary",
            Box::new(|w| fs::write(w.token_file(), [0u8, 1, 2, 3, 255, 7, 27]).unwrap()),
            "does not hold a token",
        ),
        (
            "1 MiB",
            Box::new(|w| fs::write(w.token_file(), vec![b'a'; 1 << 20]).unwrap()),
            "is larger than 16384 bytes",
        ),
        (
            "a directory",
            Box::new(|w| fs::create_dir(w.token_file()).unwrap()),
            "is a directory, not a regular file",
        ),
        (
            "a FIFO",
            Box::new(|w| {
                rustix::fs::mkfifoat(
                    rustix::fs::CWD,
                    w.token_file(),
                    rustix::fs::Mode::from_raw_mode(0o600),
                )
                .unwrap()
            }),
            "is a special file, not a regular file",
        ),
        (
            "a dangling symlink",
            Box::new(|w| symlink(w.home.path().join("gone"), w.token_file()).unwrap()),
            "is a dangling symlink",
        ),
    ];
    for (name, setup, expect) in cases {
        let w = World::new();
        setup(&w);
        println!("token file: {name}");
        refused(&w, expect);
    }
}

/// Root reads a mode-000 file anyway, so as root (how CI runs) the run is made as `nobody`,
/// in a HOME that `nobody` owns, instead of skipping the case.
#[test]
fn an_unreadable_token_file_is_refused() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    fs::set_permissions(w.token_file(), fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd = w.command(&["renew"]);
    if rustix::process::geteuid().is_root() {
        use std::os::unix::process::CommandExt;
        let nobody = 65534;
        // The build tree may sit in a directory only root can enter (a checkout under a 0700
        // temp dir): `nobody` runs a copy from the HOME it is given.
        let bin = w.home.path().join("vault-token-renew");
        fs::copy(BIN, &bin).unwrap();
        give_home_to(&w, nobody);
        cmd = w.command_of(&bin, &["renew"]);
        cmd.uid(nobody).gid(nobody);
    }
    let run = w.finish(cmd.output().unwrap());
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        w.last_log_line().contains("cannot read token file"),
        "{run:?}"
    );
}

/// Hands the whole test HOME (which root created) to `uid`.
fn give_home_to(w: &World, uid: u32) {
    let owner = Some(rustix::process::Uid::from_raw(uid));
    let group = Some(rustix::process::Gid::from_raw(uid));
    for path in walk(w.home.path()) {
        rustix::fs::chownat(
            rustix::fs::CWD,
            &path,
            owner,
            group,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut all = vec![dir.to_path_buf()];
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            all.extend(walk(&path));
        } else {
            all.push(path);
        }
    }
    all
}

scenarios! {
    fn crlf_and_surrounding_whitespace_are_trimmed_and_the_file_left_alone(w) {
        let ours = w.seed_ours();
        let content = format!("\r\n {}\r\n", ours.token);
        fs::write(w.token_file(), &content).unwrap();
        fs::set_permissions(w.token_file(), fs::Permissions::from_mode(0o600)).unwrap();
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(w.last_log_line().contains(" OK renewed "));
        assert_eq!(
            w.file_content().unwrap(),
            content,
            "renewing never rewrites the file"
        );
    }

    fn a_loose_mode_warns_and_a_replacement_is_always_0600(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        fs::set_permissions(w.token_file(), fs::Permissions::from_mode(0o644)).unwrap();
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            run.stderr.contains("is readable by others (mode 644)"),
            "{run:?}"
        );
        assert!(run.stderr.contains("chmod 600"), "{run:?}");

        let login = w.seed_oidc_login();
        w.write_token(&login.token);
        fs::set_permissions(w.token_file(), fs::Permissions::from_mode(0o664)).unwrap();
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(w.last_log_line().contains(" HEALED: "));
        assert_eq!(w.file_mode(), 0o600);
    }

    /// Decided: a symlink is followed. The target is read and replaced (atomically, beside the
    /// target), the link itself stays — people keep `~/.vault-token` in a synced or tmpfs directory.
    fn a_symlink_to_elsewhere_is_followed_and_survives_a_heal(w) {
        let elsewhere = w.home.path().join("secrets");
        fs::create_dir(&elsewhere).unwrap();
        let target = elsewhere.join("vault-token");
        let login = w.seed_oidc_login();
        fs::write(&target, &login.token).unwrap();
        symlink(&target, w.token_file()).unwrap();

        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(w.last_log_line().contains(" HEALED: "));
        assert!(
            fs::symlink_metadata(w.token_file())
                .unwrap()
                .file_type()
                .is_symlink()
        );
        let healed = fs::read_to_string(&target).unwrap();
        assert_eq!(w.server.lookup(&healed).unwrap().display_name, OUR_NAME);
        assert_eq!(
            fs::metadata(&target).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(&elsewhere).unwrap().count(),
            1,
            "no temp file left beside the target"
        );

        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(w.last_log_line().contains(" OK renewed "));
    }

}

#[test]
fn config_errors_exit_2_before_any_run() {
    let cases = [
        ("not TOML", "vault_addr = \"{url}\n", "config"),
        (
            "a wrong type",
            "vault_addr = \"{url}\"\nretries = \"many\"\n",
            "retries",
        ),
        (
            "a negative count",
            "vault_addr = \"{url}\"\nsweep_concurrency = -1\n",
            "sweep_concurrency",
        ),
        (
            "a bad period",
            "vault_addr = \"{url}\"\nperiod = \"forever\"\n",
            "period",
        ),
        (
            "a bad timeout",
            "vault_addr = \"{url}\"\ntimeout = \"-3s\"\n",
            "timeout",
        ),
    ];
    for (name, config, expect) in cases {
        let w = World::new();
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        fs::write(
            w.home.path().join(".config/vault-token-renew/config.toml"),
            config.replace("{url}", &w.server.url()),
        )
        .unwrap();
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 2, "{name}: {run:?}");
        assert!(run.stderr.contains(expect), "{name}: {run:?}");
        // A config error is logged as one FAIL line, so the timer's failed run is seen.
        let lines = w.log_lines();
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        assert!(
            lines[0].contains(" FAIL: configuration error: "),
            "{name}: {lines:?}"
        );
        assert_eq!(w.server.lookup(&ours.token).unwrap().renewals, 0);
    }
    let w = World::new();
    let run = w.run(&["renew", "--config", "/nonexistent/config.toml"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("/nonexistent/config.toml"), "{run:?}");
}

/// Text from the server that tries to forge log lines or drive a terminal.
const HOSTILE: &str =
    "x\n2026-01-01T00:00:00Z OK renewed (dn=forged)\r\x1b[2J\x1b]0;pwned\x07\u{202e}\u{2028}\\";

fn assert_one_clean_line(w: &World, run: &Run) -> String {
    let lines = w.log_lines();
    assert_eq!(lines.len(), 1, "exactly one line: {lines:?}");
    let line = &lines[0];
    assert!(
        !line.contains("OK renewed (dn=forged)") || line.contains("\\n2026"),
        "{line}"
    );
    assert!(
        line.chars()
            .all(|c| !c.is_control() && c != '\u{202e}' && c != '\u{2028}'),
        "no control or bidi characters: {line:?}"
    );
    assert!(line.len() <= 2000 + 3, "bounded: {} bytes", line.len());
    assert!(run.stderr.lines().any(|l| l == line), "{run:?}");
    line.clone()
}

scenarios! {
    fn a_hostile_display_name_stays_on_one_escaped_line(w) {
        // Login display names are not sanitised: an OIDC claim becomes `oidc-<claim>` verbatim.
        let long = format!("oidc-{HOSTILE}{}", "A".repeat(100_000));
        let weak = w.server.add_token(TokenSpec::login(&long, &["ci"], &[]));
        w.write_token(&weak.token);
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 3, "{run:?}");
        let line = assert_one_clean_line(&w, &run);
        assert!(line.contains(" DRIFT: "), "{line}");
        assert!(
            line.contains("dn=oidc-x\\n2026-01-01T00:00:00Z OK renewed"),
            "{line}"
        );
        assert!(line.contains("\\x1b[2J"), "{line}");
        assert!(line.contains('…'), "cut with a marker: {line}");
    }

}

scenarios! {
    /// The answers are the proxy's on OpenBao: what a broken or hostile server (or a proxy in
    /// front of it) could send.
    fn hostile_server_errors_and_warnings_stay_on_one_escaped_line(kind k) {
        // An error body.
        let w = World::on(k);
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let body = serde_json::json!({ "errors": [HOSTILE, "y".repeat(50_000)] }).to_string();
        w.server.inject_fault(Fault::new(
            None,
            "auth/token/renew-self",
            FaultKind::Status {
                code: 400,
                body: Some(body),
            },
            1,
        ));
        let run = w.run(&["renew", "--retries", "0"]);
        assert_eq!(run.code, 4, "{run:?}");
        let line = assert_one_clean_line(&w, &run);
        assert!(line.contains("\\x1b]0;pwned\\x07"), "{line}");

        // Warnings on a successful renewal.
        let w = World::on(k);
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let body = serde_json::json!({
            "auth": { "lease_duration": PERIOD, "renewable": true },
            "warnings": [HOSTILE, "z".repeat(50_000)],
        })
        .to_string();
        w.server.inject_fault(Fault::new(
            None,
            "auth/token/renew-self",
            FaultKind::Status {
                code: 200,
                body: Some(body),
            },
            1,
        ));
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        let line = assert_one_clean_line(&w, &run);
        assert!(line.contains("server warning: x\\n2026"), "{line}");

        // A proxy's non-JSON error page.
        let w = World::on(k);
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        w.server.inject_fault(Fault::new(
            None,
            "auth/token/lookup-self",
            FaultKind::Status {
                code: 502,
                body: Some(format!("<html>\n{HOSTILE}\n{}</html>", "p".repeat(10_000))),
            },
            1,
        ));
        let run = w.run(&["renew", "--retries", "0"]);
        assert_eq!(run.code, 4, "{run:?}");
        assert_one_clean_line(&w, &run);
    }
}

scenarios! {
    /// A broken server echoing the token it was sent: the value never reaches the output (the
    /// harness checks every run for every issued token).
    fn a_server_echoing_the_token_in_an_error_does_not_leak_it(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let body =
            serde_json::json!({ "errors": [format!("bad token {} here", ours.token)] }).to_string();
        w.server.inject_fault(Fault::new(
            None,
            "auth/token/renew-self",
            FaultKind::Status {
                code: 400,
                body: Some(body.clone()),
            },
            1,
        ));
        let run = w.run(&["renew", "--retries", "0", "-vv"]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            w.last_log_line().contains("bad token <redacted> here"),
            "{}",
            w.last_log_line()
        );
        // Not JSON, with the token in it.
        w.server.inject_fault(Fault::new(
            None,
            "auth/token/lookup-self",
            FaultKind::Status {
                code: 500,
                body: Some(format!("oops {}", ours.token)),
            },
            1,
        ));
        let run = w.run(&["renew", "--retries", "0", "-vv"]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            w.last_log_line().contains("oops <redacted>"),
            "{}",
            w.last_log_line()
        );
    }
}

// ---- Local attacks (issue 13): another account on the machine, or odd files at our paths. ----

/// Runs the binary and waits for it, failing the test if it hangs (a minute is far beyond any
/// run that does not block; the bound only keeps a hang from stalling the suite).
fn run_unhung(w: &World, args: &[&str]) -> Run {
    let child = w.spawn(args);
    wait_unhung(w, child)
}

fn wait_unhung(w: &World, mut child: std::process::Child) -> Run {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run hung; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    w.finish(child.wait_with_output().unwrap())
}

fn mkfifo(path: &std::path::Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .unwrap();
}

#[test]
fn a_link_planted_at_the_metrics_temp_name_does_not_redirect_the_write() {
    let mut w = World::new();
    let shared = w.home.path().join("collector");
    fs::create_dir(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
    let metrics = shared.join("vault-token-renew.prom");
    w.extra_config = format!("metrics_file = \"{}\"\n", metrics.display());
    w.write_config(&w.extra_config);
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    let child = w.spawn(&["renew"]);
    // The attacker's link, at the temp name the run is about to use (it names its pid).
    let temp = shared.join(format!(".vault-token-renew.prom.{}.tmp", child.id()));
    symlink(w.token_file(), &temp).unwrap();
    let run = wait_unhung(&w, child);
    assert_eq!(
        run.code, 0,
        "the metrics file never changes the outcome: {run:?}"
    );
    assert_eq!(
        w.file_content().unwrap(),
        ours.token,
        "the token file is untouched"
    );
    assert_eq!(w.file_mode(), 0o600);
    assert!(run.stderr.contains("cannot write metrics file"), "{run:?}");
}

#[test]
fn a_config_file_others_may_write_is_refused() {
    let w = World::new();
    let config = w.home.path().join(".config/vault-token-renew/config.toml");
    let marker = w.home.path().join("hook-ran");
    w.write_config(&format!("on_failure = \"touch {}\"\n", marker.display()));
    for (what, path, mode) in [
        ("the file, group-writable", config.clone(), 0o664),
        ("the file, world-writable", config.clone(), 0o646),
        (
            "its directory",
            config.parent().unwrap().to_path_buf(),
            0o777,
        ),
    ] {
        let before = fs::metadata(&path).unwrap().permissions().mode();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        let run = w.run(&["on-failure", "vault-token-renew.service"]);
        println!("{what}: {run:?}");
        assert_eq!(run.code, 2, "{what}: {run:?}");
        assert!(
            run.stderr.contains("refusing config file"),
            "{what}: {run:?}"
        );
        assert!(run.stderr.contains("writable by"), "{what}: {run:?}");
        assert!(!marker.exists(), "{what}: the hook must not run");
        fs::set_permissions(&path, fs::Permissions::from_mode(before)).unwrap();
    }
    let run = w.run(&["on-failure", "vault-token-renew.service"]);
    assert!(marker.exists(), "a private config is obeyed: {run:?}");
}

#[test]
fn a_config_file_owned_by_another_user_is_refused() {
    let w = World::new();
    let config = w.home.path().join(".config/vault-token-renew/config.toml");
    if !rustix::process::geteuid().is_root() {
        // Only root can give a file away; the rule on owners is unit-tested in `trust`.
        println!("skipped: giving a file to another user needs root");
        return;
    }
    let stranger = rustix::process::Uid::from_raw(12345);
    rustix::fs::chown(&config, Some(stranger), None).unwrap();
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("it is owned by uid 12345"), "{run:?}");
}

#[test]
fn a_config_linked_into_a_read_only_store_is_obeyed() {
    let w = World::new();
    let config = w.home.path().join(".config/vault-token-renew/config.toml");
    // As home-manager does: the file is a link into a store directory no one else may write.
    let store = w.home.path().join("store/abc-hm_config");
    fs::create_dir_all(&store).unwrap();
    let target = store.join("config.toml");
    fs::rename(&config, &target).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o444)).unwrap();
    fs::set_permissions(&store, fs::Permissions::from_mode(0o555)).unwrap();
    symlink(&target, &config).unwrap();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    fs::set_permissions(&store, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn an_oversized_config_file_is_refused_before_it_is_read() {
    let w = World::new();
    let config = w.home.path().join(".config/vault-token-renew/config.toml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str(&format!("# {}\n", "x".repeat(2 << 20)));
    fs::write(&config, text).unwrap();
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("is larger than 1048576 bytes"),
        "{run:?}"
    );
}

#[test]
fn a_password_in_the_server_address_is_never_printed() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    // An address with userinfo, to a port nothing listens on: the failure names the address.
    let addr = "http://alice:pw-s3cret@127.0.0.1:1";
    for args in [
        vec!["renew", "--retries", "0"],
        vec!["status"],
        vec!["renew", "--vault-addr", "ftp://alice:pw-s3cret@127.0.0.1:1"],
    ] {
        let run = w.run_env(&args, &[("VAULT_ADDR", addr)]);
        println!("{args:?}: {run:?}");
        let shown = format!("{}{}", run.stdout, run.stderr);
        assert!(shown.contains("…@127.0.0.1:1"), "{args:?}: {run:?}");
        for (name, text) in [("stderr", &run.stderr), ("stdout", &run.stdout)] {
            assert!(
                !text.contains("pw-s3cret"),
                "{args:?}: password in {name}: {text}"
            );
        }
        assert!(
            !fs::read_to_string(w.log_file())
                .unwrap_or_default()
                .contains("pw-s3cret")
        );
    }
}

#[test]
fn a_fifo_at_the_log_path_neither_hangs_the_run_nor_is_written() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    mkfifo(&w.log_file());
    let run = run_unhung(&w, &["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("cannot append to log file"), "{run:?}");
    assert!(run.stderr.contains("not a regular file"), "{run:?}");
}

/// The failure hook reads the log's last line: a FIFO there reads as no line, not a hang.
#[test]
fn a_fifo_at_the_log_path_does_not_hang_the_failure_hook() {
    let w = World::new();
    w.write_config("on_failure = \"printf 'last=%s' \\\"$LAST_LOG_LINE\\\"\"\n");
    mkfifo(&w.log_file());
    let run = run_unhung(&w, &["on-failure", "vault-token-renew.service"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "last=", "{run:?}");
}

#[test]
fn a_fifo_at_the_record_or_metrics_path_does_not_hang_a_heal() {
    let mut w = World::new();
    let metrics = w.home.path().join("metrics.prom");
    w.extra_config = format!("metrics_file = \"{}\"\n", metrics.display());
    w.write_config(&w.extra_config);
    w.seed_ours();
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    mkfifo(&w.record_file());
    mkfifo(&metrics);
    let run = run_unhung(&w, &["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.last_log_line().contains(" HEALED: "), "{run:?}");
    let record = fs::read_to_string(w.record_file()).unwrap();
    assert!(
        record.contains(&w.file_token_view().accessor),
        "the record was rewritten as a regular file"
    );
    assert!(
        fs::read_to_string(&metrics)
            .unwrap()
            .contains("heals_total")
    );
}

#[test]
fn a_fifo_at_the_lock_path_is_refused() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    mkfifo(&w.state_dir().join("lock"));
    let run = run_unhung(&w, &["renew"]);
    assert_eq!(run.code, 4, "{run:?}");
    let line = w.last_log_line();
    assert!(line.contains("cannot open the lock file"), "{line}");
    assert!(line.contains("not a regular file"), "{line}");
}

/// The run's deadline (55 s) starts once the lock is taken: a run that waited most of a minute
/// for another still has its whole deadline. (Slow by nature: it waits out the lock.)
#[test]
fn a_run_that_waited_for_the_lock_still_has_its_deadline() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    let held = vault_token_renew::lock::acquire(&w.state_dir(), Duration::from_secs(1)).unwrap();
    let child = w.spawn(&["renew"]);
    // Held past the 55 s deadline, within the 60 s the run waits for the lock.
    std::thread::sleep(Duration::from_secs(57));
    drop(held);
    let run = wait_unhung(&w, child);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.last_log_line().contains(" OK renewed "), "{run:?}");
}
