//! The fault matrix: every request the renew, heal, mint and sweep paths make × every way a
//! server or network can fail it. Each cell runs the real binary once against the double with
//! the fault injected (no retries, a short timeout), then checks the guarantees:
//!
//! - the file holds the original token or a verified new one of ours, mode 0600;
//! - no token minted by the run is alive outside the file, unless its answer was lost in transit
//!   (then nobody can know it exists) or it is recorded for the next sweep; after converging
//!   (the faults gone: `renew`, `sweep`), exactly one of ours is alive, the file's;
//! - exit code and the one log line fit the contract, and the outcome fits where the fault hit;
//! - no token value in stdout, stderr, the log or the state (the harness checks every run).

mod common;
mod hardening;

use common::*;
use hardening::proxy::GoneAfter;
use hardening::{Prepared, SCENARIOS, Scenario, Step, check_line};
use reqwest::Method;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Generous for a local request even on a loaded CI machine, short enough to keep the matrix fast.
const TIMEOUT: &str = "2s";
const SLOW: Duration = Duration::from_millis(3000);

#[derive(Clone, Debug)]
enum Class {
    /// The server is gone from this request on (nothing listens).
    Refused,
    Fault(FaultKind),
}

fn classes() -> Vec<(&'static str, Class)> {
    use FaultKind::*;
    vec![
        ("connection refused", Class::Refused),
        (
            "connection dropped, no answer",
            Class::Fault(DropConnection),
        ),
        ("connection dropped mid-answer", Class::Fault(DropMidBody)),
        ("slower than the timeout", Class::Fault(Delay(SLOW))),
        ("429", Class::Fault(FaultKind::status(429))),
        ("500", Class::Fault(FaultKind::status(500))),
        ("502", Class::Fault(FaultKind::status(502))),
        ("503 sealed", Class::Fault(Sealed)),
        ("403", Class::Fault(FaultKind::status(403))),
        ("400", Class::Fault(FaultKind::status(400))),
        ("malformed JSON", Class::Fault(Malformed)),
        ("truncated JSON", Class::Fault(Truncated)),
        ("empty body", Class::Fault(EmptyBody)),
        ("fields of the wrong type", Class::Fault(WrongTypes)),
        ("a body of 8 MiB", Class::Fault(Huge(8 << 20))),
    ]
}

struct Cell {
    scenario: Scenario,
    step: Step,
    class_name: &'static str,
    class: Class,
}

impl Cell {
    fn label(&self) -> String {
        format!(
            "{} / {} / {}",
            self.scenario.name(),
            self.step.0,
            self.class_name
        )
    }

    /// A 403 whose text (the double's: an ACL denial) says the token is live but may not do
    /// this: a token that may not look itself up is not ours and heals with its own authority;
    /// one that may not ask its capabilities leaves the mint path to the server's answer.
    fn acl_denial_moves_on(&self) -> bool {
        matches!(
            self.class,
            Class::Fault(FaultKind::Status { code: 403, .. })
        ) && match self.step.0 {
            "lookup-self" => matches!(self.scenario, Scenario::Renew | Scenario::Heal),
            "mint path" => true,
            _ => false,
        }
    }

    /// Faults after which the server may have minted a token the run never heard of.
    fn may_lose_a_mint(&self) -> bool {
        self.step.2 == "auth/token/create-orphan"
            && matches!(
                self.class,
                Class::Fault(FaultKind::DropMidBody | FaultKind::Truncated | FaultKind::Delay(_))
            )
    }
}

/// How often the fault answers. A 403 stands for a lasting denial: a single one about a token
/// written moments ago is ridden out as an HA standby catching up (`tests/read_after_write.rs`).
/// But a 403 that sends the run on to heal (the file's own lookup) must meet that one request
/// only, or it would also deny the check of the token the heal mints: the cell makes the file a
/// day old instead, so the denial is not taken for a standby catching up.
fn times(cell: &Cell, kind: &FaultKind) -> u32 {
    match kind {
        FaultKind::Status { code: 403, .. } if cell.acl_denial_moves_on() => 1,
        FaultKind::Status { code: 403, .. } => 1000,
        _ => 1,
    }
}

/// How many requests the path makes before the first request of `step`, on a healthy server.
fn requests_before(scenario: Scenario, step: &Step) -> usize {
    let p = Prepared::new(scenario);
    p.world.server.reset_requests();
    let run = p.run(&["--retries", "0"]);
    assert_eq!(run.code, 0, "{} runs clean: {run:?}", scenario.name());
    let requests = p.world.server.requests();
    let mut seen = 0;
    for (i, (method, path, _)) in requests.iter().enumerate() {
        if method.as_str() == step.1 && path.trim_end_matches('/') == step.2 {
            if seen == step.3 {
                return i;
            }
            seen += 1;
        }
    }
    panic!(
        "{} never makes {} #{}: {requests:?}",
        scenario.name(),
        step.2,
        step.3
    );
}

fn run_cell(cell: &Cell) -> Result<(), String> {
    let p = Prepared::new(cell.scenario);
    let w = &p.world;
    let mut args = vec!["--retries", "0", "--timeout", TIMEOUT];
    let proxy;
    let proxy_url;
    match &cell.class {
        Class::Refused => {
            proxy = GoneAfter::start(w.server.addr(), requests_before(cell.scenario, &cell.step));
            proxy_url = proxy.url();
            args.extend(["--vault-addr", proxy_url.as_str()]);
        }
        Class::Fault(kind) => {
            let method = Method::from_bytes(cell.step.1.as_bytes()).unwrap();
            if cell.acl_denial_moves_on() {
                w.backdate_token_file(Duration::from_secs(86_400));
            }
            w.server.inject_fault_after(
                Fault::new(Some(method), cell.step.2, kind.clone(), times(cell, kind)),
                cell.step.3,
            );
        }
    }
    let lines_before = w.log_lines().len();
    let run = p.run(&args);
    w.server.clear_faults();
    let line = check_line(w, lines_before, &run)?;
    // The fault really met its request (a path that skipped it would prove nothing). A delayed
    // request is recorded only once the double answers it, after the client has given up.
    match &cell.class {
        Class::Fault(FaultKind::Delay(_)) => {
            // The sweep counts a failed look-up or revoke rather than quoting it.
            if !line.contains("timed out") && !line.contains(" 1 look-up(s) or revoke(s) failed") {
                return Err(format!("the slow request did not time out: {line}"));
            }
        }
        Class::Fault(_) => {
            let method = Method::from_bytes(cell.step.1.as_bytes()).unwrap();
            if w.server.request_count(method, cell.step.2) <= cell.step.3 as usize {
                return Err(format!("the targeted request was never made: {line}"));
            }
        }
        Class::Refused => {}
    }
    if std::env::var_os("FAULT_MATRIX_VERBOSE").is_some() {
        eprintln!("{} → exit {}: {line}", cell.label(), run.code);
    }
    let changed = p.check_file()?;

    // The outcome fits where the fault hit.
    if cell.acl_denial_moves_on() {
        if run.code != 0 || !changed {
            return Err(format!(
                "an ACL denial here must not stop a heal or mint (exit {}, file changed: {changed}): {line}",
                run.code
            ));
        }
    } else if cell.scenario.installs_before(&cell.step) {
        if run.code != 0 || !changed {
            return Err(format!(
                "a fault after the install must not fail the heal (exit {}, file changed: {changed}): {line}",
                run.code
            ));
        }
    } else {
        if changed {
            return Err(format!(
                "the file changed although the run failed early: {line}"
            ));
        }
        let denied = cell.step.0 == "create-orphan"
            && matches!(
                &cell.class,
                Class::Fault(FaultKind::Status {
                    code: 400 | 403,
                    ..
                })
            );
        let allowed: &[i32] = match cell.scenario {
            Scenario::Heal if denied => &[3],
            Scenario::Mint | Scenario::Sweep | Scenario::Heal | Scenario::Renew => &[4],
        };
        // A sweep that cannot list still revokes what was recorded; it reports the rest.
        let allowed = if cell.scenario == Scenario::Sweep && cell.step.0 != "lookup-self" {
            &[0, 4][..]
        } else {
            allowed
        };
        if !allowed.contains(&run.code) {
            return Err(format!(
                "exit {} where {allowed:?} was expected: {line}",
                run.code
            ));
        }
    }

    let stranded = p.stranded();
    let recorded = p.recorded();
    let unexplained: Vec<_> = stranded
        .iter()
        .filter(|a| !recorded.contains(*a) && !cell.may_lose_a_mint())
        .collect();
    if !unexplained.is_empty() {
        return Err(format!(
            "minted token(s) {unexplained:?} alive, not in the file and not recorded for the sweep: {line}"
        ));
    }
    p.check_bystanders()?;
    p.converge()
}

#[test]
fn every_request_times_every_fault_keeps_the_guarantees() {
    let mut cells = Vec::new();
    for scenario in SCENARIOS {
        for step in scenario.steps() {
            for (class_name, class) in classes() {
                cells.push(Cell {
                    scenario,
                    step,
                    class_name,
                    class,
                });
            }
        }
    }
    let requests: usize = SCENARIOS.iter().map(|s| s.steps().len()).sum();
    println!(
        "fault matrix: {requests} requests across {} paths × {} fault classes = {} cells",
        SCENARIOS.len(),
        classes().len(),
        cells.len()
    );

    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get() * 3)
        .unwrap_or(6)
        .min(12);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(cell) = cells.get(i) else { break };
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_cell(cell)));
                    let problem = match outcome {
                        Ok(Ok(())) => continue,
                        Ok(Err(e)) => e,
                        Err(panic) => panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panicked".into()),
                    };
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{}: {problem}", cell.label()));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cells broke a guarantee:\n{}",
        failures.len(),
        cells.len(),
        failures.join("\n")
    );
}
