//! The behaviour matrix, end to end: the real binary against the Vault double, asserting on what a
//! user sees — the file, the server's state, the log line, the exit code.

mod common;

use common::*;
use reqwest::Method;

scenarios! {
    fn our_token_is_renewed_with_exactly_two_requests(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        // Ten days on, so the renewal visibly resets the TTL (only the double has a clock).
        if w.server.kind() == Kind::Double {
            w.server.advance_clock(std::time::Duration::from_secs(10 * 86400));
        }
        w.server.reset_requests();

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.ends_with(&format!(" OK renewed (dn={OUR_NAME} ttl={PERIOD}s)")),
            "{line}"
        );
        assert!(
            run.stderr.contains(&line),
            "the log line goes to stderr too: {run:?}"
        );
        assert_eq!(w.log_lines().len(), 1);
        assert_eq!(
            w.file_content().unwrap(),
            ours.token,
            "the file is untouched"
        );
        let requests = w.server.requests();
        assert_eq!(requests.len(), 2, "{requests:?}");
        assert_eq!(
            w.server
                .request_count(Method::GET, "auth/token/lookup-self"),
            1
        );
        assert_eq!(
            w.server
                .request_count(Method::POST, "auth/token/renew-self"),
            1
        );
        let view = w.server.lookup(&ours.token).unwrap();
        assert_eq!(view.renewals, 1);
        assert!(
            view.ttl > PERIOD - 5,
            "renewal reset the TTL to the period: {}",
            view.ttl
        );
    }

    fn a_bare_invocation_renews(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let run = w.run(&[]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(w.last_log_line().contains(" OK renewed"));
    }

    fn renew_ignores_vault_token_in_the_environment(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let login = w.seed_kubernetes_login();
        let run = w.run_env(&["renew"], &[("VAULT_TOKEN", &login.token)]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(w.server.lookup(&ours.token).unwrap().renewals, 1);
        assert_eq!(w.server.lookup(&login.token).unwrap().renewals, 0);
    }

    fn oidc_admin_clobber_is_healed_and_stale_copies_swept(w) {
        // Two stale copies of our token (earlier mints), one recorded by us, one only findable by listing.
        let stale_a = w.seed_ours();
        let stale_b = w.seed_ours();
        std::fs::create_dir_all(w.state_dir()).unwrap();
        std::fs::write(w.record_file(), format!("{}\n", stale_a.accessor)).unwrap();
        // Unrelated tokens that must survive: another machine's periodic token, a CI login.
        let bob = w
            .server
            .add_token(TokenSpec::periodic("othervm-bob", &OUR_POLICIES, PERIOD));
        let ci = w.seed_kubernetes_login();
        let login = w.seed_oidc_login();
        w.write_token(&login.token);

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.ends_with(" HEALED: re-minted periodic token from foreign dn=oidc-alice@example.com (revoked 2 stale periodic token(s))"),
            "{line}"
        );
        let new = w.file_token_view();
        assert_eq!(new.display_name, OUR_NAME);
        assert_eq!(new.period, PERIOD);
        assert!(new.orphan && new.alive && new.renewable);
        assert_eq!(new.path, "auth/token/create-orphan");
        assert_eq!(
            new.policies,
            ["default", "sops-admin", "vault-admin"],
            "policies sent explicitly"
        );
        assert!(
            new.identity_policies.is_empty(),
            "a minted orphan has no entity"
        );
        assert_eq!(
            new.created_by.as_deref(),
            Some(login.accessor.as_str()),
            "minted with the login's authority"
        );
        assert_eq!(w.file_mode(), 0o600);
        let meta = new.meta.unwrap_or_default();
        assert!(
            meta.get("minted-by")
                .is_some_and(|m| m.starts_with("vault-token-renew/")),
            "{meta:?}"
        );
        let us = w.our_identity();
        assert_eq!(meta.get("config"), Some(&us.config), "{meta:?}");
        assert_eq!(meta.get("machine"), Some(&us.machine), "{meta:?}");
        assert_eq!(meta.get("user").map(String::as_str), Some("alice"));
        assert_eq!(meta.get("nonce").map(String::len), Some(32), "{meta:?}");

        assert!(
            w.server.token_alive(&login.token),
            "the clobbering login is never revoked"
        );
        assert!(!w.server.token_alive(&stale_a.token) && !w.server.token_alive(&stale_b.token));
        assert!(
            w.server.token_alive(&bob.token),
            "another name is never swept"
        );
        assert!(w.server.token_alive(&ci.token));
        assert_eq!(
            w.our_alive_accessors(),
            std::slice::from_ref(&new.accessor),
            "exactly one of ours alive: the file's"
        );

        // The record now holds only the new token's accessor.
        let recorded = std::fs::read_to_string(w.record_file()).unwrap();
        assert_eq!(recorded.trim(), new.accessor);

        // And the next run just renews it.
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            w.last_log_line()
                .contains(" OK renewed (dn=token-devvm-alice")
        );
    }

    fn kubernetes_clobber_is_refused_loudly_and_changes_nothing(w) {
        let ours = w.seed_ours();
        let k8s = w.seed_kubernetes_login();
        w.write_token(&k8s.token);
        let before = w.server.alive_tokens().len();

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 3, "{run:?}");
        let line = w.last_log_line();
        let file = w.token_file().display().to_string();
        assert!(
            line.contains(&format!(" DRIFT: {file} is dn=kubernetes-woodpecker-default — cannot heal: its capabilities allow no mint path, so no mint was sent (auth/token/create: deny; auth/token/create-orphan: deny)")),
            "{line}"
        );
        assert!(line.contains("investigate what wrote it. Manual re-mint: vault-token-renew mint --oidc"), "{line}");
        assert_eq!(w.file_content().unwrap(), k8s.token, "file unchanged");
        assert_eq!(w.server.alive_tokens().len(), before, "nothing minted");
        assert!(
            w.server.token_alive(&k8s.token) && w.server.token_alive(&ours.token),
            "nothing revoked"
        );
        assert_eq!(
            w.server.lookup(&k8s.token).unwrap().renewals,
            0,
            "a foreign token is never kept alive"
        );
    }

    fn create_authority_without_sudo_is_refused_without_sending_a_mint(w) {
        w.server
            .add_policy("token-writer", &[("auth/token/create-orphan", &["update"])]);
        let login = w
            .server
            .add_token(TokenSpec::login("oidc-carol", &["token-writer"], &[]));
        w.write_token(&login.token);

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 3, "{run:?}");
        assert!(
            w.last_log_line()
                .contains("(auth/token/create: deny; auth/token/create-orphan: update)"),
            "{}",
            w.last_log_line()
        );
        assert_eq!(
            w.server
                .request_count(Method::POST, "auth/token/create-orphan"),
            0,
            "a mint that could only be denied is never sent"
        );
        assert_eq!(w.file_content().unwrap(), login.token);
    }

    fn a_marked_copy_without_our_policies_is_swept_as_stale(w) {
        // The mark, not the policies, makes a same-named token a copy of ours.
        let weak_same_name =
            w.server
                .add_token(w.marked(TokenSpec::periodic("devvm-alice", &["sops-admin"], PERIOD)));
        w.server.add_policy(
            "admin-by-token",
            &[(
                "auth/token/*",
                &["create", "read", "update", "delete", "list", "sudo"],
            )],
        );
        let login = w
            .server
            .add_token(TokenSpec::login("oidc-alice", &["admin-by-token"], &[]));
        w.write_token(&login.token);
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(line.contains("HEALED: re-minted periodic token from foreign dn=oidc-alice (revoked 1 stale periodic token(s))"), "{line}");
        assert!(!w.server.token_alive(&weak_same_name.token));
    }

    /// Issue 12 item 7: the server minted, but the answer was lost on the way. The authority may
    /// list accessors, so the token is found by the attempt's nonce and revoked at once.
    fn a_mint_whose_answer_was_lost_is_found_by_its_nonce_and_revoked(w) {
        let login = w.seed_oidc_login();
        w.write_token(&login.token);
        w.server.inject_fault(Fault::new(
            Some(Method::POST),
            "auth/token/create-orphan",
            FaultKind::DropMidBody,
            1,
        ));

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 4, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.contains("the server had minted 1 token(s) before the answer was lost; found by this attempt's nonce and revoked"),
            "{line}"
        );
        let minted: Vec<TokenView> = w.minted_tokens();
        assert_eq!(minted.len(), 1, "the server did mint: {minted:?}");
        assert!(!minted[0].alive, "and the lost token is revoked");
        assert_eq!(
            w.file_content().unwrap(),
            login.token,
            "the file is unchanged"
        );
    }

    /// The same loss where the authority may not list accessors: nobody can find the token by
    /// accessor, and the line says so, naming the nonce it carries. A later heal whose authority may
    /// list revokes it, for it carries our mark.
    fn a_lost_mint_that_cannot_be_searched_for_is_said_so_and_a_listing_sweep_finds_it(w) {
        w.server.add_policy(
            "minter",
            &[
                ("auth/token/create-orphan", &["update", "sudo"]),
                ("auth/token/lookup-accessor", &["update"]),
                ("auth/token/revoke-accessor", &["update"]),
            ],
        );
        let minter = w
            .server
            .add_token(TokenSpec::login("oidc-alice", &["minter"], &[]));
        w.write_token(&minter.token);
        w.server.inject_fault(Fault::new(
            Some(Method::POST),
            "auth/token/create-orphan",
            FaultKind::DropMidBody,
            1,
        ));

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 4, "{run:?}");
        let line = w.last_log_line();
        assert!(line.contains("may not list, look up and revoke accessors, so a token the server may have minted before the answer was lost cannot be searched for"), "{line}");
        let lost = w.minted_tokens().into_iter().next().unwrap();
        assert!(lost.alive, "nobody could find it");
        let nonce = lost.meta.unwrap_or_default()["nonce"].clone();
        assert!(line.contains(&format!("meta nonce={nonce}")), "{line}");

        let login = w.seed_oidc_login();
        w.write_token(&login.token);
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            w.last_log_line()
                .contains("(revoked 1 stale periodic token(s))"),
            "{}",
            w.last_log_line()
        );
        assert!(
            w.server.lookup_accessor(&lost.accessor).is_none(),
            "revoked by the listing sweep"
        );
    }

    fn same_name_token_lacking_required_policies_is_foreign(w) {
        let impostor = w
            .server
            .add_token(TokenSpec::periodic("devvm-alice", &["ci"], PERIOD));
        w.write_token(&impostor.token);
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 3, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.contains(
                "is dn=token-devvm-alice without required policies vault-admin,sops-admin — cannot heal"
            ),
            "{line}"
        );
        assert_eq!(w.server.lookup(&impostor.token).unwrap().renewals, 0);
    }

    fn unreachable_server_fails_and_leaves_the_file(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let run = w.run(&[
            "renew",
            "--vault-addr",
            &format!("http://{closed}"),
            "--retries",
            "0",
        ]);
        assert_eq!(run.code, 4, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.contains(" FAIL: looking up the token in the file failed: cannot reach the server"),
            "{line}"
        );
        assert!(line.contains("the token file is unchanged"), "{line}");
        assert_eq!(w.file_content().unwrap(), ours.token);
    }

    fn transient_errors_are_retried(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        w.server.inject_fault(Fault::new(
            None,
            "auth/token/renew-self",
            FaultKind::status(502),
            1,
        ));
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(
            w.server
                .request_count(Method::POST, "auth/token/renew-self"),
            2
        );
    }

    fn a_revoked_token_in_the_file_says_to_mint(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        w.server.revoke(&ours.token);
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            w.last_log_line().contains(
                "is not valid (HTTP 403: permission denied) — it expired or was revoked; mint a new one"
            ),
            "{}",
            w.last_log_line()
        );
    }

    double_only("only the double's clock can let a token expire within a test")
    fn an_expired_token_in_the_file_says_to_mint(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        w.server
            .advance_clock(std::time::Duration::from_secs(PERIOD + 60));
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            w.last_log_line().contains(
                "is not valid (HTTP 403: permission denied) — it expired or was revoked; mint a new one"
            ),
            "{}",
            w.last_log_line()
        );
    }

    fn missing_or_broken_file_fails_without_creating_it(w) {
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            w.last_log_line()
                .contains("does not exist; mint our token first"),
            "{}",
            w.last_log_line()
        );
        assert!(w.file_content().is_none(), "renew never creates the file");

        std::fs::write(w.token_file(), "\n").unwrap();
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(w.last_log_line().contains("is empty"));
        assert_eq!(
            w.file_content().unwrap(),
            "\n",
            "renew never rewrites a broken file"
        );
    }

    fn mint_with_vault_token_installs_our_token(w) {
        let run = w.run_env(&["mint"], &[("VAULT_TOKEN", "root")]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            w.last_log_line()
                .contains(" OK minted periodic token (dn=token-devvm-alice period=2764800s)"),
            "{}",
            w.last_log_line()
        );
        let view = w.file_token_view();
        assert_eq!(view.display_name, OUR_NAME);
        assert_eq!(view.period, PERIOD);
        assert_eq!(w.file_mode(), 0o600);
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
    }

    fn mint_without_policies_refuses_and_writes_nothing(w) {
        std::fs::write(
            w.home.path().join(".config/vault-token-renew/config.toml"),
            format!("vault_addr = \"{}\"\n", w.server.url()),
        )
        .unwrap();
        let run = w.run_env(&["mint"], &[("VAULT_TOKEN", "root")]);
        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            w.last_log_line()
                .contains("no policies to mint are configured"),
            "{}",
            w.last_log_line()
        );
        assert!(w.file_content().is_none());
    }

    fn renewing_our_token_works_without_policies_configured(w) {
        std::fs::write(
            w.home.path().join(".config/vault-token-renew/config.toml"),
            format!(
                "vault_addr = \"{}\"\ndisplay_name = \"devvm-alice\"\n",
                w.server.url()
            ),
        )
        .unwrap();
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
    }

    fn config_errors_exit_2_name_the_key_and_change_nothing(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        w.write_config("bogus_key = 1\n");
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("bogus_key"), "{run:?}");
        w.write_config("");
        let run = w.run(&["renew", "--period", "soon"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("--period"), "{run:?}");
        let run = w.run(&["renew", "--vault-addr", "not a url"]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("--vault-addr"), "{run:?}");
        assert_eq!(w.server.lookup(&ours.token).unwrap().renewals, 0);
        // The timer's run that hit it must still be seen: one FAIL line each (issue 14).
        let lines = w.log_lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines.iter().all(|l| l.contains(" FAIL: configuration error: ")),
            "{lines:?}"
        );
    }

    fn status_reports_health_as_json_and_text(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let run = w.run(&["status", "--json"]);
        assert_eq!(run.code, 0, "{run:?}");
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(json["healthy"], true);
        assert_eq!(json["state"], "ours");
        assert_eq!(json["display_name"], OUR_NAME);
        assert_eq!(json["period_secs"], PERIOD);
        assert_eq!(
            json["capabilities"]["auth/token/create-orphan"][0],
            "create"
        );

        let run = w.run(&["status"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.contains("healthy"), "{}", run.stdout);

        let k8s = w.seed_kubernetes_login();
        w.write_token(&k8s.token);
        let run = w.run(&["status", "--json"]);
        assert_eq!(run.code, 3, "{run:?}");
        let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(json["state"], "foreign");
        assert_eq!(json["capabilities"]["auth/token/create-orphan"][0], "deny");
        assert!(w.log_lines().is_empty(), "status writes no log line");
    }

    fn sweep_command_revokes_stale_copies_only(w) {
        let ours = w.seed_ours();
        let stale = w.seed_ours();
        let bob = w
            .server
            .add_token(TokenSpec::periodic("othervm-bob", &OUR_POLICIES, PERIOD));
        w.write_token(&ours.token);
        let run = w.run(&["sweep"]);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            w.last_log_line()
                .contains("revoked 1 stale periodic token(s)"),
            "{}",
            w.last_log_line()
        );
        assert!(w.server.token_alive(&ours.token));
        assert!(!w.server.token_alive(&stale.token));
        assert!(w.server.token_alive(&bob.token));
    }

    fn help_documents_exit_codes(w) {
        let run = w.run(&["--help"]);
        assert_eq!(run.code, 0);
        for needle in ["3  DRIFT", "4  FAIL", "2  usage"] {
            assert!(run.stdout.contains(needle), "{needle}: {}", run.stdout);
        }
    }

    fn plain_http_works_on_a_machine_without_a_ca_bundle(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        // rustls-native-certs reads these first: point them at nothing, as on a minimal image.
        let none = w.home.path().join("no-such-ca");
        let none = none.to_str().unwrap();
        let run = w.run_env(
            &["renew"],
            &[("SSL_CERT_FILE", none), ("SSL_CERT_DIR", none)],
        );
        assert_eq!(run.code, 0, "{run:?}");
    }
}

scenarios! {
    /// On an HA cluster a standby may answer before it has seen a fresh login's identity
    /// policies ("deny" where the active node says sudo). A file written moments ago is asked
    /// again for a few seconds before its token is called weak (`tests/ha_openbao.rs` met this on
    /// a real cluster); here the grant lands right after the first answer.
    fn a_fresh_login_whose_authority_shows_late_is_healed_not_called_weak(w) {
        let login = w.seed_kubernetes_login();
        w.write_token(&login.token);
        let child = w.spawn(&["renew"]);
        let start = std::time::Instant::now();
        while w.server.request_count(Method::POST, "sys/capabilities-self") == 0 {
            assert!(start.elapsed() < std::time::Duration::from_secs(20), "never asked");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        w.server.set_identity_policies(&login.token, &OUR_POLICIES);
        let run = w.finish(child.wait_with_output().unwrap());

        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(line.contains(" HEALED: "), "{line}");
        assert!(
            w.server.request_count(Method::POST, "sys/capabilities-self") >= 2,
            "asked again"
        );
        assert_eq!(w.file_token_view().display_name, OUR_NAME);
    }

    fn a_login_that_stays_weak_is_drift_after_the_grace(w) {
        let login = w.seed_kubernetes_login();
        w.write_token(&login.token);
        let run = w.run(&["renew"]);
        assert_eq!(run.code, 3, "{run:?}");
        assert!(w.last_log_line().contains(" DRIFT: "), "{}", w.last_log_line());
        assert!(w.server.alive_named(OUR_NAME).is_empty(), "nothing minted");
    }
}
