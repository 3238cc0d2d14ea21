//! Races: many runs at once on a clobbered file, and a `vault login` landing in the middle of a heal
//! — including in the instant before the swap (the debug binary parks there on request).

mod common;
mod hardening;

use common::*;
use hardening::{Prepared, Scenario};
use reqwest::Method;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const RUNS: usize = 24;

scenarios! {
    fn simultaneous_runs_on_a_clobbered_file_leave_exactly_one_token(kind k) {
        let p = Prepared::on(k, Scenario::Heal);
        let w = &p.world;
        // All start together; the run lock serialises them: one heals, the rest renew its token.
        let children: Vec<_> = (0..RUNS).map(|_| w.spawn(&["renew"])).collect();
        let runs: Vec<Run> = children
            .into_iter()
            .map(|c| w.finish(c.wait_with_output().unwrap()))
            .collect();
        println!("concurrency: {RUNS} simultaneous runs");

        for run in &runs {
            assert_eq!(run.code, 0, "every run succeeds: {run:?}");
    }
    let lines = w.log_lines();
    assert_eq!(lines.len(), RUNS, "one line per run: {lines:?}");
    assert_eq!(
        lines.iter().filter(|l| l.contains(" HEALED: ")).count(),
        1,
        "exactly one run heals: {lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains(" OK renewed ")).count(),
        RUNS - 1,
        "{lines:?}"
    );
    let alive = w.our_alive_accessors();
    let file = w.file_token_view();
    assert_eq!(
        alive,
        std::slice::from_ref(&file.accessor),
        "exactly one of ours alive: the file's"
    );
    assert_eq!(file.period, PERIOD);
    assert_eq!(w.file_mode(), 0o600);
    assert_eq!(
        w.server
            .request_count(Method::POST, "auth/token/create-orphan"),
        1,
        "one mint in all"
    );
    p.check_bystanders().unwrap();
    }
}

/// Parks the heal at a request (the double delays it) once `reached` says the heal got past
/// reading the file, writes a login to the file meanwhile, and checks the login survives and the
/// minted token is revoked.
fn login_during_heal(kind: Kind, method: Method, path: &str, skip: u32, reached: (Method, &str)) {
    let p = Prepared::on(kind, Scenario::Heal);
    let w = &p.world;
    w.server.inject_fault_after(
        Fault::new(
            Some(method),
            path,
            FaultKind::Delay(Duration::from_millis(1500)),
            1,
        ),
        skip,
    );
    let child = w.spawn(&["renew"]);
    // The double records a request once answered: when the one before the parked request is
    // recorded, the heal has read the file and is waiting on the delayed request.
    let start = std::time::Instant::now();
    while w.server.request_count(reached.0.clone(), reached.1) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the heal never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let fresh = w.seed_oidc_login();
    w.write_token(&fresh.token);
    let run = w.finish(child.wait_with_output().unwrap());

    assert_eq!(run.code, 4, "{run:?}");
    let line = w.last_log_line();
    assert!(line.contains("changed while we worked"), "{line}");
    assert!(line.contains("the minted token was revoked"), "{line}");
    assert_eq!(
        w.file_content().unwrap(),
        fresh.token,
        "the new login is never overwritten"
    );
    assert_eq!(w.file_mode(), 0o600);
    let ours_alive = w
        .our_alive_accessors()
        .iter()
        .filter(|a| !p.preexisting.contains(*a))
        .count();
    assert_eq!(
        ours_alive, 0,
        "the token minted for the old file is revoked"
    );
    assert!(w.server.token_alive(&fresh.token));
    // And the next run heals the new login as usual.
    let run = w.run(&["renew"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.last_log_line().contains(" HEALED: "));
}

scenarios! {
    fn a_login_written_while_the_mint_is_in_flight_wins(kind k) {
        login_during_heal(
            k,
            Method::POST,
            "auth/token/create-orphan",
            0,
            (Method::GET, "auth/token/lookup-self"),
        );
    }

    fn a_login_written_while_the_new_token_is_verified_wins(kind k) {
        login_during_heal(
            k,
            Method::GET,
            "auth/token/lookup-self",
            1,
            (Method::POST, "auth/token/create-orphan"),
        );
    }
}

/// The debug binary's hook (`tokenfile::SWAP_GATE_VAR`): it creates this file and waits until the
/// test removes it, just before it swaps the new token into place.
const GATE_VAR: &str = "VAULT_TOKEN_RENEW_TEST_SWAP_GATE";

/// Waits until the run parks at the gate; panics if it never does (a release binary ignores it).
fn wait_for_gate(gate: &Path, child: &mut std::process::Child) {
    let start = Instant::now();
    while !gate.exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) without parking at the swap gate");
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the run never parked at the swap gate (a release build ignores the hook)"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

scenarios! {
    fn a_login_written_just_before_the_swap_survives_and_the_mint_is_revoked(kind k) {
        let p = Prepared::on(k, Scenario::Heal);
        let w = &p.world;
        let gate = w.home.path().join("swap-gate");
        let mut child = w
            .command(&["renew"])
            .env(GATE_VAR, &gate)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_gate(&gate, &mut child);
        let fresh = w.seed_oidc_login();
        w.write_token(&fresh.token);
        std::fs::remove_file(&gate).unwrap();
        let run = w.finish(child.wait_with_output().unwrap());

        assert_eq!(
            w.file_content().unwrap(),
            fresh.token,
            "the login written during the swap is never overwritten"
        );
        assert_eq!(w.file_mode(), 0o600);
        assert_eq!(run.code, 4, "{run:?}");
        let line = w.last_log_line();
        assert!(line.contains("changed while we worked"), "{line}");
        assert!(line.contains("the minted token was revoked"), "{line}");
        let minted_alive = w
            .our_alive_accessors()
            .into_iter()
            .filter(|a| !p.preexisting.contains(a))
            .count();
        assert_eq!(
            minted_alive, 0,
            "the token minted for the old file is revoked"
        );
        assert!(w.server.token_alive(&fresh.token));
    }
}
