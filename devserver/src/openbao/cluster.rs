//! A real three-node OpenBao HA cluster on loopback (integrated storage, raft), for testing what
//! a client meets on a standby: node 1 is initialised (one key share) and unsealed, nodes 2 and 3
//! join it through `sys/storage/raft/join` and are unsealed with the same key. Since OpenBao 2.5
//! standbys serve reads themselves (`disable_standby_reads` defaults to false) and forward
//! writes to the active node, so they are eventually consistent.
//!
//! Seeding and inspection go through [`Cluster::leader`], an ordinary [`OpenBao`] handle whose
//! root token is [`ROOT_TOKEN`] as with the dev server. Dropping the cluster kills every node.

use super::KillWithParent;
use super::{Answer, OpenBao, ROOT_TOKEN, binary, request};
use serde_json::{Value, json};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const NODES: usize = 3;
/// Start-up, election and joins together; generous for a loaded machine.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// What `sys/health` says about a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Active,
    Standby,
    /// Sealed, uninitialised, unreachable or anything else.
    Other(u16),
}

pub struct Cluster {
    /// Node 1's process and the seeding handle. Declared first, so it outlives nothing: the
    /// `Drop` below kills the other nodes before the fields drop.
    leader: OpenBao,
    others: Vec<Child>,
    api: Vec<SocketAddr>,
    agent: ureq::Agent,
    dir: PathBuf,
}

impl Cluster {
    /// Starts, initialises, unseals and joins three nodes, and waits for one active node and two
    /// standbys. The error carries the nodes' logs.
    pub fn start() -> io::Result<Cluster> {
        let bin = binary().map_err(io::Error::other)?;
        let ports = free_ports(2 * NODES)?;
        let dir = std::env::temp_dir().join(format!(
            "vault-token-renew-openbao-cluster-{}-{}",
            std::process::id(),
            ports[0].port()
        ));
        fs::create_dir_all(&dir)?;
        let api: Vec<SocketAddr> = ports[..NODES].to_vec();
        let cluster_ports = &ports[NODES..];
        let mut children = Vec::new();
        for i in 0..NODES {
            children.push(start_node(&bin, &dir, i, api[i], cluster_ports[i])?);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut children = children.into_iter();
        let leader = OpenBao {
            child: Mutex::new(children.next().expect("three nodes")),
            addr: api[0],
            agent: agent.clone(),
            home: dir.clone(),
            root: ROOT_TOKEN.to_owned(),
            audit: super::audit::Audit::new(dir.join("no-audit-log")),
            issued: Mutex::new(Vec::new()),
            userpass_mounts: Mutex::new(Vec::new()),
        };
        let cluster = Cluster {
            leader,
            others: children.collect(),
            api,
            agent,
            dir,
        };
        match cluster.form() {
            Ok(()) => Ok(cluster),
            Err(e) => Err(io::Error::other(format!("{e}\n{}", cluster.logs()))),
        }
    }

    /// Init, unseal, join, and a root token with the well-known id.
    fn form(&self) -> Result<(), String> {
        for i in 0..NODES {
            self.wait_for(i, "answer", |a| a.status != 0)?;
        }
        let init = self.call(
            0,
            None,
            "PUT",
            "sys/init",
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        );
        let key = init.body["keys_base64"][0].as_str().map(str::to_owned);
        let root = init.body["root_token"].as_str().map(str::to_owned);
        let (Some(key), Some(root)) = (key, root) else {
            return Err(format!("sys/init → {} {}", init.status, init.body));
        };
        self.leader.note_issued(&root);
        self.unseal(0, &key)?;
        self.wait_for(0, "become active", |a| a.status == 200)?;
        let leader_api = format!("http://{}", self.api[0]);
        for i in 1..NODES {
            let joined = self.call(
                i,
                None,
                "PUT",
                "sys/storage/raft/join",
                Some(json!({"leader_api_addr": leader_api})),
            );
            if joined.body["joined"] != Value::Bool(true) {
                return Err(format!(
                    "node {} join → {} {}",
                    i + 1,
                    joined.status,
                    joined.body
                ));
            }
            self.unseal(i, &key)?;
            self.wait_for(i, "become a standby", |a| a.status == 429)?;
        }
        // The dev server's root token id, so every `OpenBao` helper works unchanged.
        let created = self.call(
            0,
            Some(&root),
            "POST",
            "auth/token/create",
            Some(json!({"id": ROOT_TOKEN, "policies": ["root"], "no_parent": true})),
        );
        if !created.ok() {
            return Err(format!(
                "creating the root token → {} {}",
                created.status, created.body
            ));
        }
        Ok(())
    }

    fn unseal(&self, node: usize, key: &str) -> Result<(), String> {
        let a = self.call(node, None, "PUT", "sys/unseal", Some(json!({"key": key})));
        if a.ok() {
            Ok(())
        } else {
            Err(format!(
                "node {} unseal → {} {}",
                node + 1,
                a.status,
                a.body
            ))
        }
    }

    fn wait_for(
        &self,
        node: usize,
        what: &str,
        done: impl Fn(&Answer) -> bool,
    ) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let health = self.health(node);
            if done(&health) {
                return Ok(());
            }
            if start.elapsed() > READY_WITHIN {
                return Err(format!(
                    "node {} did not {what} within {READY_WITHIN:?}: sys/health → {} {}",
                    node + 1,
                    health.status,
                    health.body
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The seeding and inspection handle (node 1, the node that was initialised). Leadership can
    /// move on a badly loaded machine; [`Cluster::role`] says who is active now.
    pub fn leader(&self) -> &OpenBao {
        &self.leader
    }

    pub fn url(&self, node: usize) -> String {
        format!("http://{}", self.api[node])
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.api
    }

    /// `GET sys/health` on one node, without a token.
    pub fn health(&self, node: usize) -> Answer {
        self.call(node, None, "GET", "sys/health", None)
    }

    pub fn role(&self, node: usize) -> Role {
        match self.health(node).status {
            200 => Role::Active,
            429 => Role::Standby,
            other => Role::Other(other),
        }
    }

    /// Indices of the nodes that are standbys now.
    pub fn standbys(&self) -> Vec<usize> {
        (0..NODES)
            .filter(|&i| self.role(i) == Role::Standby)
            .collect()
    }

    /// One request to one node (redirects are not followed: a 307 is an answer too).
    pub fn call(
        &self,
        node: usize,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        request(&self.agent, &self.url(node), token, method, path, body)
    }

    /// The tail of every node's log, for a failure message.
    pub fn logs(&self) -> String {
        (0..NODES)
            .map(|i| {
                let text = fs::read_to_string(log_path(&self.dir, i)).unwrap_or_default();
                let tail = &text[text.len().saturating_sub(4000)..];
                format!("--- node {} ---\n{tail}", i + 1)
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.others {
            let _ = child.kill();
            let _ = child.wait();
        }
        // `leader` drops next: it kills node 1 and removes the cluster directory.
    }
}

fn log_path(dir: &Path, node: usize) -> PathBuf {
    dir.join(format!("node{}.log", node + 1))
}

/// Writes the node's config and starts `bao server` on it, its output into a log file.
fn start_node(
    bin: &Path,
    dir: &Path,
    node: usize,
    api: SocketAddr,
    cluster: SocketAddr,
) -> io::Result<Child> {
    let id = format!("node{}", node + 1);
    let data = dir.join(&id);
    fs::create_dir_all(&data)?;
    let config = dir.join(format!("{id}.hcl"));
    fs::write(
        &config,
        format!(
            r#"storage "raft" {{
  path    = "{data}"
  node_id = "{id}"
}}
listener "tcp" {{
  address         = "{api}"
  cluster_address = "{cluster}"
  tls_disable     = true
}}
api_addr      = "http://{api}"
cluster_addr  = "https://{cluster}"
disable_mlock = true
log_level     = "warn"
"#,
            data = data.display()
        ),
    )?;
    let log = File::create(log_path(dir, node))?;
    Command::new(bin)
        .args(["server", "-config"])
        .arg(&config)
        .env_clear()
        .env("HOME", dir)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_with_parent()
        .spawn()
}

/// `n` distinct free loopback ports (bound together, then released for bao to take).
fn free_ports(n: usize) -> io::Result<Vec<SocketAddr>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    listeners.iter().map(TcpListener::local_addr).collect()
}

/// A TCP load balancer in front of the nodes: each new connection goes to the next node in
/// turn (a client that keeps its connection stays on one node, as behind a real one).
pub struct RoundRobin {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepter: Option<JoinHandle<()>>,
    /// How many connections went to each upstream.
    pub counts: Arc<Vec<AtomicUsize>>,
}

impl RoundRobin {
    pub fn start(upstreams: &[SocketAddr]) -> io::Result<RoundRobin> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new(upstreams.iter().map(|_| AtomicUsize::new(0)).collect());
        let upstreams = upstreams.to_vec();
        let (stop2, counts2) = (stop.clone(), counts.clone());
        let accepter = std::thread::spawn(move || {
            let mut next = 0;
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let i = next % upstreams.len();
                next += 1;
                counts2[i].fetch_add(1, Ordering::SeqCst);
                if let Ok(server) = TcpStream::connect(upstreams[i]) {
                    pipe(client, server);
                }
            }
        });
        Ok(RoundRobin {
            addr,
            stop,
            accepter: Some(accepter),
            counts,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accepter.take() {
            let _ = t.join();
        }
    }
}

/// Copies both ways until either side closes.
fn pipe(client: TcpStream, server: TcpStream) {
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    std::thread::spawn(move || copy_then_close(client, server));
    std::thread::spawn(move || copy_then_close(server2, client2));
}

fn copy_then_close(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
