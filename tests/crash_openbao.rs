//! Crash safety against a REAL OpenBao: the fault proxy parks the heal's mint, the renewer is
//! killed (SIGKILL) while it waits, and the server mints anyway once the delay is over, as a
//! server behind a slow network would. Nobody ever heard of that token: the answer never came,
//! so its accessor was never recorded. The next run must still leave no copy of ours alive
//! but the file's.

mod common;

use common::{BIN, Fault, FaultKind, OUR_NAME, OUR_POLICIES, PERIOD, Seeded, TokenSpec};
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use vault_devserver::openbao::OpenBao;
use vault_devserver::{FaultProxy, Method};

/// Far longer than the run needs to reach the mint after its lookup, so the kill lands while
/// the mint is parked; the renewer's own timeout is longer still, so it never gives up first.
const PARK: Duration = Duration::from_secs(4);

/// OpenBao, the proxy in front of it, and a private HOME whose token file holds an admin login
/// (the clobber a heal replaces), with two stale copies of ours: one recorded, one only listable.
struct World {
    bao: OpenBao,
    proxy: FaultProxy,
    home: tempfile::TempDir,
    login: Seeded,
    bystander: Seeded,
    preexisting: BTreeSet<String>,
}

impl World {
    /// `can_list`: whether our policies may list accessors (sudo), the sweep's only way to find
    /// a mint it has no record of.
    fn new(can_list: bool) -> World {
        let bao = OpenBao::start().expect("start OpenBao");
        bao.seed_demo();
        if !can_list {
            const ALL: &[&str] = &["create", "read", "update", "delete", "list", "sudo"];
            bao.add_policy(
                "vault-admin",
                &[("auth/token/*", ALL), ("auth/token/accessors", &["deny"])],
            );
        }
        let proxy = FaultProxy::start(&bao.url()).expect("start the proxy");
        let ours = || bao.add_token(TokenSpec::periodic("devvm-alice", &OUR_POLICIES, PERIOD));
        let (recorded, listed) = (ours(), ours());
        let bystander = bao.add_token(TokenSpec::periodic("othervm-bob", &OUR_POLICIES, PERIOD));
        let login = bao.add_token(TokenSpec::login("oidc-alice", &[], &OUR_POLICIES));
        let w = World {
            bao,
            proxy,
            home: tempfile::tempdir().unwrap(),
            login,
            bystander,
            preexisting: [recorded.accessor.clone(), listed.accessor].into(),
        };
        let config = w.home.path().join(".config/vault-token-renew");
        fs::create_dir_all(&config).unwrap();
        fs::write(
            config.join("config.toml"),
            format!(
                "vault_addr = \"{}\"\ndisplay_name = \"devvm-alice\"\npolicies = [\"vault-admin\", \"sops-admin\"]\nretries = 0\ntimeout = \"60s\"\n",
                w.proxy.url()
            ),
        )
        .unwrap();
        fs::create_dir_all(w.state_dir()).unwrap();
        fs::write(
            w.state_dir().join("minted-accessors"),
            format!("{}\n", recorded.accessor),
        )
        .unwrap();
        w.write_clobber();
        w
    }

    fn token_file(&self) -> PathBuf {
        self.home.path().join(".vault-token")
    }

    fn state_dir(&self) -> PathBuf {
        self.home.path().join(".local/state/vault-token-renew")
    }

    /// The admin login in the file, written as the Vault CLI does (0600).
    fn write_clobber(&self) {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.token_file())
            .unwrap();
        std::io::Write::write_all(&mut f, self.login.token.as_bytes()).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("HOME", self.home.path())
            .env("USER", "alice")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Checks a finished run's output, log and state for every token value the server issued.
    fn finish(&self, out: Output) -> (i32, String) {
        let mut texts = vec![
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ];
        let log = self.home.path().join(".local/state/vault-token-renew.log");
        texts.extend(
            fs::read(log)
                .ok()
                .map(|b| String::from_utf8_lossy(&b).into_owned()),
        );
        texts.extend(
            files_under(&self.state_dir())
                .iter()
                .map(|f| String::from_utf8_lossy(&fs::read(f).unwrap_or_default()).into_owned()),
        );
        let mut issued = self.bao.issued_tokens();
        issued.extend(self.proxy.issued_tokens());
        for token in issued {
            assert!(
                !texts.iter().any(|t| t.contains(&token)),
                "a token value leaked into the output, log or state"
            );
        }
        (out.status.code().unwrap_or(-1), texts[1].clone())
    }

    fn file(&self) -> String {
        let mode = fs::metadata(self.token_file())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the token file's mode");
        fs::read_to_string(self.token_file()).unwrap()
    }

    /// Live tokens of ours that are neither the file's nor there before the run.
    fn stranded(&self) -> Vec<String> {
        let in_file = self.bao.lookup(&self.file()).map(|v| v.accessor);
        self.bao
            .alive_by_display_name(OUR_NAME)
            .into_iter()
            .map(|v| v.accessor)
            .filter(|a| Some(a) != in_file.as_ref() && !self.preexisting.contains(a))
            .collect()
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return vec![];
    };
    entries
        .filter_map(Result::ok)
        .flat_map(|e| match e.path() {
            p if p.is_dir() => files_under(&p),
            p => vec![p],
        })
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a heal whose mint the proxy parks, kills it while parked, waits for the server to
/// mint anyway, and checks that nobody heard of that token. Returns its accessor.
fn kill_while_the_mint_is_parked(w: &World) -> String {
    w.proxy.inject_fault(Fault::new(
        Some(Method::POST),
        "auth/token/create-orphan",
        FaultKind::Delay(PARK),
        1,
    ));
    let mut child = w.command(&["renew"]).spawn().unwrap();
    // The file's lookup is answered and one request is open: the mint, parked.
    wait_for("the run to park at the mint", || {
        w.proxy.request_count(Method::GET, "auth/token/lookup-self") == 1
            && w.proxy.in_flight() == 1
    });
    child.kill().unwrap();
    w.finish(child.wait_with_output().unwrap());
    assert_eq!(w.file(), w.login.token, "killed before any install");

    wait_for("the parked mint to reach the server", || {
        w.proxy.in_flight() == 0
    });
    assert_eq!(
        w.proxy.requests().last(),
        Some(&(Method::POST, "auth/token/create-orphan".to_string(), 200))
    );
    let stranded = w.stranded();
    assert_eq!(stranded.len(), 1, "the server minted after the kill");
    let recorded = fs::read_to_string(w.state_dir().join("minted-accessors")).unwrap();
    assert!(
        !recorded.contains(&stranded[0]),
        "the answer never came, so the accessor was never recorded"
    );
    stranded[0].clone()
}

#[test]
fn a_mint_that_lands_after_the_kill_is_swept_by_the_next_run() {
    let w = World::new(true);
    kill_while_the_mint_is_parked(&w);

    let (code, stderr) = w.finish(w.command(&["renew"]).output().unwrap());
    assert_eq!(code, 0, "{stderr}");
    // The recorded copy, the listable one, and the mint nobody heard of.
    assert!(
        stderr.contains(" HEALED: ") && stderr.contains("revoked 3 stale periodic token(s)"),
        "{stderr}"
    );
    let installed = w
        .bao
        .lookup(&w.file())
        .expect("the file holds a live token");
    assert!(
        installed.display_name == OUR_NAME
            && installed.period == PERIOD
            && installed.orphan
            && OUR_POLICIES
                .iter()
                .all(|p| installed.policies.iter().any(|q| q == p)),
        "the file holds a verified token of ours: {installed:?}"
    );
    assert_eq!(
        w.stranded(),
        Vec::<String>::new(),
        "the sweep left a mint alive"
    );
    let alive: Vec<String> = w
        .bao
        .alive_by_display_name(OUR_NAME)
        .into_iter()
        .map(|v| v.accessor)
        .collect();
    assert_eq!(
        alive,
        [installed.accessor],
        "only the file's copy of ours lives"
    );
    assert!(
        w.bao.token_alive(&w.login.token),
        "the login is not ours to revoke"
    );
    assert!(
        w.bao.token_alive(&w.bystander.token),
        "nor is another name's token"
    );
}

/// FINDING: without sudo on the accessor list, the sweep revokes only recorded accessors, and
/// a mint whose answer never came was never recorded: it stays alive, a periodic admin token
/// nobody holds, until it is revoked by hand. The server offers no look-up by display name or
/// meta, so without listing only something known before the mint could find it again.
#[test]
#[ignore = "finding: without listing, a mint whose answer was lost is never swept"]
fn an_unrecorded_mint_is_swept_even_without_listing() {
    let w = World::new(false);
    let lost = kill_while_the_mint_is_parked(&w);
    let (code, stderr) = w.finish(w.command(&["renew"]).output().unwrap());
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(" HEALED: "), "{stderr}");
    assert!(
        !w.stranded().contains(&lost),
        "the mint the killed run never heard of is still alive: {stderr}"
    );
}
