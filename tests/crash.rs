//! Crash safety: park a run at each step of a heal (the double delays that request) or at the
//! file write, SIGKILL it, and run again. The file must always hold a complete, valid token; no
//! temp file holding a secret may survive the next run; the next runs converge, and the sweep
//! cleans up whatever the killed run minted.

mod common;
mod hardening;

use common::*;
use hardening::{Prepared, Scenario};
use reqwest::Method;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Long enough to kill the run while the request is parked; short enough that the double
/// finishes it (e.g. mints) before the next run, as a server would after losing its client.
const PARK: Duration = Duration::from_millis(1500);

fn spawn(p: &Prepared) -> Child {
    let mut args = p.scenario.args();
    args.extend(["--retries", "0"]);
    let mut cmd = p.world.command(&args);
    for (k, v) in p.env_refs() {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn temp_files(p: &Prepared) -> Vec<PathBuf> {
    fs::read_dir(p.world.home.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().contains(".vault-token-renew-"))
        })
        .collect()
}

/// Kills the run and checks what it left, then runs again and checks it converges.
/// Returns what the kill stranded (minted, alive, not in the file) before the recovery swept it.
fn kill_and_recover(p: &Prepared, mut child: Child) -> Vec<String> {
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    p.world.finish(out);
    assert!(
        p.world.log_lines().is_empty(),
        "the run was killed mid-way, before its log line"
    );
    // The file is whole: the original, or a verified token of ours, mode 0600.
    p.check_file().unwrap();
    // Let the parked request finish on the server, as it would after its client died.
    std::thread::sleep(PARK);

    let stranded_by_the_kill = p.stranded();
    p.converge().unwrap();
    if !stranded_by_the_kill.is_empty() {
        println!("the kill stranded {stranded_by_the_kill:?}; the sweep revoked it");
    }
    assert!(
        temp_files(p).is_empty(),
        "a temp file survived: {:?}",
        temp_files(p)
    );
    assert!(
        p.stranded().is_empty(),
        "a minted token survived the sweep: {:?}",
        p.stranded()
    );
    stranded_by_the_kill
}

/// Parks `scenario` at the `skip`-th `method path` request, kills it there, and recovers.
fn kill_at(kind: Kind, scenario: Scenario, method: Method, path: &str, skip: u32) -> Vec<String> {
    let p = Prepared::on(kind, scenario);
    let w = &p.world;
    w.server.inject_fault_after(
        Fault::new(Some(method.clone()), path, FaultKind::Delay(PARK), 1),
        skip,
    );
    // The double records a request once answered, so the parked one is the one past the count.
    let before = requests_before(&p, &method, path, skip);
    w.server.reset_requests();
    let child = spawn(&p);
    wait_for("the run to reach the parked request", || {
        w.server.requests().len() >= before
    });
    std::thread::sleep(Duration::from_millis(150));
    kill_and_recover(&p, child)
}

/// How many requests precede the targeted one on a healthy run of the same world.
fn requests_before(p: &Prepared, method: &Method, path: &str, skip: u32) -> usize {
    let twin = Prepared::on(p.world.server.kind(), p.scenario);
    twin.world.server.reset_requests();
    assert_eq!(twin.run(&[]).code, 0);
    twin.world
        .server
        .requests()
        .iter()
        .enumerate()
        .filter(|(_, (m, pth, _))| m == method && pth.trim_end_matches('/') == path)
        .nth(skip as usize)
        .map(|(i, _)| i)
        .expect("the path makes the request")
}

scenarios! {
    fn killed_while_looking_up_the_file_token(kind k) {
        kill_at(k, Scenario::Heal, Method::GET, "auth/token/lookup-self", 0);
    }
    fn killed_while_renewing(kind k) {
        kill_at(k, Scenario::Renew, Method::POST, "auth/token/renew-self", 0);
    }
    fn killed_while_the_mint_is_in_flight(kind k) {
        let stranded = kill_at(k, Scenario::Heal, Method::POST, "auth/token/create-orphan", 0);
        // The double drops a parked request when its client hangs up; a real server behind the
        // proxy gets it after the kill and mints a token nobody holds: the recovery swept it.
        if k == Kind::OpenBao {
            assert_eq!(stranded.len(), 1, "the kill stranded the mint: {stranded:?}");
        }
    }
    fn killed_while_verifying_the_minted_token(kind k) {
        kill_at(k, Scenario::Heal, Method::GET, "auth/token/lookup-self", 1);
    }
    fn killed_after_the_install_before_the_sweep(kind k) {
        kill_at(k, Scenario::Heal, Method::POST, "sys/capabilities-self", 0);
    }
    fn killed_while_listing_accessors(kind k) {
        kill_at(k, Scenario::Heal, Method::GET, "auth/token/accessors", 0);
    }
    fn killed_while_sweeping(kind k) {
        kill_at(k, Scenario::Heal,
        Method::POST,
        "auth/token/lookup-accessor",
        0,);
    }
    fn killed_while_revoking_a_stale_copy(kind k) {
        kill_at(k, Scenario::Heal,
        Method::POST,
        "auth/token/revoke-accessor",
        0,);
    }
    fn killed_during_a_mint_command(kind k) {
        kill_at(k, Scenario::Mint, Method::GET, "auth/token/lookup-self", 0);
    }
}

scenarios! {
    /// The file write itself: the minted token is in a synced temp file beside the token file,
    /// and the swap has not happened. The debug binary parks there while the gate file exists
    /// (the `VAULT_TOKEN_RENEW_TEST_SWAP_GATE` hook, which release builds ignore).
    fn killed_between_the_temp_file_and_the_rename(kind k) {
        let p = Prepared::on(k, Scenario::Heal);
        let w = &p.world;
        let tools = tempfile::tempdir().unwrap();
        let marker = tools.path().join("parked");
        let child = w
            .command(&["renew", "--retries", "0"])
            .env("VAULT_TOKEN_RENEW_TEST_SWAP_GATE", &marker)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the run to park at the rename", || marker.exists());
        let temps = temp_files(&p);
        assert_eq!(temps.len(), 1, "{temps:?}");
        let leftover = fs::read_to_string(&temps[0]).unwrap();
        let minted = w
            .server
            .lookup(&leftover)
            .expect("the temp file holds the complete minted token");
        assert_eq!(minted.display_name, OUR_NAME);
        let meta = fs::metadata(&temps[0]).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
        assert_eq!(w.file_content().unwrap(), p.original, "not swapped yet");

        let mut child = child;
        child.kill().unwrap();
        w.finish(child.wait_with_output().unwrap());
        assert_eq!(temp_files(&p).len(), 1, "the killed run left its temp file");
        p.check_file().unwrap();

        p.converge().unwrap();
        assert!(
            temp_files(&p).is_empty(),
            "the next run removed the temp file"
        );
        assert!(
            !w.server.token_alive(&leftover),
            "the token in the temp file was recorded when minted, then swept"
        );
        assert!(p.stranded().is_empty());
    }
}

scenarios! {
    /// Killed after the install, before the sweep: the next plain `renew` notices the other
    /// minted accessors on record and sweeps them, without waiting for a heal that may never come.
    fn the_next_renew_sweeps_what_a_killed_heal_left(kind k) {
        let p = Prepared::on(k, Scenario::Heal);
        let w = &p.world;
        // The heal asks capabilities-self twice: which mint path (before the mint), then whether it
        // may list accessors (the sweep's first request). Park the second.
        w.server.inject_fault_after(
            Fault::new(
                Some(Method::POST),
                "sys/capabilities-self",
                FaultKind::Delay(PARK),
                1,
            ),
            1,
        );
        let mut child = spawn(&p);
        wait_for("the install", || {
            w.file_content().is_some_and(|c| c != p.original)
        });
        std::thread::sleep(Duration::from_millis(100));
        child.kill().unwrap();
        w.finish(child.wait_with_output().unwrap());
        assert!(w.log_lines().is_empty(), "killed before its log line");
        std::thread::sleep(PARK);
        let stale_alive = || {
            w.our_alive_accessors()
                .iter()
                .filter(|a| p.preexisting.contains(*a))
                .count()
        };
        assert_eq!(stale_alive(), 2, "the killed heal swept nothing");

        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.contains(" OK renewed ")
                && line.contains("leftover mints: revoked 2 stale periodic token(s)"),
            "{line}"
        );
        assert_eq!(stale_alive(), 0);
        // And a clean record means the run after is a plain renewal again.
        w.server.reset_requests();
        assert_eq!(w.run(&["renew"]).code, 0);
        assert_eq!(w.server.requests().len(), 2, "{:?}", w.server.requests());
    }
}
