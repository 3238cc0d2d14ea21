//! Who may heal, judged by a REAL OpenBao: the built binary against `bao server -dev`, in a
//! private HOME. The double mirrors these rules; this file is where they are checked against
//! the server itself (token roles exist only here: the double has none).

use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use vault_devserver::TokenSpec;
use vault_devserver::openbao::OpenBao;

const BIN: &str = env!("CARGO_BIN_EXE_vault-token-renew");
const OUR_NAME: &str = "token-devvm-alice";
const PERIOD: u64 = 768 * 3600;

struct World {
    bao: OpenBao,
    home: tempfile::TempDir,
}

struct Run {
    code: i32,
    stderr: String,
}

impl World {
    fn new(extra_config: &str) -> World {
        let bao = OpenBao::start().expect("start OpenBao (scripts/fetch-openbao)");
        bao.seed_demo();
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/vault-token-renew");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "vault_addr = \"{}\"\ndisplay_name = \"devvm-alice\"\npolicies = [\"vault-admin\", \"sops-admin\"]\nretries = 1\ntimeout = \"10s\"\n{extra_config}",
                bao.url()
            ),
        )
        .unwrap();
        World { bao, home }
    }

    fn token_file(&self) -> PathBuf {
        self.home.path().join(".vault-token")
    }

    fn write_token(&self, token: &str) {
        std::fs::write(self.token_file(), token).unwrap();
    }

    fn file_token(&self) -> String {
        std::fs::read_to_string(self.token_file()).unwrap()
    }

    fn last_log_line(&self) -> String {
        std::fs::read_to_string(self.home.path().join(".local/state/vault-token-renew.log"))
            .unwrap_or_default()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    }

    fn renew(&self) -> Run {
        let out = Command::new(BIN)
            .arg("renew")
            .env_clear()
            .env("HOME", self.home.path())
            .env("USER", "alice")
            .output()
            .expect("run the binary");
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut secrets = self.bao.issued_tokens();
        secrets.push(self.file_token());
        for token in secrets.iter().filter(|t| t.len() > 4) {
            assert!(
                !run.stderr.contains(token.as_str()) && !stdout.contains(token.as_str()),
                "a token leaked into the output"
            );
        }
        run
    }

    /// A login on the `oidc` userpass mount with these token policies (and `default`).
    fn login(&self, user: &str, policies: &[&str]) -> String {
        self.bao
            .add_token(TokenSpec::login(&format!("oidc-{user}"), policies, &[]))
            .token
    }
}

fn assert_healed_into_ours(w: &World, run: &Run, path: &str) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = w.last_log_line();
    assert!(line.contains(" HEALED: re-minted periodic token"), "{line}");
    let new = w
        .bao
        .lookup(&w.file_token())
        .expect("the file's token is live");
    assert_eq!(new.display_name, OUR_NAME);
    assert_eq!(new.path, path);
    assert!(new.orphan && new.renewable, "{new:?}");
    assert_eq!(new.policies, ["default", "sops-admin", "vault-admin"]);
}

#[test]
fn sudo_on_create_alone_heals_through_create_with_no_parent() {
    let w = World::new("");
    w.bao
        .add_policy("create-sudo", &[("auth/token/create", &["update", "sudo"])]);
    let login = w.login("dave", &["create-sudo"]);
    w.write_token(&login);

    let run = w.renew();

    assert_healed_into_ours(&w, &run, "auth/token/create");
    assert_eq!(w.bao.lookup(&w.file_token()).unwrap().period, PERIOD);
}

#[test]
fn a_token_role_heals_without_sudo_and_its_token_is_ours_thereafter() {
    let w = World::new("token_role = \"devvm\"\n");
    w.bao.root(
        "POST",
        "auth/token/roles/devvm",
        Some(json!({
            "orphan": true,
            "token_period": "768h",
            "renewable": true,
            "allowed_policies": ["vault-admin", "sops-admin"],
        })),
    );
    w.bao
        .add_policy("devvm-minter", &[("auth/token/create/devvm", &["update"])]);
    let login = w.login("erin", &["devvm-minter"]);
    w.write_token(&login);

    let run = w.renew();

    assert_healed_into_ours(&w, &run, "auth/token/create/devvm");
    let new = w.bao.lookup(&w.file_token()).unwrap();
    assert_eq!(
        new.period, 0,
        "OpenBao shows no period on a role's token: the role holds it"
    );
    assert_eq!(new.ttl.div_ceil(3600), PERIOD / 3600, "the role's period");

    let run = w.renew();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = w.last_log_line();
    assert!(
        line.contains(&format!(" OK renewed (dn={OUR_NAME} ttl={PERIOD}s)")),
        "{line}"
    );
}

#[test]
fn a_live_admin_token_without_default_heals_instead_of_being_called_expired() {
    let w = World::new("");
    w.bao.add_policy(
        "orphan-minter",
        &[("auth/token/create-orphan", &["update", "sudo"])],
    );
    let admin = w
        .bao
        .add_token(TokenSpec {
            display_name: "token-admin-nodefault".into(),
            policies: vec!["orphan-minter".into()],
            ttl: 3600,
            ..Default::default()
        })
        .token;
    w.write_token(&admin);

    let run = w.renew();

    assert_healed_into_ours(&w, &run, "auth/token/create-orphan");
    assert!(
        w.last_log_line()
            .contains("from foreign a token that may not look itself up"),
        "{}",
        w.last_log_line()
    );
    assert!(w.bao.token_alive(&admin), "not ours to revoke");
}

#[test]
fn a_revoked_token_is_still_called_expired() {
    let w = World::new("");
    let login = w.login("frank", &[]);
    let accessor = w.bao.lookup(&login).unwrap().accessor;
    w.bao.root(
        "POST",
        "auth/token/revoke-accessor",
        Some(json!({ "accessor": accessor })),
    );
    w.write_token(&login);

    let run = w.renew();

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        w.last_log_line()
            .contains("is not valid (HTTP 403: permission denied) — it expired or was revoked"),
        "{}",
        w.last_log_line()
    );
}

#[test]
fn a_same_named_token_that_is_not_periodic_is_reminted_with_its_own_authority() {
    let w = World::new("");
    let mut spec = TokenSpec::periodic("devvm-alice", &["vault-admin", "sops-admin"], 0);
    spec.ttl = 3600;
    let lookalike = w.bao.add_token(spec);
    w.write_token(&lookalike.token);

    let run = w.renew();

    assert_healed_into_ours(&w, &run, "auth/token/create-orphan");
    assert!(
        w.last_log_line()
            .contains("with our policies, but it has no period"),
        "{}",
        w.last_log_line()
    );
    assert_eq!(w.bao.lookup(&w.file_token()).unwrap().period, PERIOD);
    assert!(
        !w.bao.token_alive(&lookalike.token),
        "the sweep revokes the same-named copy"
    );
}
