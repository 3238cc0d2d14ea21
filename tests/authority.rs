//! Who may heal, and what counts as ours, end to end against the double: every legitimate mint
//! path, a 403 that is not "expired", same-named tokens that are not periodic, settings that
//! cannot work, and the OpenBao environment conventions.

mod common;

use common::*;
use reqwest::Method;

/// Makes a same-named token into one we would never mint.
type Tweak = fn(&mut TokenSpec);

/// A token without the `default` policy: it may not look itself up or ask its capabilities.
fn no_default_token(w: &World, policy: &str) -> Seeded {
    w.server.add_token(TokenSpec {
        display_name: "token-admin-nodefault".into(),
        policies: vec![policy.into()],
        ttl: 3600,
        ..Default::default()
    })
}

scenarios! {
    fn sudo_on_create_alone_heals_through_create_with_no_parent(w) {
        w.server
            .add_policy("create-sudo", &[("auth/token/create", &["update", "sudo"])]);
        let login = w
            .server
            .add_token(TokenSpec::login("oidc-dave", &["create-sudo"], &[]));
        w.write_token(&login.token);

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 0, "{run:?}");
        assert!(
            w.last_log_line()
                .contains(" HEALED: re-minted periodic token from foreign dn=oidc-dave"),
            "{}",
            w.last_log_line()
        );
        let new = w.file_token_view();
        assert_eq!(new.path, "auth/token/create");
        assert!(new.orphan && new.renewable && new.alive);
        assert_eq!((new.period, new.display_name.as_str()), (PERIOD, OUR_NAME));
        let requests = w.server.requests();
        let mint = requests
            .iter()
            .position(|(m, p, _)| *m == Method::POST && p == "auth/token/create")
            .expect("a mint through auth/token/create");
        let asked = requests[..mint]
            .iter()
            .filter(|(_, p, _)| p == "sys/capabilities-self")
            .count();
        assert_eq!(asked, 1, "one question decides the path: {requests:?}");
        assert_eq!(
            w.server
                .request_count(Method::POST, "auth/token/create-orphan"),
            0
        );
    }

    fn the_chosen_paths_refusal_is_final(w) {
        let login = w.seed_oidc_login();
        w.write_token(&login.token);
        w.server.inject_fault(Fault::new(
            Some(Method::POST),
            "auth/token/create-orphan",
            FaultKind::Status {
                code: 400,
                body: Some(r#"{"errors":["child policies must be subset of parent"]}"#.into()),
            },
            1,
        ));

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 3, "{run:?}");
        assert!(
            w.last_log_line()
                .contains("heal denied, foreign token lacks create authority (HTTP 400: child policies must be subset of parent)"),
            "{}",
            w.last_log_line()
        );
        assert_eq!(
            w.server.request_count(Method::POST, "auth/token/create"),
            0,
            "no second path is tried after the server said no"
        );
        assert_eq!(w.file_content().unwrap(), login.token);
    }

    fn a_live_admin_token_without_default_heals_instead_of_being_called_expired(w) {
        w.server.add_policy(
            "orphan-minter",
            &[("auth/token/create-orphan", &["update", "sudo"])],
        );
        let admin = no_default_token(&w, "orphan-minter");
        w.write_token(&admin.token);

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.contains(" HEALED: re-minted periodic token from foreign a token that may not look itself up (HTTP 403: permission denied)"),
            "{line}"
        );
        assert!(!line.contains("expired"), "{line}");
        assert_eq!(w.file_token_view().path, "auth/token/create-orphan");
        assert!(
            w.server.token_alive(&admin.token),
            "the clobbering token is not ours to revoke"
        );
    }

    fn a_live_weak_token_without_default_is_drift_never_expired(w) {
        w.server
            .add_policy("reader", &[("secret/data/app", &["read"])]);
        let weak = no_default_token(&w, "reader");
        w.write_token(&weak.token);

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 3, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.contains("is a token that may not look itself up") && line.contains("heal denied"),
            "{line}"
        );
        assert!(
            !line.contains("expired") && !line.contains("not valid"),
            "{line}"
        );
        assert_eq!(w.file_content().unwrap(), weak.token);
    }

}

/// A token with our display name, policies and identity mark (an older mint of this tool) in a
/// shape we would never mint now.
fn same_named(w: &World, tweak: impl FnOnce(&mut TokenSpec)) -> Seeded {
    let mut spec = w.marked(TokenSpec::periodic("devvm-alice", &OUR_POLICIES, PERIOD));
    tweak(&mut spec);
    w.server.add_token(spec)
}

scenarios! {
    fn a_same_named_token_that_is_not_periodic_is_reminted_with_its_own_authority(kind k) {
        let cases: [(&str, Tweak); 3] = [
            ("it has no period", |s| {
                s.period = 0;
                s.ttl = 3600;
                s.path = "auth/token/create".into();
            }),
            ("it is not renewable", |s| s.renewable = false),
            ("it has an explicit max TTL", |s| s.explicit_max_ttl = 7200),
        ];
        for (why, tweak) in cases {
            let w = World::on(k);
            let lookalike = same_named(&w, tweak);
            w.write_token(&lookalike.token);

            let run = w.run(&["renew"]);

            assert_eq!(run.code, 0, "{why}: {run:?}");
            let line = w.last_log_line();
            assert!(
                line.contains(&format!(
                    " HEALED: re-minted periodic token from foreign dn={OUR_NAME} with our policies, but {why}"
                )),
                "{line}"
            );
            let new = w.file_token_view();
            assert_eq!(new.period, PERIOD, "{why}");
            assert_eq!(new.explicit_max_ttl, 0, "{why}");
            assert_ne!(new.accessor, lookalike.accessor);
            assert_eq!(
                w.server
                    .request_count(Method::POST, "auth/token/renew-self"),
                0,
                "{why}: never renewed"
            );
            assert!(
                !w.server.token_alive(&lookalike.token),
                "{why}: the sweep revokes it as a stale same-named copy"
            );
        }
    }
}

scenarios! {
    fn the_short_ttl_note_compares_with_the_tokens_own_period(w) {
        // Minted earlier with a 1h period; the configuration has since moved to 768h.
        let ours = w
            .server
            .add_token(TokenSpec::periodic("devvm-alice", &OUR_POLICIES, 3600));
        w.write_token(&ours.token);

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.contains(" OK renewed (dn=token-devvm-alice ttl=3600s)"),
            "{line}"
        );
        assert!(!line.contains("capped"), "{line}");
    }

    fn required_policies_the_mint_never_grants_are_a_usage_error(w) {
        w.write_config("require_policies = [\"vault-admin\", \"pki-admin\"]\n");
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        w.server.reset_requests();

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr.contains("`require_policies` in ") && run.stderr.contains("pki-admin"),
            "{}",
            run.stderr
        );
        assert!(w.server.requests().is_empty(), "nothing is sent");
    }

    fn an_empty_policy_name_is_a_usage_error(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        w.server.reset_requests();

        let run = w.run_env(&["renew"], &[("VAULT_TOKEN_RENEW_REQUIRE_POLICIES", ",,")]);

        assert_eq!(run.code, 2, "{run:?}");
        assert!(
            run.stderr
                .contains("$VAULT_TOKEN_RENEW_REQUIRE_POLICIES: holds an empty policy name"),
            "{}",
            run.stderr
        );
        assert!(w.server.requests().is_empty());
    }

    fn a_lookup_without_a_display_name_fails_and_never_remints(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let view = w.server.lookup(&ours.token).unwrap();
        let body = serde_json::json!({"data": {
            "accessor": view.accessor, "policies": view.policies, "ttl": 3600, "period": PERIOD,
            "explicit_max_ttl": 0, "orphan": true, "renewable": true, "path": view.path,
        }});
        w.server.inject_fault(Fault::new(
            Some(Method::GET),
            "auth/token/lookup-self",
            FaultKind::Status {
                code: 200,
                body: Some(body.to_string()),
            },
            1,
        ));

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 4, "{run:?}");
        assert!(
            w.last_log_line().contains("a body we cannot use"),
            "{}",
            w.last_log_line()
        );
        assert_eq!(w.file_content().unwrap(), ours.token);
        assert_eq!(
            w.server
                .request_count(Method::POST, "auth/token/create-orphan"),
            0
        );
    }

    fn bao_token_path_locates_the_token_file(w) {
        let ours = w.seed_ours();
        let elsewhere = w.home.path().join("tokens/bao-token");
        std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
        w.write_token(&ours.token);
        std::fs::rename(w.token_file(), &elsewhere).unwrap();

        let run = w.run_env(
            &["renew"],
            &[
                ("BAO_TOKEN_PATH", elsewhere.to_str().unwrap()),
                ("VAULT_TOKEN_PATH", "/nonexistent/vault-token"),
            ],
        );

        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(w.server.lookup(&ours.token).unwrap().renewals, 1);
    }

    fn bao_addr_wins_over_vault_addr(w) {
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let url = w.server.url();

        let run = w.run_env(
            &["renew"],
            &[("BAO_ADDR", &url), ("VAULT_ADDR", "http://127.0.0.1:9")],
        );

        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(w.server.lookup(&ours.token).unwrap().renewals, 1);
    }

    fn status_calls_a_live_token_without_default_foreign_not_expired(w) {
        w.server
            .add_policy("reader", &[("secret/data/app", &["read"])]);
        let weak = no_default_token(&w, "reader");
        w.write_token(&weak.token);

        let run = w.run(&["status", "--json"]);

        assert_eq!(run.code, 3, "{run:?}");
        let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(status["state"], "foreign", "{status}");
        let advice = status["advice"].as_str().unwrap_or_default();
        assert!(
            advice.contains("may not look itself up") && !advice.contains("expired"),
            "{advice}"
        );
    }
}

scenarios! {
    openbao_only("the double has no token roles (auth/token/roles, auth/token/create/<role>)")
    fn a_token_role_heals_without_sudo_and_its_token_is_ours_thereafter(w) {
        w.write_config("token_role = \"devvm\"\n");
        w.server.openbao().root(
            "POST",
            "auth/token/roles/devvm",
            Some(serde_json::json!({
                "orphan": true,
                "token_period": "768h",
                "renewable": true,
                "allowed_policies": ["vault-admin", "sops-admin"],
            })),
        );
        w.server
            .add_policy("devvm-minter", &[("auth/token/create/devvm", &["update"])]);
        let login = w
            .server
            .add_token(TokenSpec::login("oidc-erin", &["devvm-minter"], &[]));
        w.write_token(&login.token);

        let run = w.run(&["renew"]);

        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(line.contains(" HEALED: re-minted periodic token"), "{line}");
        let new = w.file_token_view();
        assert_eq!(new.display_name, OUR_NAME);
        assert_eq!(new.path, "auth/token/create/devvm");
        assert!(new.orphan && new.renewable, "{new:?}");
        assert_eq!(new.policies, ["default", "sops-admin", "vault-admin"]);
        assert_eq!(
            new.period, 0,
            "OpenBao shows no period on a role's token: the role holds it"
        );
        assert_eq!(new.ttl.div_ceil(3600), PERIOD / 3600, "the role's period");

        let run = w.run(&["renew"]);
        assert_eq!(run.code, 0, "{run:?}");
        let line = w.last_log_line();
        assert!(
            line.contains(&format!(" OK renewed (dn={OUR_NAME} ttl={PERIOD}s)")),
            "{line}"
        );
    }
}
