//! One test for each rule that hand mutation or cargo-mutants (docs/security.md) showed no
//! fast test guarded (issue 13): each fails when its rule is broken on purpose. The fault matrix
//! runs with retries off, so the retry rules are checked here with retries on.

mod common;

use common::*;
use reqwest::Method;
use std::fs;
use std::time::{Duration, SystemTime};

/// The file as the CLI left it an hour ago: not "fresh", so no new-token grace repeats a 403.
fn backdate_token_file(w: &World) {
    fs::File::options()
        .write(true)
        .open(w.token_file())
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
}

fn mint_requests(w: &World) -> usize {
    w.server
        .request_count(Method::POST, "auth/token/create-orphan")
        + w.server.request_count(Method::POST, "auth/token/create")
}

#[test]
fn a_mint_answered_500_is_never_sent_again_even_with_retries_on() {
    let w = World::new();
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    w.server.inject_fault(Fault::new(
        Some(Method::POST),
        "auth/token/create*",
        FaultKind::status(500),
        1,
    ));
    let run = w.run(&["renew", "--retries", "3"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert_eq!(
        mint_requests(&w),
        1,
        "a mint that reached the server is not repeated"
    );
    assert_eq!(w.file_content().unwrap(), login.token);
}

#[test]
fn refusals_are_not_retried() {
    for status in [400, 403, 404] {
        let w = World::new();
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        backdate_token_file(&w);
        w.server.inject_fault(Fault::new(
            Some(Method::POST),
            "auth/token/renew-self",
            FaultKind::status(status),
            1000,
        ));
        let run = w.run(&["renew", "--retries", "3"]);
        assert_ne!(run.code, 0, "{status}: {run:?}");
        assert_eq!(
            w.server
                .request_count(Method::POST, "auth/token/renew-self"),
            1,
            "{status} is an answer, not a transient failure"
        );
    }
}

#[test]
fn the_heal_checks_the_minted_token_before_installing_it() {
    let w = World::new();
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    // The second lookup-self is the check of the minted token; its answer says "not periodic".
    let wrong = r#"{"data":{"accessor":"crafted","display_name":"token-devvm-alice","policies":["vault-admin","sops-admin"],"ttl":3600,"explicit_max_ttl":0,"orphan":true,"path":"auth/token/create-orphan","renewable":true}}"#;
    w.server.inject_fault_after(
        Fault::new(
            Some(Method::GET),
            "auth/token/lookup-self",
            FaultKind::Status {
                code: 200,
                body: Some(wrong.into()),
            },
            1,
        ),
        1,
    );
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 4, "{run:?}");
    let line = w.last_log_line();
    assert!(
        line.contains("failed verification: it is not periodic"),
        "{line}"
    );
    assert!(line.contains("the minted token was revoked"), "{line}");
    assert_eq!(w.file_content().unwrap(), login.token, "not installed");
    assert!(
        w.our_alive_accessors().is_empty(),
        "nothing minted is left alive"
    );
}

/// `mint` and `sweep` wait for a run that holds the lock: while it is held they change nothing
/// and have not finished; once it is released they do their work.
#[test]
fn mint_and_sweep_wait_for_the_run_lock() {
    let w = World::new();
    let ours = w.seed_ours();
    let stale = w.seed_ours();
    w.write_token(&ours.token);
    let held = vault_token_renew::lock::acquire(&w.state_dir(), Duration::from_secs(1)).unwrap();
    let login = w.seed_oidc_login();
    let spawn = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = w.command(args);
        cmd.envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };
    let mut sweep = spawn(&["sweep"], &[]);
    let mut mint = spawn(&["mint"], &[("VAULT_TOKEN", &login.token)]);
    // Ample time for either to finish were it not waiting (each takes well under a second).
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        sweep.try_wait().unwrap().is_none(),
        "sweep ran without the lock"
    );
    assert!(
        mint.try_wait().unwrap().is_none(),
        "mint ran without the lock"
    );
    assert_eq!(w.file_content().unwrap(), ours.token);
    assert!(w.server.token_alive(&stale.token));
    drop(held);
    for child in [sweep, mint] {
        let run = w.finish(child.wait_with_output().unwrap());
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert!(
        !w.server.token_alive(&stale.token),
        "swept once the lock was free"
    );
}

#[test]
fn an_accessor_list_larger_than_the_cap_is_refused() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    w.server.inject_fault(Fault::new(
        Some(Method::GET),
        "auth/token/accessors*",
        FaultKind::Huge((64 << 20) + 4096),
        1,
    ));
    let run = w.run(&["sweep", "--retries", "0"]);
    let line = w.last_log_line();
    assert!(
        line.contains("larger than 67108864 bytes"),
        "{line} {run:?}"
    );
}

#[test]
fn the_log_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    let mode = fs::metadata(w.log_file()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// A run killed mid-write leaves its temp file (a copy of a token) beside the token file: the
/// next run removes it and says so.
#[test]
fn a_temp_file_left_by_a_killed_run_is_removed_and_reported() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    // The name a write of `.vault-token` gives its temp file: `.<name>.vault-token-renew-<pid>-<hex>.tmp`.
    let leftover = w
        .home
        .path()
        .join("..vault-token.vault-token-renew-4242-00000000deadbeef.tmp");
    fs::write(&leftover, "left by a killed run").unwrap();
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!leftover.exists(), "the temp file was removed");
    assert!(
        run.stderr
            .contains("removed 1 temp file(s) left by an interrupted run"),
        "{run:?}"
    );
    let again = w.run(&["renew"]);
    assert!(
        !again.stderr.contains("temp file"),
        "nothing to remove, nothing said: {again:?}"
    );
}

/// When the server cannot say which mint paths the token may use (a 500), no mint is sent
/// blind: the heal fails, the file keeps the login.
#[test]
fn a_failed_capabilities_question_sends_no_mint() {
    let w = World::new();
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    w.server.inject_fault(Fault::new(
        Some(Method::POST),
        "sys/capabilities-self",
        FaultKind::status(500),
        1,
    ));
    let run = w.run(&["renew", "--retries", "0"]);
    assert_eq!(run.code, 4, "{run:?}");
    let line = w.last_log_line();
    assert!(
        line.contains("asking the server which mint paths the token may use failed")
            && line.contains("no mint was sent"),
        "{line}"
    );
    assert_eq!(mint_requests(&w), 0);
    assert_eq!(w.file_content().unwrap(), login.token);
}

/// An authority the server no longer knows (revoked) is told apart at the capabilities
/// question: `mint` is denied without sending a mint.
#[test]
fn a_revoked_authority_is_denied_before_any_mint_is_sent() {
    let w = World::new();
    let login = w.seed_oidc_login();
    w.server.revoke(&login.token);
    let run = w.run_env(&["mint"], &[("VAULT_TOKEN", &login.token)]);
    assert_eq!(run.code, 4, "{run:?}");
    let line = w.last_log_line();
    assert!(
        line.contains("mint denied: the token from $VAULT_TOKEN may not create"),
        "{line}"
    );
    assert_eq!(mint_requests(&w), 0, "no mint sent with a revoked token");
    assert!(w.file_content().is_none(), "no token file written");
}

/// A renewal the server capped below the token's period (its max TTL is lower) is OK, and the
/// line says what to tune.
#[test]
fn a_renewal_capped_below_the_period_says_so() {
    let w = World::new();
    let ours = w.seed_ours();
    w.write_token(&ours.token);
    w.server.inject_fault(Fault::new(
        Some(Method::POST),
        "auth/token/renew-self",
        FaultKind::Status {
            code: 200,
            body: Some(r#"{"auth":{"lease_duration":3600,"renewable":true}}"#.into()),
        },
        1,
    ));
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    let line = w.last_log_line();
    assert!(
        line.contains(&format!(
            "ttl=3600s) — note: the server capped the TTL below the {PERIOD}s period"
        )),
        "{line}"
    );
}

/// A stale copy of ours on record (a heal killed after its install) is swept by the next plain
/// renewal, which keeps our own token.
#[test]
fn a_renewal_sweeps_a_stale_copy_on_record() {
    let w = World::new();
    let ours = w.seed_ours();
    let stale = w.seed_ours();
    w.write_token(&ours.token);
    fs::create_dir_all(w.state_dir()).unwrap();
    fs::write(w.record_file(), format!("{}\n", stale.accessor)).unwrap();
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    let line = w.last_log_line();
    assert!(
        line.contains(" OK renewed ")
            && line.contains("leftover mints: revoked 1 stale periodic token(s)"),
        "{line}"
    );
    assert!(!w.server.token_alive(&stale.token));
    assert!(w.server.token_alive(&ours.token));
}

/// A look-up that fails leaves that copy for the next sweep, and the run says so and fails.
#[test]
fn a_sweep_with_a_failed_look_up_says_the_next_sweep_retries() {
    let w = World::new();
    let ours = w.seed_ours();
    let stale = w.seed_ours();
    w.write_token(&ours.token);
    fs::create_dir_all(w.state_dir()).unwrap();
    fs::write(w.record_file(), format!("{}\n", stale.accessor)).unwrap();
    w.server.inject_fault(Fault::new(
        Some(Method::POST),
        "auth/token/lookup-accessor",
        FaultKind::status(500),
        1,
    ));
    let run = w.run(&["sweep", "--retries", "0", "--sweep-concurrency", "1"]);
    assert_eq!(run.code, 4, "{run:?}");
    let line = w.last_log_line();
    assert!(line.contains(" FAIL: sweep incomplete: swept ("), "{line}");
    assert!(
        line.contains("1 look-up(s) or revoke(s) failed, the next sweep retries"),
        "{line}"
    );
    assert!(
        w.server.token_alive(&stale.token),
        "left for the next sweep"
    );
    let recorded = fs::read_to_string(w.record_file()).unwrap();
    assert!(recorded.contains(&stale.accessor), "still on record");
}

/// A dry run revokes nothing, so a token that may look up accessors but not revoke them can
/// still show what a sweep would do; a real sweep with it refuses and changes nothing.
#[test]
fn a_dry_run_needs_no_revoke_capability() {
    let w = World::new();
    let ours = w.seed_ours();
    let stale = w.seed_ours();
    w.write_token(&ours.token);
    fs::create_dir_all(w.state_dir()).unwrap();
    fs::write(w.record_file(), format!("{}\n", stale.accessor)).unwrap();
    let may_look_up_only = r#"{"data":{"auth/token/accessors":["deny"],"auth/token/accessors/":["deny"],"auth/token/lookup-accessor":["update"],"auth/token/revoke-accessor":["deny"]}}"#;
    let answer_capabilities = || {
        w.server.inject_fault(Fault::new(
            Some(Method::POST),
            "sys/capabilities-self",
            FaultKind::Status {
                code: 200,
                body: Some(may_look_up_only.into()),
            },
            1,
        ))
    };

    answer_capabilities();
    let run = w.run(&["sweep", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("would revoke 1 stale"), "{run:?}");
    assert!(
        run.stdout.contains(" examined 1)"),
        "the recorded copy is all it may find: {run:?}"
    );

    answer_capabilities();
    let run = w.run(&["sweep"]);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        w.last_log_line()
            .contains("the token may not revoke by accessor, so nothing was swept"),
        "{}",
        w.last_log_line()
    );
    assert!(w.server.token_alive(&stale.token));
}

/// The line stays within `MAX_LINE` bytes even when the cut falls inside a multi-byte
/// character (our own `—` separators), and no line or paragraph separator survives in it.
#[test]
fn a_long_line_is_cut_within_its_bound_and_stays_one_line() {
    use vault_token_renew::runlog::{MAX_LINE, Outcome, Report, one_line};
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for pad in 0..3 {
        let message = format!("{}{}", "x".repeat(pad), "—".repeat(MAX_LINE));
        let line = Report::new(Outcome::Fail, message).line(at);
        assert!(line.len() <= MAX_LINE, "{pad}: {} bytes", line.len());
        assert!(line.len() >= MAX_LINE - 6, "{pad}: {} bytes", line.len());
        assert!(line.ends_with("—…"), "{pad}");
    }
    for separator in ['\u{2028}', '\u{2029}', '\n', '\u{85}'] {
        let text = one_line(&format!("a{separator}b"));
        assert!(!text.contains(separator), "{separator:?}: {text}");
    }
}
