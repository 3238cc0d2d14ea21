//! The end-to-end harness: the real binary against a server — the in-process Vault double or a
//! real OpenBao (`server::Kind`) — in a private HOME, with a clean environment. A scenario is
//! written once, `scenarios! { fn name(w) { … } }`, and runs against both. Every run is also a
//! secret-hygiene check: no token value the server ever issued (on OpenBao: every token in its
//! raw audit log) may appear in stdout, stderr, the log file or the state directory.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod server;

pub use server::{Kind, Server};
#[allow(unused_imports)]
pub use vault_devserver::{DevServer, Fault, FaultKind, Seed, Seeded, TokenSpec, TokenView};

pub const BIN: &str = env!("CARGO_BIN_EXE_vault-token-renew");
/// What the harness configures: `display_name = "devvm-alice"` is stored as this.
pub const OUR_NAME: &str = "token-devvm-alice";
pub const PERIOD: u64 = 768 * 3600;
pub const OUR_POLICIES: [&str; 2] = ["vault-admin", "sops-admin"];
/// The display name of the OIDC-style admin login (`oidc-` + the user).
pub const OIDC_LOGIN_NAME: &str = "oidc-alice@example.com";

/// One scenario, run against every server: `fn name(w) { … }` becomes the tests `name::double`
/// and `name::openbao` (`fn name(kind k) { … }` hands over the server kind instead of a world).
/// `double_only("reason") fn name(w) { … }` becomes `name::double` alone, for what only the
/// double can stage (its clock, an answer no real server gives), and `openbao_only("reason")`
/// `name::openbao` alone, for what the double does not model (token roles); the reason is part of
/// the source, next to the scenario. `scripts/lib/test-report` counts them per server.
#[macro_export]
macro_rules! scenarios {
    () => {};
    ($(#[$meta:meta])* double_only($why:literal) fn $name:ident($w:ident) $body:block $($rest:tt)*) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(dead_code)]
            const DOUBLE_ONLY_BECAUSE: &str = $why;
            #[test]
            fn double() {
                let $w = World::on($crate::common::Kind::Double);
                $body
            }
        }
        $crate::scenarios!($($rest)*);
    };
    ($(#[$meta:meta])* openbao_only($why:literal) fn $name:ident($w:ident) $body:block $($rest:tt)*) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(dead_code)]
            const OPENBAO_ONLY_BECAUSE: &str = $why;
            #[test]
            fn openbao() {
                let $w = World::on($crate::common::Kind::OpenBao);
                $body
            }
        }
        $crate::scenarios!($($rest)*);
    };
    ($(#[$meta:meta])* fn $name:ident(kind $k:ident) $body:block $($rest:tt)*) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn scenario($k: $crate::common::Kind) $body
            #[test]
            fn double() {
                scenario($crate::common::Kind::Double)
            }
            #[test]
            fn openbao() {
                scenario($crate::common::Kind::OpenBao)
            }
        }
        $crate::scenarios!($($rest)*);
    };
    ($(#[$meta:meta])* fn $name:ident($w:ident) $body:block $($rest:tt)*) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn scenario($w: World) $body
            #[test]
            fn double() {
                scenario(World::on($crate::common::Kind::Double))
            }
            #[test]
            fn openbao() {
                scenario(World::on($crate::common::Kind::OpenBao))
            }
        }
        $crate::scenarios!($($rest)*);
    };
}

pub struct World {
    pub server: Server,
    pub home: tempfile::TempDir,
    /// Extra lines for the config file (e.g. `retries = 0`).
    pub extra_config: String,
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl World {
    /// The demo world on the double (policies `vault-admin`, `sops-admin`, `ci`,
    /// `terraform-state`; root token `root`) and a config file naming our display name and policies.
    pub fn new() -> World {
        World::on(Kind::Double)
    }

    /// The demo world on the given server.
    pub fn on(kind: Kind) -> World {
        World::with_server(Server::start(kind))
    }

    pub fn with_server(server: Server) -> World {
        let world = World {
            server,
            home: tempfile::tempdir().unwrap(),
            extra_config: String::new(),
        };
        world.write_config("");
        world
    }

    pub fn write_config(&self, extra: &str) {
        let dir = self.home.path().join(".config/vault-token-renew");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("config.toml"),
            format!(
                "vault_addr = \"{}\"\ndisplay_name = \"devvm-alice\"\npolicies = [\"vault-admin\", \"sops-admin\"]\nretries = 1\ntimeout = \"5s\"\n{extra}",
                self.server.url()
            ),
        )
        .unwrap();
    }

    pub fn token_file(&self) -> PathBuf {
        self.home.path().join(".vault-token")
    }

    pub fn log_file(&self) -> PathBuf {
        self.home.path().join(".local/state/vault-token-renew.log")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.home.path().join(".local/state/vault-token-renew")
    }

    /// Our periodic token as an earlier mint left it (with this configuration's identity mark).
    pub fn seed_ours(&self) -> Seeded {
        self.server.add_token(self.marked(TokenSpec::periodic(
            "devvm-alice",
            &OUR_POLICIES,
            PERIOD,
        )))
    }

    /// An OIDC login: token policies `[default]`, admin only through identity policies.
    pub fn seed_oidc_login(&self) -> Seeded {
        self.server
            .add_token(TokenSpec::login(OIDC_LOGIN_NAME, &[], &OUR_POLICIES))
    }

    /// A kubernetes login with weak policies and no token-store authority.
    pub fn seed_kubernetes_login(&self) -> Seeded {
        self.server.add_token(TokenSpec::login(
            "kubernetes-woodpecker-default",
            &["ci", "terraform-state"],
            &[],
        ))
    }

    /// Writes the file as the Vault CLI does: 0600, no trailing newline, renamed into place.
    pub fn write_token(&self, token: &str) {
        let tmp = self.home.path().join(".vault-token.tmp");
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .unwrap();
        std::io::Write::write_all(&mut f, token.as_bytes()).unwrap();
        fs::rename(&tmp, self.token_file()).unwrap();
    }

    /// Backdates the token file's modification time: a file not written just now (no grace for
    /// an HA standby catching up applies to it).
    pub fn backdate_token_file(&self, by: std::time::Duration) {
        fs::File::options()
            .write(true)
            .open(self.token_file())
            .unwrap()
            .set_modified(std::time::SystemTime::now() - by)
            .unwrap();
    }

    pub fn file_content(&self) -> Option<String> {
        fs::read_to_string(self.token_file()).ok()
    }

    pub fn file_mode(&self) -> u32 {
        fs::metadata(self.token_file())
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    }

    pub fn log_lines(&self) -> Vec<String> {
        fs::read_to_string(self.log_file())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn last_log_line(&self) -> String {
        self.log_lines().pop().unwrap_or_default()
    }

    /// The server's view of the token in the file.
    pub fn file_token_view(&self) -> TokenView {
        let token = self.file_content().expect("token file exists");
        self.server
            .lookup(token.trim())
            .expect("the file's token is known to the server")
    }

    /// Accessors of every live token carrying our display name, in creation order.
    pub fn our_alive_accessors(&self) -> Vec<String> {
        self.server
            .alive_named(OUR_NAME)
            .into_iter()
            .map(|t| t.accessor)
            .collect()
    }

    /// Every token the binary minted with our display name, revoked ones included, oldest first.
    pub fn minted_tokens(&self) -> Vec<TokenView> {
        let mut all = Vec::new();
        for path in ["auth/token/create-orphan", "auth/token/create"] {
            all.extend(
                self.server
                    .created_at(path)
                    .into_iter()
                    .filter(|t| t.display_name == OUR_NAME),
            );
        }
        all
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.finish(cmd.output().expect("run the binary"))
    }

    /// The binary with a clean environment and the private HOME; not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_of(Path::new(BIN), args)
    }

    /// The same with another copy of the binary (one another user may execute, say).
    pub fn command_of(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("USER", "alice")
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd
    }

    /// The binary started in the background with its output captured (`finish` then checks it
    /// for secrets).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the binary")
    }

    /// Collects the output of a finished run and checks it for secrets.
    pub fn finish(&self, out: Output) -> Run {
        let run = Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.assert_no_secret_in_outputs(&run);
        run
    }

    pub fn assert_no_secret_in_outputs(&self, run: &Run) {
        let mut outputs = vec![
            ("stdout".to_string(), run.stdout.clone()),
            ("stderr".to_string(), run.stderr.clone()),
        ];
        outputs.push(("log file".into(), read_regular(&self.log_file())));
        for file in files_under(&self.state_dir()) {
            outputs.push((file.display().to_string(), read_regular(&file)));
        }
        for token in self.server.issued_tokens() {
            for (name, text) in &outputs {
                assert!(!text.contains(&token), "a token value leaked into {name}");
            }
        }
    }
}

/// A regular file's text; anything else (a FIFO a test planted) reads as empty, without blocking.
fn read_regular(path: &Path) -> String {
    if !fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return String::new();
    }
    String::from_utf8_lossy(&fs::read(path).unwrap_or_default()).into_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return vec![];
    };
    entries
        .filter_map(Result::ok)
        .flat_map(|e| {
            if e.path().is_dir() {
                files_under(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}

/// The identity mark (issue 12): what the binary, run by this harness (USER=alice, the default
/// token file), puts in the `meta` of its mints, computed with the binary's own functions.
impl World {
    pub fn our_identity(&self) -> vault_token_renew::identity::Identity {
        self.identity_for(&self.token_file())
    }

    /// The identity of a configuration that differs from ours only in its token file.
    pub fn identity_for(&self, token_file: &Path) -> vault_token_renew::identity::Identity {
        use vault_token_renew::identity;
        let (machine, machine_source) = identity::machine();
        identity::Identity {
            machine,
            machine_source,
            user: "alice".into(),
            config: identity::configuration_id(token_file, "devvm-alice"),
        }
    }

    /// `spec` with our mark in its meta, as if this configuration had minted it.
    pub fn marked(&self, mut spec: TokenSpec) -> TokenSpec {
        spec.meta = Some(self.our_identity().mint_meta(
            "devvm-alice",
            "seeded-host",
            "seeded-nonce",
        ));
        spec
    }

    /// This configuration's record of minted accessors.
    pub fn record_file(&self) -> PathBuf {
        vault_token_renew::state::record_path(&self.state_dir(), &self.our_identity().config)
    }
}
