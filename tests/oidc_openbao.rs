//! The real binary against a real OpenBao whose logins are genuine: `mint --oidc` performs
//! OpenBao's own OIDC login against the test OpenID provider (a test plays the browser), a real
//! OIDC clobber (admin only through its group's policies) is healed, and a real kubernetes
//! clobber is refused. Self-contained (no `common`): it needs OpenBao's handle, not the double's.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vault_devserver::TokenSpec;
use vault_devserver::openbao::OpenBao;
use vault_devserver::openbao_logins::OidcMount;
use vault_devserver::provider::{OidcProvider, OidcUser};
use vault_devserver::tokenreview::FakeKubernetes;

const BIN: &str = env!("CARGO_BIN_EXE_vault-token-renew");
const OUR_NAME: &str = "token-devvm-alice";
const PERIOD: u64 = 768 * 3600;
const CALLBACK_PATH: &str = "auth/oidc/oidc/callback";

/// OpenBao with OIDC (admin through the `vault-admins` group) and kubernetes mounted, and a
/// private HOME whose config points at it.
struct World {
    bao: OpenBao,
    provider: OidcProvider,
    cluster: FakeKubernetes,
    home: tempfile::TempDir,
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl World {
    fn new() -> World {
        let bao = OpenBao::start().expect("start OpenBao (scripts/fetch-openbao)");
        bao.seed_demo();
        let provider = OidcProvider::start(OidcUser::default()).expect("start the provider");
        bao.mount_oidc(&provider, &OidcMount::admin_through_groups());
        let cluster = FakeKubernetes::start().expect("start the fake Kubernetes API");
        bao.mount_kubernetes(&cluster);
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/vault-token-renew");
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("config.toml"),
            format!(
                "vault_addr = \"{}\"\ndisplay_name = \"devvm-alice\"\npolicies = [\"vault-admin\", \"sops-admin\"]\nretries = 1\ntimeout = \"5s\"\n",
                bao.url()
            ),
        )
        .unwrap();
        World {
            bao,
            provider,
            cluster,
            home,
        }
    }

    fn token_file(&self) -> PathBuf {
        self.home.path().join(".vault-token")
    }

    fn write_token(&self, token: &str) {
        fs::write(self.token_file(), token).unwrap();
        fs::set_permissions(self.token_file(), fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn file_token(&self) -> String {
        fs::read_to_string(self.token_file()).unwrap()
    }

    fn last_log_line(&self) -> String {
        let log = self.home.path().join(".local/state/vault-token-renew.log");
        let text = fs::read_to_string(log).unwrap_or_default();
        text.lines().last().unwrap_or_default().to_owned()
    }

    /// The kubernetes login of CI: weak policies, no token-store authority.
    fn kubernetes_login(&self) -> vault_devserver::Seeded {
        self.bao.kubernetes_login_token(
            &self.cluster,
            "woodpecker",
            "default",
            &["ci", "terraform-state"],
        )
    }

    fn seed_ours(&self) -> vault_devserver::Seeded {
        self.bao.add_token(TokenSpec::periodic(
            "devvm-alice",
            &["vault-admin", "sops-admin"],
            PERIOD,
        ))
    }

    fn live_accessors(&self) -> BTreeSet<String> {
        self.bao.accessors().into_iter().collect()
    }

    /// Live tokens made by an OIDC login.
    fn live_oidc_logins(&self) -> usize {
        self.bao
            .accessors()
            .iter()
            .filter_map(|a| self.bao.lookup_accessor(a))
            .filter(|v| v.path == CALLBACK_PATH)
            .count()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("USER", "alice")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().expect("run the binary");
        self.checked(Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// No token value the server handed out through this harness, nor the file's, may appear
    /// in the run's output, the log or the state directory.
    fn checked(&self, run: Run) -> Run {
        let mut texts = vec![run.stdout.clone(), run.stderr.clone()];
        for file in files_under(&self.home.path().join(".local/state")) {
            texts.push(String::from_utf8_lossy(&fs::read(file).unwrap_or_default()).into_owned());
        }
        let mut secrets = self.bao.issued_tokens();
        secrets.push(self.file_token_or_empty());
        for secret in secrets.iter().filter(|s| !s.is_empty()) {
            assert!(
                !texts.iter().any(|t| t.contains(secret.as_str())),
                "a token value leaked"
            );
        }
        run
    }

    fn file_token_or_empty(&self) -> String {
        fs::read_to_string(self.token_file()).unwrap_or_default()
    }
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

/// A minimal browser: one GET, no redirects followed. Returns (status, Location, body).
fn browser_get(url: &str) -> (u16, Option<String>, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, target) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // `localhost` may resolve to ::1 first; connect tries each address in turn.
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: test-browser\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let location = head.lines().find_map(|l| {
        let (name, value) = l.split_once(": ")?;
        name.eq_ignore_ascii_case("location")
            .then(|| value.to_owned())
    });
    (status, location, body.to_owned())
}

/// Starts the binary; returns it, its stderr lines as they come, and all of stderr at the end.
fn spawn(
    w: &World,
    args: &[&str],
) -> (
    Child,
    mpsc::Receiver<String>,
    std::thread::JoinHandle<String>,
) {
    let mut child = w
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    (child, rx, reader)
}

fn finish(w: &World, mut child: Child, reader: std::thread::JoinHandle<String>) -> Run {
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    w.checked(Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: reader.join().unwrap(),
    })
}

#[test]
fn mint_oidc_logs_in_on_real_openbao_and_revokes_the_login() {
    let w = World::new();
    // A weak login in the file: the OIDC mint replaces it with ours, never with the login token.
    let k8s = w.kubernetes_login();
    w.write_token(&k8s.token);
    let before = w.live_accessors();

    let (child, lines, reader) = spawn(&w, &["mint", "--oidc", "--oidc-port", "0", "--no-browser"]);
    let auth_url = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the binary prints the login URL");
        if line.trim().starts_with("http://") {
            break line.trim().to_owned();
        }
    };
    assert!(
        auth_url.starts_with(&format!("{}/authorize?", w.provider.issuer())),
        "OpenBao sends the browser to the provider: {auth_url}"
    );
    // The provider signs alice in and sends the browser to the binary's loopback callback.
    let (status, location, _) = browser_get(&auth_url);
    assert_eq!(status, 302);
    let callback = location.expect("a redirect to the callback");
    assert!(callback.starts_with("http://localhost:"), "{callback}");
    let (status, _, page) = browser_get(&callback);
    assert_eq!(status, 200);
    assert!(page.contains("Login complete"), "{page}");
    let run = finish(&w, child, reader);

    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(w.provider.exchanges(), 1, "one genuine code exchange");
    let ours = w
        .bao
        .lookup(w.file_token().trim())
        .expect("the file's token is alive");
    assert_eq!(ours.display_name, OUR_NAME);
    assert_eq!(ours.period, PERIOD);
    assert!(ours.orphan && ours.renewable);
    assert_eq!(ours.path, "auth/token/create-orphan");
    assert_eq!(ours.policies, ["default", "sops-admin", "vault-admin"]);
    assert_eq!(
        fs::metadata(w.token_file()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let after = w.live_accessors();
    let added: Vec<_> = after.difference(&before).collect();
    assert_eq!(
        added,
        [&ours.accessor],
        "only our token is new: the login is gone"
    );
    assert_eq!(w.live_oidc_logins(), 0, "the login token was revoked");
    assert!(
        w.bao.token_alive(&k8s.token),
        "the replaced weak login is left alone"
    );
    let line = w.last_log_line();
    assert!(
        line.contains(" OK minted periodic token")
            && line.contains("with the authority of an OIDC login on auth/oidc")
            && line.contains("the login token was revoked"),
        "{line}"
    );
}

#[test]
fn a_real_oidc_clobber_is_healed() {
    let w = World::new();
    let stale = w.seed_ours();
    let login = w.bao.oidc_login_token("oidc");
    let view = w.bao.lookup(&login.token).unwrap();
    assert_eq!(
        view.policies,
        ["default"],
        "admin only through identity policies"
    );
    assert_eq!(view.identity_policies, ["sops-admin", "vault-admin"]);
    w.write_token(&login.token);

    let run = w.run(&["renew"]);

    assert_eq!(run.code, 0, "{run:?}");
    let line = w.last_log_line();
    assert!(
        line.ends_with(" HEALED: re-minted periodic token from foreign dn=oidc-alice@example.com (revoked 1 stale periodic token(s))"),
        "{line}"
    );
    let ours = w
        .bao
        .lookup(w.file_token().trim())
        .expect("the file's token is alive");
    assert_eq!(ours.display_name, OUR_NAME);
    assert_eq!(ours.period, PERIOD);
    assert_eq!(ours.policies, ["default", "sops-admin", "vault-admin"]);
    assert!(
        ours.identity_policies.is_empty(),
        "a minted orphan has no entity"
    );
    assert!(
        w.bao.token_alive(&login.token),
        "the clobbering login is never revoked"
    );
    assert!(
        !w.bao.token_alive(&stale.token),
        "the stale copy of ours is swept"
    );
    assert_eq!(w.bao.alive_by_display_name(OUR_NAME).len(), 1);
}

#[test]
fn a_real_kubernetes_clobber_is_refused() {
    let w = World::new();
    let ours = w.seed_ours();
    let k8s = w.kubernetes_login();
    w.write_token(&k8s.token);
    let before = w.live_accessors();

    let run = w.run(&["renew"]);

    assert_eq!(run.code, 3, "{run:?}");
    let line = w.last_log_line();
    let file = w.token_file().display().to_string();
    assert!(
        line.contains(&format!(" DRIFT: {file} is dn=kubernetes-woodpecker-default — cannot heal: its capabilities allow no mint path, so no mint was sent")),
        "{line}"
    );
    assert!(
        line.ends_with("investigate what wrote it. Manual re-mint: vault-token-renew mint --oidc"),
        "the recovery is the tool's own: {line}"
    );
    assert_eq!(w.file_token(), k8s.token, "file unchanged");
    assert_eq!(
        w.live_accessors(),
        before,
        "nothing minted, nothing revoked"
    );
    assert!(w.bao.token_alive(&ours.token) && w.bao.token_alive(&k8s.token));
}
