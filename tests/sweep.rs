//! The sweep's cost and manners: the recorded-accessor fast path, a streamed accessor list, a
//! list that breaks off, and a rate-limiting server. Request counts, never times.

mod common;

use common::*;
use std::fs;

const LOOKUP_ACCESSOR: &str = "auth/token/lookup-accessor";
const REVOKE_ACCESSOR: &str = "auth/token/revoke-accessor";
const ACCESSORS: &str = "auth/token/accessors";

/// Requests the double recorded for this verb and path (trailing slash ignored).
fn count(w: &World, method: &str, path: &str) -> usize {
    w.server
        .requests()
        .iter()
        .filter(|(m, p, _)| m.as_str() == method && p.trim_end_matches('/') == path)
        .count()
}

fn record(w: &World, accessors: &[&str]) {
    fs::create_dir_all(w.state_dir()).unwrap();
    let text: String = accessors.iter().map(|a| format!("{a}\n")).collect();
    fs::write(w.state_dir().join("minted-accessors"), text).unwrap();
}

/// Our policies may look up and revoke by accessor but not list (no sudo): only the record can
/// find stale copies, and each costs exactly one revoke.
#[test]
fn recorded_fast_path_costs_one_revoke_per_recorded_accessor() {
    let w = World::new();
    w.server.add_policy(
        "token-sweeper",
        &[
            (LOOKUP_ACCESSOR, &["update"]),
            (REVOKE_ACCESSOR, &["update"]),
        ],
    );
    let config = w.home.path().join(".config/vault-token-renew/config.toml");
    fs::write(
        &config,
        format!(
            "vault_addr = \"{}\"\ndisplay_name = \"devvm-alice\"\npolicies = [\"token-sweeper\", \"sops-admin\"]\nretries = 1\ntimeout = \"5s\"\n",
            w.server.url()
        ),
    )
    .unwrap();
    let ours = || {
        w.server.add_token(TokenSpec::periodic(
            "devvm-alice",
            &["token-sweeper", "sops-admin"],
            PERIOD,
        ))
    };
    let stale: Vec<Seeded> = (0..3).map(|_| ours()).collect();
    let unrecorded = ours();
    for _ in 0..50 {
        w.seed_kubernetes_login();
    }
    record(
        &w,
        &stale
            .iter()
            .map(|s| s.accessor.as_str())
            .collect::<Vec<_>>(),
    );
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    w.server.reset_requests();

    let run = w.run(&["renew"]);

    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        w.last_log_line()
            .contains("(revoked 3 stale periodic token(s))"),
        "{}",
        w.last_log_line()
    );
    assert!(stale.iter().all(|s| !w.server.token_alive(&s.token)));
    assert!(
        w.server.token_alive(&unrecorded.token),
        "without listing, an unrecorded copy cannot be found"
    );
    assert_eq!(count(&w, "POST", REVOKE_ACCESSOR), 3);
    assert_eq!(count(&w, "POST", LOOKUP_ACCESSOR), 0);
    assert_eq!(count(&w, "GET", ACCESSORS), 0);
    // lookup-self (file), capabilities-self (mint path), create-orphan, lookup-self (minted),
    // capabilities-self (sweep), 3 revokes.
    assert_eq!(w.server.requests().len(), 8, "{:?}", w.server.requests());
    let recorded = fs::read_to_string(w.state_dir().join("minted-accessors")).unwrap();
    assert_eq!(recorded.trim(), w.file_token_view().accessor);
}

/// A list far larger than the concurrency: every accessor is looked up once, every stale copy
/// (recorded or not) revoked once, nothing else touched.
#[test]
fn large_list_is_swept_completely_with_one_request_per_accessor() {
    let w = World::new();
    let mut others = vec![];
    for i in 0..2_000 {
        others.push(w.server.add_token(TokenSpec::login(
            &format!("kubernetes-ci-runner-{}", i % 7),
            &["ci"],
            &[],
        )));
    }
    let stale: Vec<Seeded> = (0..25).map(|_| w.seed_ours()).collect();
    record(
        &w,
        &[stale[0].accessor.as_str(), stale[1].accessor.as_str()],
    );
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    w.server.reset_requests();

    let run = w.run(&["renew"]);

    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        w.last_log_line()
            .contains("(revoked 25 stale periodic token(s))"),
        "{}",
        w.last_log_line()
    );
    assert!(stale.iter().all(|s| !w.server.token_alive(&s.token)));
    assert!(others.iter().all(|o| w.server.token_alive(&o.token)));
    assert!(w.server.token_alive(&login.token));
    // Live service tokens: the others, the stale copies, the login, the new token (and `root`,
    // which the demo seeds). Recorded ones are revoked without a look-up; the new one is skipped.
    let live = others.len() + stale.len() + 1 + 1 + 1;
    assert_eq!(count(&w, "GET", ACCESSORS), 1);
    assert_eq!(count(&w, "POST", LOOKUP_ACCESSOR), live - 1 - 2);
    assert_eq!(count(&w, "POST", REVOKE_ACCESSOR), 25);
}

/// The list answer breaks off half-way: what arrived is swept, and the line says the sweep is
/// incomplete rather than pretending it finished.
#[test]
fn list_breaking_off_is_reported_and_what_arrived_is_swept() {
    let w = World::new();
    for _ in 0..500 {
        w.seed_kubernetes_login();
    }
    let recorded = w.seed_ours();
    record(&w, &[recorded.accessor.as_str()]);
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    w.server
        .inject_fault(Fault::new(None, ACCESSORS, FaultKind::DropMidBody, 1));
    w.server.reset_requests();

    let run = w.run(&["renew"]);

    assert_eq!(run.code, 0, "the heal itself succeeded: {run:?}");
    let line = w.last_log_line();
    assert!(line.contains(" HEALED: "), "{line}");
    assert!(
        line.contains("sweep: the accessor list broke off after "),
        "{line}"
    );
    assert!(
        !w.server.token_alive(&recorded.token),
        "the record still works"
    );
    let looked_up = count(&w, "POST", LOOKUP_ACCESSOR);
    assert!(looked_up > 0 && looked_up < 500, "{looked_up}");
}

/// A rate-limiting server: 429s during the sweep are waited out and retried, and the sweep ends
/// complete, with no look-up counted as failed.
#[test]
fn rate_limited_sweep_waits_and_completes() {
    let w = World::new();
    for _ in 0..100 {
        w.seed_kubernetes_login();
    }
    let stale: Vec<Seeded> = (0..3).map(|_| w.seed_ours()).collect();
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    w.server
        .inject_fault(Fault::new(None, LOOKUP_ACCESSOR, FaultKind::status(429), 6));
    w.server.reset_requests();

    // Retries to spare, so which request happens to draw which 429 cannot matter.
    let run = w.run_env(&["renew"], &[("VAULT_TOKEN_RENEW_RETRIES", "3")]);

    assert_eq!(run.code, 0, "{run:?}");
    let line = w.last_log_line();
    assert!(
        line.ends_with("(revoked 3 stale periodic token(s))"),
        "{line}"
    );
    assert!(stale.iter().all(|s| !w.server.token_alive(&s.token)));
    let throttled = w
        .server
        .requests()
        .iter()
        .filter(|(_, p, status)| p == LOOKUP_ACCESSOR && *status == 429)
        .count();
    assert_eq!(throttled, 6);
}

/// The list's answer is read while the sweep runs, so its whole-request bound is the run's
/// deadline; but a server that sends no answer at all is still given up on after `timeout`,
/// and the recorded accessors are swept regardless.
#[test]
fn a_list_that_never_answers_times_out_and_the_record_still_works() {
    let w = World::new();
    let recorded = w.seed_ours();
    record(&w, &[recorded.accessor.as_str()]);
    let login = w.seed_oidc_login();
    w.write_token(&login.token);
    w.server.inject_fault(Fault::new(
        None,
        ACCESSORS,
        FaultKind::Delay(std::time::Duration::from_secs(30)),
        1,
    ));

    let run = w.run_env(
        &["renew"],
        &[
            ("VAULT_TOKEN_RENEW_TIMEOUT", "1s"),
            ("VAULT_TOKEN_RENEW_RETRIES", "0"),
        ],
    );

    assert_eq!(run.code, 0, "{run:?}");
    let line = w.last_log_line();
    assert!(line.contains("sweep: cannot list accessors ("), "{line}");
    assert!(line.contains("timed out"), "{line}");
    // Had the 30 s stall been waited out, the list would have arrived and nothing timed out.
    assert!(!w.server.token_alive(&recorded.token));
}
