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
    fs::write(w.record_file(), text).unwrap();
}

// Our policies may look up and revoke by accessor but not list (no sudo): only the record can
// find stale copies, and each costs one look-up (a record proves nothing; the mark does) and one
// revoke.
scenarios! {
    fn recorded_fast_path_costs_one_revoke_per_recorded_accessor(w) {
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
            w.server.add_token(w.marked(TokenSpec::periodic(
                "devvm-alice",
                &["token-sweeper", "sops-admin"],
                PERIOD,
            )))
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
        assert_eq!(count(&w, "POST", LOOKUP_ACCESSOR), 3);
        assert_eq!(count(&w, "GET", ACCESSORS), 0);
        // lookup-self (file), capabilities-self (mint path), create-orphan, lookup-self (minted),
        // capabilities-self (sweep), 3 look-ups, 3 revokes.
        assert_eq!(w.server.requests().len(), 11, "{:?}", w.server.requests());
        let recorded = fs::read_to_string(w.record_file()).unwrap();
        assert_eq!(recorded.trim(), w.file_token_view().accessor);
    }

    /// A list far larger than the concurrency: every accessor is looked up once, every stale copy
    /// (recorded or not) revoked once, nothing else touched.
    fn large_list_is_swept_completely_with_one_request_per_accessor(w) {
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
        // which the demo seeds). Each is looked up once, recorded or listed; the new one is skipped.
        let live = others.len() + stale.len() + 1 + 1 + 1;
        assert_eq!(count(&w, "GET", ACCESSORS), 1);
        assert_eq!(count(&w, "POST", LOOKUP_ACCESSOR), live - 1);
        assert_eq!(count(&w, "POST", REVOKE_ACCESSOR), 25);
    }

    /// The list answer breaks off half-way: what arrived is swept, and the line says the sweep is
    /// incomplete rather than pretending it finished.
    fn list_breaking_off_is_reported_and_what_arrived_is_swept(w) {
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
    fn rate_limited_sweep_waits_and_completes(w) {
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
    fn a_list_that_never_answers_times_out_and_the_record_still_works(w) {
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

    /// Issue 12: two configurations of one user (two token files, one display name) share the
    /// default state dir. Each heal must leave the other configuration's token alive — neither the
    /// record nor the list may let one revoke the other's.
    fn two_configurations_sharing_a_state_dir_never_revoke_each_other(w) {
        let second_file = w.home.path().join(".vault-token-second");
        let second = second_file.to_str().unwrap();
        let login_a = w.seed_oidc_login();
        w.write_token(&login_a.token);
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        let first_token = w.file_content().unwrap();

        let login_b = w.seed_oidc_login();
        fs::write(&second_file, &login_b.token).unwrap();
        let run = w.run_env(&["renew"], &[("VAULT_TOKEN_RENEW_TOKEN_FILE", second)]);
        assert_eq!(run.code, 0, "{run:?}");
        let second_token = fs::read_to_string(&second_file).unwrap();
        assert_ne!(second_token, login_b.token, "the second file was healed");

        assert!(
            w.server.token_alive(&first_token),
            "the second configuration's heal revoked the first one's token: {}",
            w.last_log_line()
        );
        // And the other way round: a sweep of the first leaves the second alone.
        let run = w.run(&["sweep"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(w.server.token_alive(&second_token), "{}", w.last_log_line());
        assert!(w.server.token_alive(&first_token));
    }

}

/// A token with our display name minted on another machine that shares this home-manager config.
fn seed_other_machines(w: &World) -> Seeded {
    let mut elsewhere = w.our_identity();
    elsewhere.machine = "another-machine".into();
    let mut spec = TokenSpec::periodic("devvm-alice", &OUR_POLICIES, PERIOD);
    spec.meta = Some(elsewhere.mint_meta("devvm-alice", "devvm", "their-nonce"));
    w.server.add_token(spec)
}

// Issue 12: two dev VMs share one config (same display name). A heal or sweep on one never
// revokes the other's token; `status` and `sweep --dry-run` report it; only
// `sweep --include-unmarked` revokes it, as it does an unmarked older mint.

scenarios! {
    fn another_machines_same_named_token_is_reported_and_revoked_only_on_request(w) {
        let theirs = seed_other_machines(&w);
        let older = w
            .server
            .add_token(TokenSpec::periodic("devvm-alice", &OUR_POLICIES, PERIOD));
        let stale = w.seed_ours();
        let login = w.seed_oidc_login();
        w.write_token(&login.token);

        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(line.contains("(revoked 1 stale periodic token(s); left 2 token(s) with our display name but not this configuration's mark ("), "{line}");
        assert!(
            line.contains(&format!("{} another machine's", theirs.accessor)),
            "{line}"
        );
        assert!(
            line.contains(&format!("{} no identity mark", older.accessor)),
            "{line}"
        );
        assert!(!w.server.token_alive(&stale.token));
        assert!(
            w.server.token_alive(&theirs.token),
            "another machine's token survives the heal"
        );
        assert!(w.server.token_alive(&older.token));
        let ours = w.file_token_view().accessor;

        let run = w.run(&["sweep"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(w.server.token_alive(&theirs.token), "and the sweep");

        let run = w.run(&["status", "--json"]);
        assert_eq!(run.code, 0, "{run:?}");
        let st: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(st["copies"]["listed"], true, "{st}");
        assert_eq!(st["copies"]["stale"], serde_json::json!([]), "{st}");
        let mut unmarked: Vec<(String, String)> = st["copies"]["unmarked"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["accessor"].as_str().unwrap().into(),
                    u["reason"].as_str().unwrap().into(),
                )
            })
            .collect();
        unmarked.sort();
        let mut want = vec![
            (theirs.accessor.clone(), "other-machine".to_string()),
            (older.accessor.clone(), "unmarked".to_string()),
        ];
        want.sort();
        assert_eq!(unmarked, want);
        assert_eq!(
            st["identity"]["configuration"],
            w.our_identity().config.as_str()
        );
        assert!(
            st["advice"]
                .as_str()
                .unwrap()
                .contains("--include-unmarked"),
            "{st}"
        );
        let text = w.run(&["status"]).stdout;
        assert!(
            text.contains(&format!("{} (other-machine)", theirs.accessor)),
            "{text}"
        );

        let log_before = w.log_lines();
        w.server.reset_requests();
        let run = w.run(&["sweep", "--dry-run", "--include-unmarked"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("dry run, nothing changed"), "{run:?}");
        assert!(
            run.stdout
                .contains("would revoke 2 stale periodic token(s) ("),
            "{run:?}"
        );
        assert_eq!(count(&w, "POST", REVOKE_ACCESSOR), 0);
        assert_eq!(w.log_lines(), log_before, "a dry run writes no log line");
        let run = w.run(&["sweep", "--dry-run"]);
        assert!(
            run.stdout
                .contains("would revoke 0 stale periodic token(s); left 2 token(s)"),
            "{run:?}"
        );
        assert!(w.server.token_alive(&theirs.token) && w.server.token_alive(&older.token));

        let run = w.run(&["sweep", "--include-unmarked"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            w.last_log_line()
                .contains("revoked 2 stale periodic token(s)"),
            "{}",
            w.last_log_line()
        );
        assert!(!w.server.token_alive(&theirs.token) && !w.server.token_alive(&older.token));
        assert_eq!(w.our_alive_accessors(), [ours], "the file's token is kept");
    }

    /// The record is no proof: a recorded accessor is looked up, and revoked only if it carries our
    /// name and our mark — even where the token may not list, so the record is all there is.
    fn recorded_accessors_are_checked_before_they_are_revoked(w) {
        w.server.add_policy(
            "token-sweeper",
            &[
                (LOOKUP_ACCESSOR, &["update"]),
                (REVOKE_ACCESSOR, &["update"]),
            ],
        );
        w.write_config("");
        let config = w.home.path().join(".config/vault-token-renew/config.toml");
        let text = fs::read_to_string(&config).unwrap().replace(
            "\"vault-admin\", \"sops-admin\"",
            "\"token-sweeper\", \"sops-admin\"",
        );
        fs::write(&config, text).unwrap();
        let stale = w.server.add_token(w.marked(TokenSpec::periodic(
            "devvm-alice",
            &["token-sweeper", "sops-admin"],
            PERIOD,
        )));
        let theirs = seed_other_machines(&w);
        let bob = w
            .server
            .add_token(TokenSpec::periodic("othervm-bob", &OUR_POLICIES, PERIOD));
        record(&w, &[&stale.accessor, &theirs.accessor, &bob.accessor]);
        let login = w.seed_oidc_login();
        w.write_token(&login.token);
        w.server.reset_requests();

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 0, "{run:?}");
        assert!(!w.server.token_alive(&stale.token));
        assert!(
            w.server.token_alive(&theirs.token),
            "recorded, same name, another machine: kept"
        );
        assert!(
            w.server.token_alive(&bob.token),
            "recorded, another name: kept"
        );
        assert_eq!(count(&w, "POST", LOOKUP_ACCESSOR), 3);
        assert_eq!(count(&w, "POST", REVOKE_ACCESSOR), 1);
        assert_eq!(count(&w, "GET", ACCESSORS), 0);
        let line = w.last_log_line();
        assert!(
            line.contains("(revoked 1 stale periodic token(s); left 1 token(s)"),
            "{line}"
        );
        // Settled accessors leave the record; only the file's token remains in it.
        let recorded = fs::read_to_string(w.record_file()).unwrap();
        assert_eq!(recorded.trim(), w.file_token_view().accessor);
    }
}
