//! Prometheus textfile metrics for node_exporter's textfile collector, rewritten atomically after
//! every renew, mint and sweep run when `metrics_file` is set. Counters and the last success time
//! carry over from the previous file, so the file is its own state: deleting it resets counters,
//! which Prometheus treats as an ordinary counter reset.

use crate::runlog::{Outcome, Report};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PREFIX: &str = "vault_token_renew";
/// Our own file is a few kilobytes; more than this is not ours and is not read.
const MAX_PREVIOUS: u64 = 1 << 20;

/// The values of `vault_token_renew_last_run_result{result=…}` (exactly one is 1) and of
/// `runs_total{result=…}`. `usage`: the settings did not resolve (a config error).
pub const RESULTS: [(Outcome, &str); 5] = [
    (Outcome::Ok, "ok"),
    (Outcome::Healed, "healed"),
    (Outcome::Drift, "drift"),
    (Outcome::Fail, "fail"),
    (Outcome::Usage, "usage"),
];

/// The `result` label of an outcome (`ok`, `healed`, `drift`, `fail`, `usage`).
pub fn result_label(outcome: Outcome) -> &'static str {
    RESULTS
        .iter()
        .find(|(o, _)| *o == outcome)
        .map_or("fail", |(_, name)| name)
}

/// One finished run, as the metrics file records it.
pub struct Run<'a> {
    pub report: &'a Report,
    pub started: SystemTime,
    pub finished: SystemTime,
    /// The `user` label: node_exporter merges every user's file, so each series names its owner.
    pub user: &'a str,
    /// The `profile` label (`default` or a `[profiles.<name>]` name): profiles may be scraped
    /// together, each from its own file.
    pub profile: &'a str,
}

/// Values carried over from the previous file.
#[derive(Debug, Default, PartialEq)]
struct Carried {
    last_success: Option<f64>,
    heals: f64,
    failures: f64,
    /// `runs_total` by result label.
    runs: BTreeMap<String, f64>,
    expire: Option<f64>,
    period: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write metrics file {path}: {source}; fix its directory's permissions or change `metrics_file`"
)]
pub struct MetricsError {
    path: PathBuf,
    source: std::io::Error,
}

/// Rewrites `path` for this run. The run's outcome never depends on it: callers warn and go on.
pub fn record(path: &Path, run: &Run) -> Result<(), MetricsError> {
    // Non-blocking and bounded: something other than our own file at the path reads as absent.
    let previous = crate::localfile::read_regular(path, MAX_PREVIOUS)
        .map(|bytes| carried(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default();
    let text = render(run, &previous);
    write_atomically(path, text.as_bytes()).map_err(|source| MetricsError {
        path: path.to_owned(),
        source,
    })
}

/// Renders the whole file. Every family has HELP and TYPE, base units, and `user` and `profile`
/// labels.
fn render(run: &Run, previous: &Carried) -> String {
    let outcome = run.report.outcome;
    let finished = secs(run.finished);
    let succeeded = matches!(outcome, Outcome::Ok | Outcome::Healed);
    let last_success = if succeeded {
        Some(finished)
    } else {
        previous.last_success
    };
    // A run that learned nothing about the token (server unreachable) keeps the last known facts.
    let (expire, period) = match run.report.token {
        Some(t) => (
            Some(finished + t.ttl_secs.max(0) as f64),
            Some(t.period_secs.unwrap_or(0).max(0) as f64),
        ),
        None => (previous.expire, previous.period),
    };
    let user = format!(
        "user=\"{}\",profile=\"{}\"",
        label_value(run.user),
        label_value(run.profile)
    );
    let duration = run
        .finished
        .duration_since(run.started)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64();

    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(out, "# HELP {PREFIX}_{name} {help}");
        let _ = writeln!(out, "# TYPE {PREFIX}_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{PREFIX}_{name}{{{labels}}} {}", number(*value));
        }
    };
    family(
        "last_run_timestamp_seconds",
        "gauge",
        "Unix time the last renew, mint or sweep run finished.",
        &[(user.clone(), finished)],
    );
    family(
        "last_run_duration_seconds",
        "gauge",
        "How long the last run took.",
        &[(user.clone(), duration)],
    );
    family(
        "last_success_timestamp_seconds",
        "gauge",
        "Unix time of the last run that ended OK or HEALED; 0 if none has.",
        &[(user.clone(), last_success.unwrap_or(0.0))],
    );
    let results: Vec<(String, f64)> = RESULTS
        .iter()
        .map(|(o, name)| {
            (
                format!("{user},result=\"{name}\""),
                if *o == outcome { 1.0 } else { 0.0 },
            )
        })
        .collect();
    family(
        "last_run_result",
        "gauge",
        "Result of the last run: 1 for the result it had (ok, healed, drift, fail, usage), 0 for the others.",
        &results,
    );
    let runs: Vec<(String, f64)> = RESULTS
        .iter()
        .map(|(o, name)| {
            let before = previous.runs.get(*name).copied().unwrap_or(0.0);
            (
                format!("{user},result=\"{name}\""),
                before + f64::from(*o == outcome),
            )
        })
        .collect();
    family(
        "runs_total",
        "counter",
        "Renew, mint and sweep runs by result (ok, healed, drift, fail, usage).",
        &runs,
    );
    if let Some(expire) = expire {
        family(
            "token_expire_timestamp_seconds",
            "gauge",
            "Unix time the token in the token file expires unless renewed, as the last run that reached the server saw it.",
            &[(user.clone(), expire)],
        );
    }
    if let Some(period) = period {
        family(
            "token_period_seconds",
            "gauge",
            "Period of the token in the token file; 0 if it is not periodic.",
            &[(user.clone(), period)],
        );
    }
    family(
        "heals_total",
        "counter",
        "Runs that replaced a foreign token in the token file with a freshly minted one.",
        &[(
            user.clone(),
            previous.heals + f64::from(outcome == Outcome::Healed),
        )],
    );
    family(
        "failures_total",
        "counter",
        "Runs that ended DRIFT or FAIL.",
        &[(user.clone(), previous.failures + f64::from(!succeeded))],
    );
    family(
        "build_info",
        "gauge",
        "Always 1; the version label names the vault-token-renew build.",
        &[(
            format!(
                "{user},version=\"{}\"",
                label_value(env!("CARGO_PKG_VERSION"))
            ),
            1.0,
        )],
    );
    out
}

/// Reads back the values a new file carries over. Anything unparsable counts as absent.
fn carried(text: &str) -> Carried {
    let mut values: BTreeMap<&str, f64> = BTreeMap::new();
    let mut runs = BTreeMap::new();
    let runs_name = format!("{PREFIX}_runs_total");
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        if !(value.is_finite() && value >= 0.0) {
            continue;
        }
        if name == runs_name {
            if let Some(result) = label_of_line(line) {
                runs.insert(result.to_owned(), value);
            }
        } else {
            values.insert(name, value);
        }
    }
    let get = |name: &str| values.get(format!("{PREFIX}_{name}").as_str()).copied();
    Carried {
        last_success: get("last_success_timestamp_seconds").filter(|v| *v > 0.0),
        heals: get("heals_total").unwrap_or(0.0),
        failures: get("failures_total").unwrap_or(0.0),
        runs,
        expire: get("token_expire_timestamp_seconds"),
        period: get("token_period_seconds"),
    }
}

/// The `result` label's value of a sample line (our own values never need escaping).
fn label_of_line(line: &str) -> Option<&str> {
    let rest = &line[line.find("result=\"")? + "result=\"".len()..];
    Some(&rest[..rest.find('"')?])
}

/// Escapes a label value as the text exposition format requires.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Whole numbers without a fraction; others with millisecond precision.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as f64
}

/// Temp file in the same directory, then rename: node_exporter never reads a half-written file,
/// and the temp name does not end in `.prom`, so the collector ignores it.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map_or_else(|| "metrics".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        // The directory may be a shared collector directory others can write: the temp file
        // is created fresh, never through a link planted at its name.
        // World-readable on purpose: node_exporter runs as another user. No secret is in it.
        let mut f = crate::localfile::create_temp(&tmp, 0o644)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The `user` label: `$USER`, else the numeric uid.
pub fn user_label() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| rustix::process::getuid().as_raw().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn run_at(report: &Report, secs: u64) -> Run<'_> {
        Run {
            report,
            started: at(secs) - Duration::from_millis(250),
            finished: at(secs),
            user: "alice",
            profile: "lab",
        }
    }

    /// Parses with a real exposition-format parser and checks every sample line was understood.
    fn parse(text: &str) -> prometheus_parse::Scrape {
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
        let sample_lines = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(
            scrape.samples.len(),
            sample_lines,
            "every sample parsed:\n{text}"
        );
        scrape
    }

    fn value(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| {
                s.metric == format!("{PREFIX}_{name}")
                    && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v))
            })
            .unwrap_or_else(|| panic!("no sample {name} {label:?}"));
        assert_eq!(sample.labels.get("user"), Some("alice"));
        assert_eq!(
            sample.labels.get("profile"),
            Some("lab"),
            "every series names its profile"
        );
        match sample.value {
            prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("unexpected value {other:?}"),
        }
    }

    #[test]
    fn a_renewal_then_a_drift_then_a_heal() {
        let ok = Report::new(Outcome::Ok, "renewed").with_token(2_764_800, Some(2_764_800));
        let first = render(&run_at(&ok, 1_000_000), &Carried::default());
        let s = parse(&first);
        assert_eq!(value(&s, "last_run_timestamp_seconds", None), 1_000_000.0);
        assert_eq!(
            value(&s, "last_success_timestamp_seconds", None),
            1_000_000.0
        );
        assert_eq!(
            value(&s, "token_expire_timestamp_seconds", None),
            3_764_800.0
        );
        assert_eq!(value(&s, "token_period_seconds", None), 2_764_800.0);
        assert_eq!(value(&s, "last_run_result", Some(("result", "ok"))), 1.0);
        assert_eq!(value(&s, "last_run_result", Some(("result", "drift"))), 0.0);
        assert_eq!(value(&s, "last_run_duration_seconds", None), 0.25);
        assert_eq!(value(&s, "heals_total", None), 0.0);
        assert_eq!(
            value(
                &s,
                "build_info",
                Some(("version", env!("CARGO_PKG_VERSION")))
            ),
            1.0
        );

        let drift = Report::new(Outcome::Drift, "weak").with_token(3600, None);
        let second = render(&run_at(&drift, 1_086_400), &carried(&first));
        let s = parse(&second);
        assert_eq!(
            value(&s, "last_success_timestamp_seconds", None),
            1_000_000.0,
            "a failed run keeps the last success"
        );
        assert_eq!(value(&s, "last_run_result", Some(("result", "drift"))), 1.0);
        assert_eq!(value(&s, "last_run_result", Some(("result", "ok"))), 0.0);
        assert_eq!(value(&s, "failures_total", None), 1.0);
        assert_eq!(value(&s, "token_period_seconds", None), 0.0);

        let unreachable = Report::new(Outcome::Fail, "down");
        let third = render(&run_at(&unreachable, 1_090_000), &carried(&second));
        let s = parse(&third);
        assert_eq!(
            value(&s, "token_expire_timestamp_seconds", None),
            1_086_400.0 + 3600.0,
            "a run that learned nothing keeps the last known expiry"
        );
        assert_eq!(value(&s, "failures_total", None), 2.0);

        let healed = Report::new(Outcome::Healed, "x").with_token(2_764_800, Some(2_764_800));
        let fourth = render(&run_at(&healed, 1_100_000), &carried(&third));
        let s = parse(&fourth);
        assert_eq!(value(&s, "heals_total", None), 1.0);
        assert_eq!(value(&s, "failures_total", None), 2.0);
        assert_eq!(
            value(&s, "last_success_timestamp_seconds", None),
            1_100_000.0
        );

        let typo = Report::new(Outcome::Usage, "config");
        let fifth = render(&run_at(&typo, 1_200_000), &carried(&fourth));
        let s = parse(&fifth);
        for (result, runs) in [
            ("ok", 1.0),
            ("healed", 1.0),
            ("drift", 1.0),
            ("fail", 1.0),
            ("usage", 1.0),
        ] {
            assert_eq!(
                value(&s, "runs_total", Some(("result", result))),
                runs,
                "runs_total{{result={result}}} counts each run once:\n{fifth}"
            );
        }
        assert_eq!(value(&s, "last_run_result", Some(("result", "usage"))), 1.0);
        assert_eq!(value(&s, "failures_total", None), 3.0);
        let sixth = render(&run_at(&ok, 1_300_000), &carried(&fifth));
        assert_eq!(
            value(&parse(&sixth), "runs_total", Some(("result", "ok"))),
            2.0
        );
    }

    #[test]
    fn never_succeeded_is_zero_and_unknown_token_is_absent() {
        let fail = Report::new(Outcome::Fail, "down");
        let text = render(&run_at(&fail, 5), &Carried::default());
        let s = parse(&text);
        assert_eq!(value(&s, "last_success_timestamp_seconds", None), 0.0);
        assert!(!text.contains("token_expire_timestamp_seconds"));
    }

    #[test]
    fn label_values_are_escaped() {
        let ok = Report::new(Outcome::Ok, "renewed");
        let mut run = run_at(&ok, 5);
        run.user = "we\"ird\\name\n";
        let text = render(&run, &Carried::default());
        let s = parse(&text);
        assert!(
            s.samples
                .iter()
                .all(|x| x.labels.get("user") == Some("we\"ird\\name\n")
                    || x.labels.get("user") == Some("we\\\"ird\\\\name\\n")),
            "{text}"
        );
        assert_eq!(
            text.lines().filter(|l| l.contains("_heals_total{")).count(),
            1
        );
    }

    #[test]
    fn a_garbled_previous_file_restarts_the_counters() {
        assert_eq!(carried("not metrics at all\n{{{ 1 2"), Carried::default());
        assert_eq!(
            carried("vault_token_renew_heals_total{user=\"a\"} NaN\n").heals,
            0.0
        );
    }

    #[test]
    fn record_writes_atomically_and_world_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("textfile/vault-token-renew.prom");
        let ok = Report::new(Outcome::Healed, "x").with_token(100, Some(100));
        record(&path, &run_at(&ok, 10)).unwrap();
        record(&path, &run_at(&ok, 20)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let s = parse(&text);
        assert_eq!(value(&s, "heals_total", None), 2.0);
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temp file left: {leftovers:?}");
    }
}
