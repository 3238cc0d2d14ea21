//! The identity mark (issue 12) against a real OpenBao: the built binary, a private HOME and a
//! config file, two configurations of one user sharing the state dir. Nothing crosses between
//! them, and a mint's meta is what the real server stores.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use vault_devserver::TokenSpec;
use vault_devserver::openbao::OpenBao;
use vault_token_renew::identity::{self, Identity};

const BIN: &str = env!("CARGO_BIN_EXE_vault-token-renew");
const OUR_NAME: &str = "token-devvm-alice";
const OUR_POLICIES: [&str; 2] = ["vault-admin", "sops-admin"];

struct Home {
    bao: OpenBao,
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Home {
    fn new() -> Home {
        let bao = OpenBao::start().expect("start OpenBao (scripts/fetch-openbao gets the binary)");
        bao.seed_demo();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join(".config/vault-token-renew");
        fs::create_dir_all(&config).unwrap();
        fs::write(
            config.join("config.toml"),
            format!(
                "vault_addr = \"{}\"\ndisplay_name = \"devvm-alice\"\npolicies = [\"vault-admin\", \"sops-admin\"]\ntimeout = \"10s\"\n",
                bao.url()
            ),
        )
        .unwrap();
        Home { bao, dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn login(&self) -> String {
        self.bao
            .add_token(TokenSpec::login("oidc-alice", &[], &OUR_POLICIES))
            .token
    }

    /// Runs the binary for the configuration whose token file is `token_file`.
    fn run(&self, token_file: &Path, args: &[&str]) -> Run {
        let out = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("HOME", self.dir.path())
            .env("USER", "alice")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("VAULT_TOKEN_RENEW_TOKEN_FILE", token_file)
            .output()
            .expect("run the binary");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.assert_no_token_leaked(&run);
        run
    }

    fn token_in(&self, file: &Path) -> String {
        let token = fs::read_to_string(file).unwrap().trim().to_owned();
        self.bao.note_issued(&token);
        token
    }

    fn last_log_line(&self) -> String {
        fs::read_to_string(self.file(".local/state/vault-token-renew.log"))
            .unwrap_or_default()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    }

    fn assert_no_token_leaked(&self, run: &Run) {
        let mut texts = vec![run.stdout.clone(), run.stderr.clone()];
        texts.push(
            fs::read_to_string(self.file(".local/state/vault-token-renew.log")).unwrap_or_default(),
        );
        if let Ok(entries) = fs::read_dir(self.file(".local/state/vault-token-renew")) {
            for e in entries.flatten() {
                texts.push(String::from_utf8_lossy(&fs::read(e.path()).unwrap_or_default()).into());
            }
        }
        for file in [".vault-token", ".vault-token-second"] {
            if let Ok(t) = fs::read_to_string(self.file(file)) {
                self.bao.note_issued(t.trim());
            }
        }
        for token in self.bao.issued_tokens() {
            assert!(
                texts.iter().all(|t| !t.contains(&token)),
                "a token value leaked"
            );
        }
    }

    fn identity_for(&self, token_file: &Path) -> Identity {
        let (machine, machine_source) = identity::machine();
        Identity {
            machine,
            machine_source,
            user: "alice".into(),
            config: identity::configuration_id(token_file, "devvm-alice"),
        }
    }
}

/// Two configurations of one user (two token files, one display name, one state dir), one heal
/// each, then a sweep of each: both tokens stay alive, each reported by the other as another
/// configuration's. The meta of a mint as the real server stores it: our keys, all strings.
#[test]
fn two_configurations_on_real_openbao_never_revoke_each_other() {
    let h = Home::new();
    let (first, second) = (h.file(".vault-token"), h.file(".vault-token-second"));
    fs::write(&first, h.login()).unwrap();
    fs::write(&second, h.login()).unwrap();

    let run = h.run(&first, &["renew"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let a = h.token_in(&first);
    let run = h.run(&second, &["renew"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let b = h.token_in(&second);
    let line = h.last_log_line();
    assert!(
        line.contains("(revoked 0 stale periodic token(s); left 1 token(s) with our display name but not this configuration's mark (")
            && line.contains("another configuration's"),
        "{line}"
    );
    for file in [&first, &second] {
        let run = h.run(file, &["sweep"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert!(
        h.bao.token_alive(&a) && h.bao.token_alive(&b),
        "{}",
        h.last_log_line()
    );
    assert_eq!(h.bao.alive_by_display_name(OUR_NAME).len(), 2);

    let meta = h.bao.lookup(&a).unwrap().meta.expect("the mint has meta");
    let keys: Vec<&str> = meta.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "config",
            "display-name",
            "host",
            "machine",
            "minted-by",
            "nonce",
            "user"
        ]
    );
    let us = h.identity_for(&first);
    assert_eq!(meta["config"], us.config);
    assert_eq!(meta["machine"], us.machine);
    assert_eq!(meta["user"], "alice");
    assert_eq!(meta["display-name"], "devvm-alice");
    assert_eq!(meta["nonce"].len(), 32);
    assert!(meta["minted-by"].starts_with("vault-token-renew/"));
    let other = h.bao.lookup(&b).unwrap().meta.unwrap();
    assert_eq!(other["config"], h.identity_for(&second).config);
    assert_ne!(other["config"], meta["config"]);
    assert_ne!(other["nonce"], meta["nonce"]);

    let run = h.run(&first, &["status", "--json"]);
    let st: Value = serde_json::from_str(&run.stdout).expect(&run.stdout);
    assert_eq!(st["copies"]["listed"], true, "vault-admin may list: {st}");
    let b_accessor = h.bao.lookup(&b).unwrap().accessor;
    assert_eq!(
        st["copies"]["unmarked"],
        serde_json::json!([{"accessor": b_accessor, "reason": "other-config"}]),
        "{st}"
    );
}

/// A same-named token from another machine, seeded through the real server's create with our
/// meta keys: heal and plain sweep leave it, `sweep --dry-run` names it, and only
/// `sweep --include-unmarked` revokes it.
#[test]
fn another_machines_token_on_real_openbao_is_revoked_only_on_request() {
    let h = Home::new();
    let first = h.file(".vault-token");
    let mut elsewhere = h.identity_for(&first);
    elsewhere.machine = "another-machine".into();
    let mut spec = TokenSpec::periodic("devvm-alice", &OUR_POLICIES, 768 * 3600);
    spec.meta = Some(elsewhere.mint_meta("devvm-alice", "devvm", "their-nonce"));
    let theirs = h.bao.add_token(spec);
    fs::write(&first, h.login()).unwrap();

    assert_eq!(h.run(&first, &["renew"]).code, 0);
    assert_eq!(h.run(&first, &["sweep"]).code, 0);
    assert!(h.bao.token_alive(&theirs.token), "{}", h.last_log_line());
    let run = h.run(&first, &["sweep", "--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains(&format!("{} another machine's", theirs.accessor)),
        "{}",
        run.stdout
    );
    let run = h.run(&first, &["sweep", "--include-unmarked"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!h.bao.token_alive(&theirs.token), "{}", h.last_log_line());
    let ours = h.token_in(&first);
    assert!(h.bao.token_alive(&ours), "the file's token is kept");
}

/// A policy may grant the list on `auth/token/accessors/` (the form the server checks) rather than
/// `auth/token/accessors`; the capability check asks about both, so the sweep still lists and
/// revokes an unrecorded stale copy of ours on the real server.
#[test]
fn a_list_grant_on_the_slash_form_of_the_accessors_path_is_honoured() {
    let h = Home::new();
    h.bao.add_policy(
        "slash-sweeper",
        &[
            ("auth/token/accessors/", &["list", "sudo"]),
            ("auth/token/lookup-accessor", &["update"]),
            ("auth/token/revoke-accessor", &["update"]),
        ],
    );
    let config = h.file(".config/vault-token-renew/config.toml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "\"vault-admin\", \"sops-admin\"",
        "\"slash-sweeper\", \"sops-admin\"",
    );
    fs::write(&config, text).unwrap();
    let first = h.file(".vault-token");
    let mut spec = TokenSpec::periodic("devvm-alice", &["slash-sweeper", "sops-admin"], 768 * 3600);
    spec.meta = Some(
        h.identity_for(&first)
            .mint_meta("devvm-alice", "devvm", "older-nonce"),
    );
    let stale = h.bao.add_token(spec);
    fs::write(&first, h.login()).unwrap();

    let run = h.run(&first, &["renew"]);

    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = h.last_log_line();
    assert!(
        line.ends_with("(revoked 1 stale periodic token(s))"),
        "{line}"
    );
    assert!(!h.bao.token_alive(&stale.token), "found only by listing");
}
