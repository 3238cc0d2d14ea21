//! High availability on a real OpenBao: a three-node raft cluster on loopback. The renewer is
//! pointed at a standby, and (separately) at a round-robin TCP balancer over all three nodes:
//! the heal of an admin clobber, the check of the new token and the first renew after it all
//! succeed. The test also prints what the cluster does with a write sent to a standby and with
//! a brand-new token read on a standby at once (`cargo test --test ha_openbao -- --nocapture`).
//!
//! One test, one cluster, scenarios in sequence: three bao processes are enough for a shared
//! machine. Every node is killed when the cluster drops, also when an assertion fails.

use std::fs;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::process::Command;
use vault_devserver::TokenSpec;
use vault_devserver::openbao::cluster::{Cluster, Role, RoundRobin};

const BIN: &str = env!("CARGO_BIN_EXE_vault-token-renew");
const POLICIES: [&str; 2] = ["vault-admin", "sops-admin"];
const PERIOD: i64 = 768 * 3600;

/// A private HOME whose config points the renewer at `addr` under its own display name.
struct Home {
    dir: tempfile::TempDir,
}

struct Run {
    code: i32,
    stderr: String,
}

impl Home {
    fn new(addr: &str, display_name: &'static str) -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
        };
        let config = home.dir.path().join(".config/vault-token-renew");
        fs::create_dir_all(&config).unwrap();
        fs::write(
            config.join("config.toml"),
            format!(
                "vault_addr = \"{addr}\"\ndisplay_name = \"{display_name}\"\npolicies = [\"vault-admin\", \"sops-admin\"]\nretries = 1\ntimeout = \"5s\"\n"
            ),
        )
        .unwrap();
        home
    }

    fn token_file(&self) -> std::path::PathBuf {
        self.dir.path().join(".vault-token")
    }

    fn write_token(&self, token: &str) {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(self.token_file())
            .unwrap();
        std::io::Write::write_all(&mut f, token.as_bytes()).unwrap();
    }

    fn file_token(&self) -> String {
        fs::read_to_string(self.token_file()).unwrap()
    }

    fn last_log_line(&self) -> String {
        fs::read_to_string(self.dir.path().join(".local/state/vault-token-renew.log"))
            .unwrap_or_default()
            .lines()
            .last()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs the binary with `-v` (its retries show on stderr) and checks that none of `secrets`
    /// reached its output or log.
    fn run(&self, args: &[&str], secrets: &[String]) -> Run {
        let out = Command::new(BIN)
            .args(args)
            .arg("-v")
            .env_clear()
            .env("HOME", self.dir.path())
            .env("USER", "alice")
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let log = fs::read_to_string(self.dir.path().join(".local/state/vault-token-renew.log"))
            .unwrap_or_default();
        for secret in secrets {
            for text in [&stdout, &stderr, &log] {
                assert!(!text.contains(secret.as_str()), "a token value leaked");
            }
        }
        Run {
            code: out.status.code().unwrap_or(-1),
            stderr,
        }
    }
}

/// Heals an OIDC admin clobber through `addr`, then renews what it installed.
fn heal_then_renew(cluster: &Cluster, addr: &str, display_name: &'static str) {
    let bao = cluster.leader();
    let login = bao.add_token(TokenSpec::login(
        // A userpass login at mount `oidc` (userpass names allow no `@`).
        &format!("oidc-{}", display_name.trim_start_matches("devvm-")),
        &[],
        &POLICIES,
    ));
    let home = Home::new(addr, display_name);
    home.write_token(&login.token);

    let mut secrets = bao.issued_tokens();
    let heal = home.run(&["renew"], &secrets);
    let line = home.last_log_line();
    println!(
        "{display_name} via {addr}: heal → exit {}: {line}",
        heal.code
    );
    report_retries(&heal.stderr);
    assert_eq!(heal.code, 0, "{line}\n{}", heal.stderr);
    assert!(line.contains(" HEALED: "), "{line}");

    let minted = home.file_token();
    assert_ne!(minted, login.token);
    let mode = fs::metadata(home.token_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let view = bao
        .lookup(&minted)
        .expect("the active node knows the new token");
    assert_eq!(view.display_name, format!("token-{display_name}"));
    assert_eq!(view.period as i64, PERIOD);
    assert!(view.orphan);

    secrets.push(minted.clone());
    let renew = home.run(&["renew"], &secrets);
    let line = home.last_log_line();
    println!(
        "{display_name} via {addr}: renew → exit {}: {line}",
        renew.code
    );
    report_retries(&renew.stderr);
    assert_eq!(renew.code, 0, "{line}\n{}", renew.stderr);
    assert!(line.contains(" OK renewed "), "{line}");
    assert_eq!(home.file_token(), minted, "the renew kept the token");
    bao.note_issued(&minted);
}

fn report_retries(stderr: &str) {
    for line in stderr.lines().filter(|l| l.contains("retrying")) {
        println!("    {line}");
    }
}

/// What a standby does with a write, and with a token created a moment ago on the active node.
fn observe(cluster: &Cluster, standby: usize) {
    let create = cluster.call(
        standby,
        Some(vault_devserver::openbao::ROOT_TOKEN),
        "POST",
        "auth/token/create",
        Some(serde_json::json!({"policies": ["default"], "ttl": "10m"})),
    );
    let forwarded = create.body["auth"]["client_token"]
        .as_str()
        .map(str::to_owned);
    println!(
        "observed: a write (auth/token/create) sent to standby node {} → HTTP {}{}",
        standby + 1,
        create.status,
        if forwarded.is_some() {
            " with a token: the standby forwarded it to the active node"
        } else {
            ""
        }
    );
    if let Some(t) = forwarded {
        cluster.leader().note_issued(&t);
    }

    const TRIES: usize = 20;
    let other = cluster
        .standbys()
        .into_iter()
        .find(|&s| s != standby)
        .unwrap_or(0);
    for (made_on, read_on) in [(0, standby), (standby, other)] {
        let mut unseen = 0;
        for _ in 0..TRIES {
            let create = cluster.call(
                made_on,
                Some(vault_devserver::openbao::ROOT_TOKEN),
                "POST",
                "auth/token/create",
                Some(serde_json::json!({"policies": ["default"], "ttl": "10m"})),
            );
            let Some(fresh) = create.body["auth"]["client_token"].as_str() else {
                panic!(
                    "creating a token on node {} → {} {}",
                    made_on + 1,
                    create.status,
                    create.body
                );
            };
            cluster.leader().note_issued(fresh);
            let lookup = cluster.call(read_on, Some(fresh), "GET", "auth/token/lookup-self", None);
            if lookup.status != 200 {
                unseen += 1;
                println!("observed: → HTTP {} {}", lookup.status, lookup.body);
            }
        }
        println!(
            "observed: {unseen} of {TRIES} tokens created through node {} were not yet visible when read at once on standby node {}",
            made_on + 1,
            read_on + 1
        );
    }
}

#[test]
fn heal_and_renew_through_a_standby_and_through_a_round_robin_balancer() {
    let cluster = Cluster::start().expect("start a three-node OpenBao cluster");
    let bao = cluster.leader();
    bao.seed_demo();
    let roles: Vec<Role> = (0..3).map(|i| cluster.role(i)).collect();
    println!("roles: {roles:?}");
    let standbys = cluster.standbys();
    assert_eq!(
        standbys.len(),
        2,
        "one active node, two standbys: {roles:?}"
    );
    println!("standby sys/health: {}", cluster.health(standbys[0]).body);

    heal_then_renew(&cluster, &cluster.url(standbys[0]), "devvm-alice");
    assert_eq!(
        cluster.role(standbys[0]),
        Role::Standby,
        "the runs went to a node that was a standby throughout"
    );

    let balancer = RoundRobin::start(cluster.addrs()).unwrap();
    heal_then_renew(&cluster, &balancer.url(), "devvm-carol");
    let per_node: Vec<usize> = balancer
        .counts
        .iter()
        .map(|c| c.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
    println!("balancer connections per node: {per_node:?}");
    assert!(
        per_node.iter().filter(|&&n| n > 0).count() >= 2,
        "the two runs met more than one node: {per_node:?}"
    );

    observe(&cluster, standbys[1]);
}
