//! Profiles (issue 16): several tokens for one person, each with its own server, token file,
//! state, log tag and metrics. A heal in one profile never revokes, rewrites or waits on anything
//! of another — on two servers, and on one server where both share a display name.

mod common;

use common::*;
use std::fs;
use std::path::PathBuf;

fn lab_token_file(w: &World) -> PathBuf {
    w.home.path().join(".vault-token-lab")
}

/// The default profile on `w.server`, and `[profiles.lab]` on `lab_url` with its own token file.
fn two_profiles(w: &World, lab_url: &str) {
    w.write_config(&format!(
        "metrics_file = \"~/metrics/vtr.prom\"\n\n[profiles.lab]\nvault_addr = \"{lab_url}\"\ntoken_file = \"~/.vault-token-lab\"\n"
    ));
}

fn write_lab_token(w: &World, token: &str) {
    fs::write(lab_token_file(w), token).unwrap();
    fs::set_permissions(
        lab_token_file(w),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
}

fn lab_token(w: &World) -> String {
    fs::read_to_string(lab_token_file(w)).unwrap()
}

/// A periodic token of ours as the lab profile would have minted it (its own identity mark).
fn lab_marked(w: &World, mut spec: TokenSpec) -> TokenSpec {
    spec.meta = Some(w.identity_for(&lab_token_file(w)).mint_meta(
        "devvm-alice",
        "seeded-host",
        "seeded-nonce",
    ));
    spec
}

fn ours_spec() -> TokenSpec {
    TokenSpec::periodic("devvm-alice", &OUR_POLICIES, PERIOD)
}

/// No value the second server issued reached any output either.
fn assert_no_secret_of(server: &Server, w: &World, run: &Run) {
    let log = fs::read_to_string(w.log_file()).unwrap_or_default();
    for token in server.issued_tokens() {
        for (name, text) in [
            ("stdout", &run.stdout),
            ("stderr", &run.stderr),
            ("log", &log),
        ] {
            assert!(
                !text.contains(&token),
                "a lab token value leaked into {name}"
            );
        }
    }
}

scenarios! {
    /// Two servers, two OIDC clobbers, one `renew --all-profiles`: each file is healed with a
    /// token of its own server, each line is tagged with its profile, and each profile's record
    /// and metrics are its own.
    fn two_servers_two_heals_nothing_crosses(kind k) {
        let w = World::on(k);
        let lab = Server::start(k);
        two_profiles(&w, &lab.url());
        let work_login = w.seed_oidc_login();
        w.write_token(&work_login.token);
        let lab_login = lab.add_token(TokenSpec::login(OIDC_LOGIN_NAME, &[], &OUR_POLICIES));
        write_lab_token(&w, &lab_login.token);

        let run = w.run(&["renew", "--all-profiles"]);
        assert_no_secret_of(&lab, &w, &run);
        assert_eq!(run.code, 0, "{}", run.stderr);

        let work_token = w.file_content().unwrap();
        let work_view = w.server.lookup(&work_token).expect("the default's token is on its server");
        assert_eq!(work_view.display_name, OUR_NAME);
        let lab_view = lab.lookup(&lab_token(&w)).expect("the lab token is on the lab server");
        assert_eq!(lab_view.display_name, OUR_NAME);
        // One mint on each server (the double's token values are deterministic, so a value
        // alone cannot tell the servers apart; the counts can).
        assert_eq!(w.server.alive_named(OUR_NAME).len(), 1, "one mint on the work server");
        assert_eq!(lab.alive_named(OUR_NAME).len(), 1, "one mint on the lab server");
        assert_ne!(work_view.meta, lab_view.meta, "each carries its own configuration's mark");

        let lines = w.log_lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains(" HEALED: ") && !lines[0].contains("[lab]"), "{lines:?}");
        assert!(lines[1].contains(" [lab] HEALED: "), "{lines:?}");

        // Separate state: the lab record sits under profiles/lab and holds only the lab mint.
        let lab_state = w.state_dir().join("profiles/lab");
        let lab_record = vault_token_renew::state::record_path(
            &lab_state,
            &w.identity_for(&lab_token_file(&w)).config,
        );
        assert_eq!(fs::read_to_string(&lab_record).unwrap().trim(), lab_view.accessor);
        assert_eq!(fs::read_to_string(w.record_file()).unwrap().trim(), work_view.accessor);

        // Metrics: one file per profile, every series labelled with it.
        let metrics = w.home.path().join("metrics");
        let default_text = fs::read_to_string(metrics.join("vtr.prom")).unwrap();
        let lab_text = fs::read_to_string(metrics.join("vtr-lab.prom")).unwrap();
        assert!(default_text.contains("profile=\"default\"") && !default_text.contains("profile=\"lab\""));
        assert!(lab_text.contains("profile=\"lab\"") && !lab_text.contains("profile=\"default\""));

        // The next plain renews touch only their own profile.
        let run = w.run_env(&["renew"], &[("VAULT_TOKEN_RENEW_PROFILE", "lab")]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(w.last_log_line().contains("[lab] OK renewed"), "{}", w.last_log_line());
        assert_eq!(w.file_content().unwrap(), work_token, "the default's file is untouched");
    }

    /// One server, one display name, two profiles: the lab heal revokes the lab's stale copy
    /// and never the default's live token or its stale copy; the default's sweep never the lab's.
    fn one_server_shared_display_name_each_sweep_keeps_to_its_own(w) {
        two_profiles(&w, &w.server.url());
        let default_live = w.seed_ours();
        w.write_token(&default_live.token);
        let default_stale = w.seed_ours();
        let lab_stale = w.server.add_token(lab_marked(&w, ours_spec()));
        let lab_login = w.seed_oidc_login();
        write_lab_token(&w, &lab_login.token);

        let run = w.run(&["--profile", "lab"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(w.last_log_line().contains("[lab] HEALED"), "{}", w.last_log_line());
        let lab_now = lab_token(&w);
        assert!(w.server.token_alive(&lab_now));
        assert!(!w.server.token_alive(&lab_stale.token), "the lab's own stale copy goes");
        assert!(w.server.token_alive(&default_live.token), "the default's token lives");
        assert!(w.server.token_alive(&default_stale.token), "the default's stale copy is the default's to sweep");
        assert_eq!(w.file_content().unwrap(), default_live.token);

        let run = w.run(&["sweep"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!w.server.token_alive(&default_stale.token), "the default sweeps its own copy");
        assert!(w.server.token_alive(&lab_now), "and never the lab's token");
        assert!(w.server.token_alive(&default_live.token));
    }

    /// `status` with no profile named reports every profile, keyed by name in JSON, and fails
    /// when any is unhealthy; `--profile` narrows it to one.
    fn status_covers_every_profile_and_the_worst_decides(w) {
        two_profiles(&w, &w.server.url());
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        write_lab_token(&w, &w.seed_kubernetes_login().token);

        let run = w.run(&["status", "--json"]);
        assert_eq!(run.code, 3, "the lab file holds a foreign token: {}", run.stdout);
        let all: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(all["default"]["state"], "ours", "{all}");
        assert_eq!(all["default"]["healthy"], true, "{all}");
        assert_eq!(all["lab"]["state"], "foreign", "{all}");
        assert_eq!(all["lab"]["profile"], "lab");
        assert!(all["lab"]["token_file"].as_str().unwrap().ends_with(".vault-token-lab"));

        let run = w.run(&["status"]);
        assert_eq!(run.code, 3);
        assert!(run.stdout.starts_with("profile default:\n"), "{}", run.stdout);
        assert!(run.stdout.contains("\nprofile lab:\n"), "{}", run.stdout);

        let run = w.run(&["--profile", "default", "status", "--json"]);
        assert_eq!(run.code, 0, "{}", run.stdout);
        let one: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(one["state"], "ours", "one profile: today's shape");
    }

    /// The failure unit of a profile's service runs the hook with that profile's last line,
    /// not another profile's later one.
    fn the_failure_hook_of_a_profile_reports_its_own_line(w) {
        two_profiles(&w, &w.server.url());
        let out = w.home.path().join("hook.out");
        w.write_config(&format!(
            "on_failure = \"printf '%s|%s' \\\"$FAILED_UNIT\\\" \\\"$LAST_LOG_LINE\\\" > {}\"\n\n[profiles.lab]\nvault_addr = \"{}\"\ntoken_file = \"~/.vault-token-lab\"\n",
            out.display(),
            w.server.url()
        ));
        write_lab_token(&w, &w.seed_kubernetes_login().token);
        let run = w.run(&["--profile", "lab", "renew"]);
        assert_eq!(run.code, 3, "a weak login is DRIFT: {}", run.stderr);
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        assert_eq!(w.run(&["renew"]).code, 0);

        let run = w.run(&["on-failure", "vault-token-renew@lab.service"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let said = fs::read_to_string(&out).unwrap();
        assert!(said.starts_with("vault-token-renew@lab.service|"), "{said}");
        assert!(said.contains(" [lab] DRIFT: "), "the lab's own line, not the later OK: {said}");
    }

    /// A run of the default profile holding its lock never holds up the lab's heal: each
    /// profile locks its own state directory.
    fn a_held_lock_of_one_profile_never_holds_up_another(w) {
        two_profiles(&w, &w.server.url());
        let ours = w.seed_ours();
        w.write_token(&ours.token);
        let held = vault_token_renew::lock::acquire(&w.state_dir(), std::time::Duration::from_secs(1)).unwrap();
        let login = w.seed_oidc_login();
        write_lab_token(&w, &login.token);
        // Were the lab waiting on the default's lock, this would end in FAIL after the run's
        // deadline; it heals while the lock is held.
        let run = w.run(&["--profile", "lab"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(w.last_log_line().contains("[lab] HEALED"), "{}", w.last_log_line());
        drop(held);
        assert_eq!(w.file_content().unwrap(), ours.token);
    }

    /// A config of named profiles only (no server at the top level) has no default token to
    /// keep: "every profile" means the named ones.
    fn without_a_top_level_server_every_profile_means_the_named_ones(w) {
        let config = w.home.path().join(".config/vault-token-renew/config.toml");
        fs::write(
            &config,
            format!(
                "display_name = \"devvm-alice\"\npolicies = [\"vault-admin\", \"sops-admin\"]\n\n[profiles.lab]\nvault_addr = \"{}\"\ntoken_file = \"~/.vault-token-lab\"\n",
                w.server.url()
            ),
        )
        .unwrap();
        let ours = w.server.add_token(lab_marked(&w, ours_spec()));
        write_lab_token(&w, &ours.token);
        let run = w.run(&["status", "--json"]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let all: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(all.as_object().unwrap().keys().collect::<Vec<_>>(), ["lab"]);
        let run = w.run(&["renew", "--all-profiles"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(w.log_lines().len(), 1, "{:?}", w.log_lines());
    }

    /// The advice a named profile gives mints into that profile's file, never the default's.
    fn a_profiles_advice_names_the_profile(w) {
        two_profiles(&w, &w.server.url());
        let run = w.run(&["--profile", "lab"]);
        assert_eq!(run.code, 4, "no token file yet: {}", run.stderr);
        assert!(
            w.last_log_line().ends_with("does not exist; mint our token first: vault-token-renew --profile lab mint --oidc"),
            "{}",
            w.last_log_line()
        );
        write_lab_token(&w, &w.seed_kubernetes_login().token);
        let run = w.run(&["--profile", "lab"]);
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert!(w.last_log_line().ends_with("Manual re-mint: vault-token-renew --profile lab mint --oidc"), "{}", w.last_log_line());
        let run = w.run(&["--profile", "lab", "status", "--json"]);
        let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let advice = status["advice"].as_str().unwrap();
        assert!(advice.contains("vault-token-renew --profile lab mint --oidc"), "{advice}");
        let run = w.run(&["--profile", "lab", "sweep"]);
        assert_eq!(run.code, 3, "{}", run.stderr);
        assert!(w.last_log_line().contains("run `vault-token-renew --profile lab` to heal first"), "{}", w.last_log_line());

        // Our token, with a stale copy alive: status points at the profile's own sweep.
        let ours = w.server.add_token(lab_marked(&w, ours_spec()));
        w.server.add_token(lab_marked(&w, ours_spec()));
        write_lab_token(&w, &ours.token);
        let run = w.run(&["--profile", "lab", "status", "--json"]);
        let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let advice = status["advice"].as_str().unwrap_or_default();
        assert!(advice.contains("`vault-token-renew --profile lab sweep` revokes them"), "{advice}");
    }

    /// Mistakes in naming or sharing profiles are usage errors that change nothing.
    fn profile_mistakes_change_nothing(w) {
        two_profiles(&w, &w.server.url());
        let login = w.seed_oidc_login();
        w.write_token(&login.token);
        let before = w.server.alive_tokens().len();

        let run = w.run(&["--profile", "prod"]);
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("no profile `prod`") && run.stderr.contains("default, lab"), "{}", run.stderr);

        let run = w.run(&["renew", "--all-profiles", "--token-file", "/tmp/x"]);
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("drop --token-file"), "{}", run.stderr);

        w.write_config("[profiles.lab]\ntoken_file = \"~/.vault-token\"\n");
        let run = w.run(&["--profile", "lab"]);
        assert_eq!(run.code, 2);
        assert!(run.stderr.contains("same token file"), "{}", run.stderr);

        assert_eq!(w.file_content().unwrap(), login.token, "the file is unchanged");
        assert_eq!(w.server.alive_tokens().len(), before, "nothing minted or revoked");
    }
}
