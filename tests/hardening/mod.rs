//! Shared by the hardening suites (fault matrix, crash, concurrency, hygiene): the four command
//! paths set up in a world with stale copies and bystanders, and the guarantees every run must
//! keep, checked from the outside (the file, the server's state, the log, the exit code).
#![allow(dead_code)]

pub mod proxy;

use crate::common::*;
use std::collections::BTreeSet;

/// One of the command paths the renewer takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `renew` with our token in the file.
    Renew,
    /// `renew` with an admin-capable OIDC login in the file: the heal.
    Heal,
    /// `mint` with the OIDC login in VAULT_TOKEN and a kubernetes login in the file.
    Mint,
    /// `sweep` with our token in the file.
    Sweep,
}

/// A request a path makes: `(label, method, path, matches to skip)`.
pub type Step = (&'static str, &'static str, &'static str, u32);

pub const SCENARIOS: [Scenario; 4] = [
    Scenario::Renew,
    Scenario::Heal,
    Scenario::Mint,
    Scenario::Sweep,
];

const LOOKUP_SELF: (&str, &str, &str, u32) = ("lookup-self", "GET", "auth/token/lookup-self", 0);
const CAPS: Step = ("capabilities-self", "POST", "sys/capabilities-self", 0);
/// A heal or mint asks first which mint path the authority may use; the sweep asks second.
const MINT_PATH: Step = ("mint path", "POST", "sys/capabilities-self", 0);
const SWEEP_CAPS: Step = ("capabilities-self", "POST", "sys/capabilities-self", 1);
const LIST: Step = ("accessor list", "GET", "auth/token/accessors", 0);
const LOOKUP_ACCESSOR: Step = ("accessor lookup", "POST", "auth/token/lookup-accessor", 0);
const REVOKE_ACCESSOR: Step = ("revoke", "POST", "auth/token/revoke-accessor", 0);
const CREATE: Step = ("create-orphan", "POST", "auth/token/create-orphan", 0);

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Renew => "renew",
            Scenario::Heal => "heal",
            Scenario::Mint => "mint",
            Scenario::Sweep => "sweep",
        }
    }

    /// Every request the path makes, in order.
    pub fn steps(self) -> Vec<Step> {
        match self {
            Scenario::Renew => vec![
                LOOKUP_SELF,
                ("renew-self", "POST", "auth/token/renew-self", 0),
            ],
            Scenario::Heal => vec![
                LOOKUP_SELF,
                MINT_PATH,
                CREATE,
                (
                    "lookup of the new token",
                    "GET",
                    "auth/token/lookup-self",
                    1,
                ),
                SWEEP_CAPS,
                LIST,
                LOOKUP_ACCESSOR,
                REVOKE_ACCESSOR,
            ],
            Scenario::Mint => vec![
                MINT_PATH,
                CREATE,
                (
                    "lookup of the new token",
                    "GET",
                    "auth/token/lookup-self",
                    0,
                ),
                SWEEP_CAPS,
                LIST,
                LOOKUP_ACCESSOR,
                REVOKE_ACCESSOR,
            ],
            Scenario::Sweep => vec![LOOKUP_SELF, CAPS, LIST, LOOKUP_ACCESSOR, REVOKE_ACCESSOR],
        }
    }

    /// Steps after which the file may hold a new token (the mint was verified and installed).
    pub fn installs_before(self, step: &Step) -> bool {
        matches!(self, Scenario::Heal | Scenario::Mint)
            && matches!(
                step.0,
                "capabilities-self" | "accessor list" | "accessor lookup" | "revoke"
            )
    }

    pub fn args(self) -> Vec<&'static str> {
        vec![match self {
            Scenario::Renew | Scenario::Heal => "renew",
            Scenario::Mint => "mint",
            Scenario::Sweep => "sweep",
        }]
    }
}

/// A world set up for a scenario, with what the checks need to know about it.
pub struct Prepared {
    pub scenario: Scenario,
    pub world: World,
    /// What the file held before the run.
    pub original: String,
    /// The OIDC admin login (the heal's and the mint's authority); never revoked by us.
    pub login: Seeded,
    /// Tokens of other names that must survive everything.
    pub bystanders: Vec<Seeded>,
    /// Copies of our token that existed before the run (stale ones, and ours in the file).
    pub preexisting: BTreeSet<String>,
    /// Extra environment for the run (VAULT_TOKEN for `mint`).
    pub env: Vec<(String, String)>,
}

impl Prepared {
    /// The scenario's world on the double.
    pub fn new(scenario: Scenario) -> Prepared {
        Prepared::on(Kind::Double, scenario)
    }

    pub fn on(kind: Kind, scenario: Scenario) -> Prepared {
        let world = World::on(kind);
        let bob = world
            .server
            .add_token(TokenSpec::periodic("othervm-bob", &OUR_POLICIES, PERIOD));
        let ci = world.seed_kubernetes_login();
        let login = world.seed_oidc_login();
        let mut preexisting = BTreeSet::new();
        let mut record = Vec::new();
        let mut env = Vec::new();
        let original = match scenario {
            Scenario::Renew => {
                let ours = world.seed_ours();
                preexisting.insert(ours.accessor.clone());
                ours.token
            }
            Scenario::Heal | Scenario::Mint | Scenario::Sweep => {
                // One stale copy we recorded when minting it, one findable only by listing.
                let recorded = world.seed_ours();
                let listed = world.seed_ours();
                record.push(recorded.accessor.clone());
                preexisting.extend([recorded.accessor, listed.accessor]);
                match scenario {
                    Scenario::Heal => login.token.clone(),
                    Scenario::Mint => {
                        env.push(("VAULT_TOKEN".to_string(), login.token.clone()));
                        world.seed_kubernetes_login().token
                    }
                    _ => {
                        let ours = world.seed_ours();
                        preexisting.insert(ours.accessor.clone());
                        ours.token
                    }
                }
            }
        };
        if !record.is_empty() {
            std::fs::create_dir_all(world.state_dir()).unwrap();
            std::fs::write(world.record_file(), format!("{}\n", record.join("\n"))).unwrap();
        }
        world.write_token(&original);
        Prepared {
            scenario,
            world,
            original,
            login,
            bystanders: vec![bob, ci],
            preexisting,
            env,
        }
    }

    pub fn run(&self, extra: &[&str]) -> Run {
        let mut args = self.scenario.args();
        args.extend_from_slice(extra);
        self.world.run_env(&args, &self.env_refs())
    }

    pub fn env_refs(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// Did the file change to a new token? Err if it holds anything but the original or a
    /// verified token of ours.
    pub fn check_file(&self) -> Result<bool, String> {
        let w = &self.world;
        let content = w
            .file_content()
            .ok_or("the token file is gone or unreadable")?;
        let mode = w.file_mode();
        if mode != 0o600 {
            return Err(format!("the token file has mode {mode:o}, not 600"));
        }
        if content == self.original {
            return Ok(false);
        }
        let view = w
            .server
            .lookup(&content)
            .ok_or("the file holds a token the server never issued (a partial write?)")?;
        if !(view.alive
            && view.display_name == OUR_NAME
            && view.period == PERIOD
            && view.orphan
            && OUR_POLICIES
                .iter()
                .all(|p| view.policies.iter().any(|q| q == p)))
        {
            return Err(format!("the file holds an unverified token: {view:?}"));
        }
        Ok(true)
    }

    /// Copies of our token minted by the run that are alive but not in the file.
    pub fn stranded(&self) -> Vec<String> {
        let in_file = self
            .world
            .file_content()
            .and_then(|t| self.world.server.lookup(&t))
            .map(|v| v.accessor);
        self.world
            .our_alive_accessors()
            .into_iter()
            .filter(|a| Some(a) != in_file.as_ref() && !self.preexisting.contains(a))
            .collect()
    }

    pub fn recorded(&self) -> BTreeSet<String> {
        std::fs::read_to_string(self.world.record_file())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Tokens that are not ours are never revoked: the login in the file, bystanders.
    pub fn check_bystanders(&self) -> Result<(), String> {
        let s = &self.world.server;
        if !s.token_alive(&self.login.token) {
            return Err("the login (the heal's authority) was revoked".into());
        }
        for b in &self.bystanders {
            if !s.token_alive(&b.token) {
                return Err(format!(
                    "a token of another name was revoked ({})",
                    b.accessor
                ));
            }
        }
        Ok(())
    }

    /// Runs until the world is healthy again — the command again (mint), then `renew` and
    /// `sweep` with the faults gone — and checks that exactly one token of ours is alive: the file's.
    pub fn converge(&self) -> Result<(), String> {
        let w = &self.world;
        w.server.clear_faults();
        if self.scenario == Scenario::Mint && w.file_content().as_deref() == Some(&self.original) {
            let run = self.run(&[]);
            if run.code != 0 {
                return Err(format!("the repeated mint failed: {run:?}"));
            }
        }
        for cmd in ["renew", "sweep"] {
            let run = w.run(&[cmd]);
            if run.code != 0 {
                return Err(format!("`{cmd}` after the fault did not converge: {run:?}"));
            }
        }
        let alive = w.our_alive_accessors();
        let view = w.file_token_view();
        if alive != std::slice::from_ref(&view.accessor) {
            return Err(format!(
                "after converging, live tokens of ours are {alive:?}, the file's is {}",
                view.accessor
            ));
        }
        if w.file_mode() != 0o600 {
            return Err("after converging the file is not 0600".into());
        }
        self.check_bystanders()
    }
}

/// The run left exactly one log line, its word fits the exit code, and stderr carries it.
pub fn check_line(world: &World, lines_before: usize, run: &Run) -> Result<String, String> {
    let lines = world.log_lines();
    if lines.len() != lines_before + 1 {
        return Err(format!(
            "expected one new log line, found {}: {lines:?}",
            lines.len() as isize - lines_before as isize
        ));
    }
    let line = lines.last().unwrap().clone();
    let word_ok = match run.code {
        0 => line.contains(" OK ") || line.contains(" HEALED: "),
        3 => line.contains(" DRIFT: "),
        4 => line.contains(" FAIL: "),
        _ => false,
    };
    if !word_ok {
        return Err(format!("exit {} does not fit the line {line:?}", run.code));
    }
    if !run.stderr.contains(&line) {
        return Err(format!("the log line is not on stderr: {run:?}"));
    }
    if line.len() > 2100 || line.chars().any(|c| c.is_control()) {
        return Err(format!(
            "the line is not one bounded, escaped line: {line:?}"
        ));
    }
    Ok(line)
}
